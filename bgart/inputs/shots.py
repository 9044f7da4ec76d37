"""Shot lists (CSV or YAML): parsing and validation, before any model is loaded.

A shot list names the cuts of an episode, one row (CSV) or mapping (YAML) per shot::

    shot,layout,prompt,preset,width,height,variations,seed,photo,layout_artist,notes
    EP01_C001,layouts/street.png,"shopping street at dusk",street,768,512,4,,,Sato,

``shot``, ``layout``, ``prompt`` and ``layout_artist`` (credited in the ledger) are
required. Paths are relative to the list's own
folder and may not leave it (the list and its layouts travel together to the render
nodes). Blank ``width``/``height`` take the layout's aspect at the project's plate size;
blank ``variations`` take the project default (4); a blank ``seed`` is derived from the
production name and the shot id (:func:`derive_seed`), so a re-run renders the same plates.
An optional ``lora`` column names production LoRAs with scales (``bg-style:0.8;rain:0.5``,
:mod:`bgart.inputs.loras`); they change the preset's LoRAs by name (0 takes one off).
An optional ``location`` column names the cut's location: its art board (references) and
its seed policy (bgart.toml ``[artboard] seed_policy``; "shared" derives one seed per
location instead of per shot); the contact sheet groups by it (docs/art-direction.md).
An optional ``regions`` column names a regions file (a colour map and each colour's prompt,
:mod:`bgart.inputs.regions`), relative to the list's folder.

The YAML form is a list of such mappings, or a mapping with ``shots:`` (the list) and an
optional ``defaults:`` mapping applied to every shot.

Validation reads the whole list and reports every problem at once, each on one line
naming ``file:line`` and the field; a list with any problem renders nothing
(:class:`ShotListError`).
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bgart.errors import InputError
from bgart.images import open_image, read_user_file
from bgart.inputs.delivery import resolve_delivery
from bgart.inputs.layout import check_plate_size, plate_size_for
from bgart.inputs.loras import LoraSpec, active_loras, format_loras, merge_loras, parse_loras
from bgart.inputs.prompts import Preset, get_preset
from bgart.inputs.regions import RegionsInput, load_regions
from bgart.settings import Settings

REQUIRED = ("shot", "layout", "prompt", "layout_artist")
FIELDS = (
    "shot",
    "layout",
    "prompt",
    "preset",
    "width",
    "height",
    "variations",
    "seed",
    "photo",
    "layout_artist",
    "notes",
    "lora",
    "location",
    "regions",
    "delivery",
)
MAX_VARIATIONS = 16
MAX_SEED = 2**32 - 1
MAX_SHOT_LIST_BYTES = 16 * 1024 * 1024  # an episode is a few hundred lines
# Shot ids become folder names on every render node: no separators, no dot-dot, no spaces.
SHOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
YAML_SUFFIXES = (".yaml", ".yml")
SHOT_ID_RULE = "letters, digits, '_', '-', '.'; at most 64; starting with a letter or digit"


def check_shot_id(value: str, what: str = "shot") -> str:
    """``value`` when it is a usable shot id (:data:`SHOT_ID`: it becomes a folder name on
    every render node, so no separators, no ``..``, no spaces), else an InputError naming
    ``what`` (``--shot``): the rule the shot list and the UI apply, for the command line."""
    text = value.strip() if isinstance(value, str) else ""
    if not SHOT_ID.match(text):
        shown = "".join(c if c.isprintable() else "?" for c in str(value))[:80]
        raise InputError(f"{what} '{shown}': not a usable shot id ({SHOT_ID_RULE}; e.g. EP01_C012)")
    return text


class ShotListError(InputError):
    """A shot list with one or more problems; ``problems`` holds one line per problem."""

    def __init__(self, label: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{label}: {n} problem{'s' if n != 1 else ''}, nothing was rendered"
        super().__init__("\n".join([head, *self.problems]))


@dataclass(frozen=True)
class Shot:
    """One validated shot. Paths are absolute; ``line`` is where it starts in the list."""

    id: str
    layout: Path
    prompt: str
    preset: str
    width: int
    height: int
    variations: int
    seed: int | None  # as written; None: derived from the production name (seeds_for)
    photo: Path | None
    layout_artist: str
    notes: str
    line: int
    loras: tuple[LoraSpec, ...] = ()  # the `lora` column: "name:0.8;other:0.5"
    location: str = ""  # the `location` column: its art board and seed policy
    shared_seed: bool = False  # the location's seed policy is "shared": one seed per location
    regions: RegionsInput | None = None  # the `regions` column's file (bgart.inputs.regions)
    delivery: tuple[int, int] | None = None  # the `delivery` column (bgart.inputs.delivery)

    def lora_text(self, preset: Preset) -> str:
        """The LoRAs this shot renders with (its own changing its preset's), as a shot list
        writes them; '' for none."""
        return format_loras(active_loras(merge_loras(preset.loras, self.loras)))

    def first_seed(self, production: str) -> int:
        key = f"location:{self.location}" if self.shared_seed and self.location else self.id
        return self.seed if self.seed is not None else derive_seed(production, key)

    def seeds(self, production: str) -> list[int]:
        """The seed of each variation: first seed + i."""
        first = self.first_seed(production)
        return [first + i for i in range(self.variations)]


@dataclass(frozen=True)
class ShotList:
    source: Path
    label: str  # how the list is named in messages (the path as given)
    shots: tuple[Shot, ...]
    presets: dict[str, Preset]

    @property
    def folder(self) -> Path:
        return self.source.parent

    def select(self, patterns: Iterable[str] | None) -> list[Shot]:
        """Shots whose id matches any glob in ``patterns`` (all when none), in list order."""
        pats = [p for p in (patterns or []) if p]
        if not pats:
            return list(self.shots)
        unmatched = [p for p in pats if not any(fnmatch.fnmatchcase(s.id, p) for s in self.shots)]
        if unmatched:
            raise InputError(f"--only {unmatched[0]}: matches no shot in {self.label}")
        return [s for s in self.shots if any(fnmatch.fnmatchcase(s.id, p) for p in pats)]


def derive_seed(production: str, shot_id: str) -> int:
    """A stable 32-bit seed from production + shot: the first 4 bytes of their sha256."""
    digest = hashlib.sha256(f"{production}\x00{shot_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


# ---- raw rows ---------------------------------------------------------------------------
@dataclass
class _Row:
    line: int
    values: dict[str, tuple[str, int]]  # field -> (text, line)


class _Problems:
    def __init__(self, label: str) -> None:
        self.label = label
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, what: str, message: str) -> None:
        message = re.sub(r"\s*\n\s*", " ", message)  # one line per problem (YAML errors)
        text = "".join(  # and no control characters echoed from the list's cells
            f"\\x{ord(ch):02x}" if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
            for ch in f"{what}: {message}"
        )
        self.items.append((line, f"{self.label}:{line}: {text}"))

    def field(self, line: int, name: str, message: str) -> None:
        self.add(line, f"field '{name}'", message)

    def sorted(self) -> list[str]:
        return [text for _line, text in sorted(self.items, key=lambda t: t[0])]


def _decode(data: bytes, problems: _Problems) -> str:
    """UTF-8 text; every line that is not UTF-8 is reported (and decoded with U+FFFD)."""
    if data.startswith(b"\xef\xbb\xbf"):  # Excel's "CSV UTF-8" writes a BOM
        data = data[3:]
    if b"\x00" in data:  # not text (UTF-16, a binary file); PostgreSQL refuses NUL in text
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if b"\x00" in raw:
                problems.add(
                    number,
                    "encoding",
                    f"NUL byte at column {raw.index(0) + 1}; save the list as UTF-8 text",
                )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(
                number,
                "encoding",
                f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "save the list as UTF-8 (Excel: 'CSV UTF-8')",
            )
    return data.decode("utf-8", errors="replace")


def _delimiter(text: str) -> str:
    """The separator, from the header line: the first line that is not blank (nor only
    separators, as Excel writes empty rows) and not a ``#`` comment. Spreadsheets in some
    locales write ';' or tabs; a comment above the header may hold any of them."""
    for line in re.split(r"\r\n|\r|\n", text):
        if not line.strip(" \t,;") or line.lstrip().startswith("#"):
            continue
        if "," in line:
            return ","
        return "\t" if "\t" in line else ";" if ";" in line else ","
    return ","


def _csv_rows(text: str, problems: _Problems) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    header: list[str] | None = None
    rows: list[_Row] = []
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not record or all(not c.strip() for c in record):
                continue
            # A comment, unless a data row's first cell may start with '#' (a prompt first).
            if record[0].lstrip().startswith("#") and (header is None or header[0] == "shot"):
                continue
            if header is None:
                header = _header(record, line, problems)
                continue
            values: dict[str, tuple[str, int]] = {}
            if len(record) > len(header):
                extra = record[len(header) :]
                if any(c.strip() for c in extra):
                    problems.add(
                        line,
                        "row",
                        f"{len(record)} cells, the header has "
                        f"{len(header)} columns (an unquoted comma?)",
                    )
            for name, cell in zip(header, record, strict=False):
                if name:
                    values[name] = (cell, line)
            rows.append(_Row(line, values))
    except csv.Error as exc:
        # Reported where the bad row starts: an unclosed quote only fails at the end of
        # the file, which says nothing about where to look.
        why = f"not valid CSV ({exc})"
        if "end of data" in str(exc):
            why = (
                "not valid CSV: a quote opened on this row is never closed (the file "
                f"ends on line {reader.line_num})"
            )
        elif reader.line_num > start:
            why += f" (the row runs on to line {reader.line_num})"
        problems.add(start, "row", why)
    if header is None:
        return []
    return rows


def _header(record: list[str], line: int, problems: _Problems) -> list[str]:
    names = [c.strip().lower() for c in record]
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if not name:
            out.append("")
            continue
        if name not in FIELDS:
            problems.add(line, f"column '{name}'", f"unknown column (known: {', '.join(FIELDS)})")
            out.append("")
            continue
        if name in seen:
            problems.add(line, f"column '{name}'", "appears twice in the header")
            out.append("")
            continue
        seen.add(name)
        out.append(name)
    for name in REQUIRED:
        if name not in seen:
            problems.add(line, f"column '{name}'", "required column is missing from the header")
    return out


def _yaml_scalar(node: yaml.Node, field: str, problems: _Problems) -> str | None:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode):
        problems.field(line, field, "must be a single value, not a list or mapping")
        return None
    if node.tag == "tag:yaml.org,2002:null":
        return ""
    return str(node.value)


def _yaml_mapping(
    node: yaml.MappingNode, problems: _Problems, what: str
) -> dict[str, tuple[str, int]]:
    values: dict[str, tuple[str, int]] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = str(key_node.value).strip().lower() if isinstance(key_node, yaml.ScalarNode) else ""
        if key not in FIELDS:
            problems.add(
                line, f"field '{key}'", f"unknown field in {what} (known: {', '.join(FIELDS)})"
            )
            continue
        if key in values:
            problems.field(line, key, f"given twice (first on line {values[key][1]})")
            continue
        text = _yaml_scalar(value_node, key, problems)
        if text is not None:
            values[key] = (text, value_node.start_mark.line + 1)
    return values


def _yaml_rows(text: str, problems: _Problems) -> list[_Row]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problems.add(line, "yaml", f"not valid YAML ({getattr(exc, 'problem', None) or exc})")
        return []
    if root is None:
        return []
    defaults: dict[str, tuple[str, int]] = {}
    shots_node: yaml.Node | None = root
    if isinstance(root, yaml.MappingNode):
        shots_node = None
        for key_node, value_node in root.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key == "shots":
                shots_node = value_node
            elif key == "defaults":
                if not isinstance(value_node, yaml.MappingNode):
                    problems.add(line, "defaults", "must be a mapping of field: value")
                else:
                    defaults = _yaml_mapping(value_node, problems, "defaults")
                    if "shot" in defaults:
                        problems.field(defaults["shot"][1], "shot", "cannot have a default")
            else:
                problems.add(
                    line, f"key '{key}'", "unknown top-level key (expected shots, defaults)"
                )
        if shots_node is None:
            return []
    if not isinstance(shots_node, yaml.SequenceNode):
        problems.add(
            shots_node.start_mark.line + 1 if shots_node else 1, "shots", "must be a list of shots"
        )
        return []
    rows: list[_Row] = []
    for item in shots_node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            problems.add(line, "shot", "each shot must be a mapping of field: value")
            continue
        values = dict(defaults)
        values.update(_yaml_mapping(item, problems, "a shot"))
        rows.append(_Row(line, values))
    return rows


# ---- validation -------------------------------------------------------------------------
class _Validator:
    def __init__(self, source: Path, settings: Settings, problems: _Problems) -> None:
        self.folder = source.parent.resolve()
        self.settings = settings
        self.problems = problems
        self.presets: dict[str, Preset] = {}
        self.preset_errors: dict[str, str] = {}
        self.images: dict[Path, tuple[int, int] | str] = {}

    def text(self, row: _Row, name: str) -> tuple[str, int]:
        text, line = row.values.get(name, ("", row.line))
        return text.strip(), line

    def preset(self, name: str, line: int) -> Preset | None:
        if name not in self.presets and name not in self.preset_errors:
            try:
                self.presets[name] = get_preset(self.settings.prompts_dir, name)
            except InputError as exc:
                self.preset_errors[name] = str(exc)
        if name in self.preset_errors:
            self.problems.field(line, "preset", self.preset_errors[name])
            return None
        return self.presets[name]

    def integer(self, row: _Row, name: str, lo: int, hi: int) -> int | None:
        text, line = self.text(row, name)
        if not text:
            return None
        try:
            value = int(text, 10)
        except ValueError:
            self.problems.field(line, name, f"'{text}' is not a whole number")
            return None
        if not lo <= value <= hi:
            self.problems.field(line, name, f"{value} is out of range ({lo}..{hi})")
            return None
        return value

    def path(self, row: _Row, name: str) -> Path | None:
        text, line = self.text(row, name)
        if not text:
            return None
        if "\x00" in text:  # no file name holds one (and os.stat raises ValueError)
            self.problems.field(
                line,
                name,
                f"'{text}' contains a NUL byte (character "
                f"{text.index(chr(0)) + 1}); not a usable file name",
            )
            return None
        rel = text.replace("\\", "/")  # lists written on Windows
        if rel.startswith("/") or re.match(r"^[A-Za-z]:/", rel):
            self.problems.field(
                line, name, f"'{text}' must be a path relative to the list's folder ({self.folder})"
            )
            return None
        full = (self.folder / rel).resolve()
        if not full.is_relative_to(self.folder):
            self.problems.field(
                line,
                name,
                f"'{text}' leaves the list's folder ({self.folder}); keep layouts beside the list",
            )
            return None
        if full not in self.images:
            try:
                with open_image(full, mode=None, name=text) as img:
                    self.images[full] = img.size
            except InputError as exc:
                self.images[full] = str(exc)
        size = self.images[full]
        if isinstance(size, str):
            self.problems.field(line, name, size)
            return None
        return full

    def shot(self, row: _Row) -> Shot | None:
        before = len(self.problems.items)
        shot_id, id_line = self.text(row, "shot")
        if not shot_id:
            self.problems.field(id_line, "shot", "missing shot id")
        elif not SHOT_ID.match(shot_id):
            self.problems.field(
                id_line,
                "shot",
                f"'{shot_id}' is not a usable shot id "
                "(letters, digits, '_', '-', '.'; at most 64; e.g. EP01_C012)",
            )
        layout_text, layout_line = self.text(row, "layout")
        if not layout_text:
            self.problems.field(layout_line, "layout", "missing layout path")
        layout = self.path(row, "layout")
        photo = self.path(row, "photo")
        prompt, prompt_line = self.text(row, "prompt")
        if not prompt:
            self.problems.field(prompt_line, "prompt", "empty prompt")
        preset_name, preset_line = self.text(row, "preset")
        preset = self.preset(preset_name or self.settings.default_preset, preset_line)
        width = self.integer(row, "width", 1, 10**6)
        height = self.integer(row, "height", 1, 10**6)
        w_text, w_line = self.text(row, "width")
        h_text, h_line = self.text(row, "height")
        if bool(w_text) != bool(h_text):
            line, missing = (h_line, "height") if w_text else (w_line, "width")
            self.problems.field(
                line,
                missing,
                "width and height go together (or leave both blank for the layout's aspect)",
            )
        elif width is not None and height is not None:
            try:
                check_plate_size(width, height)
            except InputError as exc:
                bad = "width" if str(exc).startswith("width") else "height"
                self.problems.field(w_line if bad == "width" else h_line, bad, str(exc))
        artist, artist_line = self.text(row, "layout_artist")
        if not artist:
            self.problems.field(
                artist_line,
                "layout_artist",
                "missing: the layout is credited to this person in the ledger and the credits",
            )
        elif len(artist) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in artist):
            self.problems.field(
                artist_line, "layout_artist", "must be one line of at most 200 characters"
            )
        variations = self.integer(row, "variations", 1, MAX_VARIATIONS)
        seed = self.integer(row, "seed", 0, MAX_SEED)
        location = self.location(row)
        regions = self.regions(row)
        lora_text, lora_line = self.text(row, "lora")
        loras: tuple[LoraSpec, ...] = ()
        try:
            loras = parse_loras(lora_text)
        except InputError as exc:
            self.problems.field(lora_line, "lora", str(exc))
        if len(self.problems.items) > before or layout is None or preset is None:
            return None
        if width is None or height is None:
            src = self.images[layout]
            assert not isinstance(src, str)
            width, height = plate_size_for(
                *src, long_side=max(self.settings.width, self.settings.height)
            )
        resolved = self.delivery(row, layout, (width, height), bool(w_text), preset)
        if resolved is None:
            return None
        delivery, (width, height) = resolved
        return Shot(
            id=shot_id,
            layout=layout,
            prompt=prompt,
            preset=preset.name,
            width=width,
            height=height,
            variations=variations or self.settings.variations,
            seed=seed,
            photo=photo,
            layout_artist=artist,
            notes=self.text(row, "notes")[0],
            line=row.line,
            loras=loras,
            location=location,
            shared_seed=bool(location) and self._shared_seed(location),
            regions=regions,
            delivery=delivery,
        )

    def delivery(
        self, row: _Row, layout: Path, base: tuple[int, int], base_given: bool, preset: Preset
    ) -> tuple[tuple[int, int] | None, tuple[int, int]] | None:
        """The `delivery` column (blank: the preset's, else the settings' default),
        checked against the layout, and with it the base pass's size; None: refused
        (reported on its line)."""
        text, line = self.text(row, "delivery")
        src = self.images[layout]
        assert not isinstance(src, str)
        model = (self.settings.width, self.settings.height)
        try:
            wanted = text or preset.delivery or self.settings.delivery
            return resolve_delivery(wanted, src, base, base_given, model, "value")
        except InputError as exc:
            self.problems.field(line, "delivery", str(exc))
            return None

    def regions(self, row: _Row) -> RegionsInput | None:
        """The ``regions`` column: a regions file beside the list (bgart.inputs.regions),
        read and checked now, its problem reported on the row's line."""
        text, line = self.text(row, "regions")
        if not text:
            return None
        rel = text.replace("\\", "/")
        full = (self.folder / rel).resolve()
        if rel.startswith("/") or "\x00" in rel or not full.is_relative_to(self.folder):
            self.problems.field(line, "regions", f"'{text}' must be a path inside {self.folder}")
            return None
        try:
            return load_regions(full, text)
        except InputError as exc:
            self.problems.field(line, "regions", str(exc))
            return None

    def _shared_seed(self, location: str) -> bool:
        policies = self.settings.artboard_seed_policies
        return policies.get(location, self.settings.artboard_seed_policy) == "shared"

    def location(self, row: _Row) -> str:
        """The ``location`` column: a name the art boards use (one line, at most 64)."""
        text, line = self.text(row, "location")
        if len(text) > 64 or any(ord(c) < 32 or ord(c) == 127 or c in "/\\" for c in text):
            self.problems.field(
                line, "location", "must be one line of at most 64 characters, no '/'"
            )
            return ""
        return text


def load_shot_list(path: Path | str, settings: Settings, label: str | None = None) -> ShotList:
    """Read and validate a whole shot list; raise :class:`ShotListError` listing every
    problem (each ``file:line: field 'name': why``) if there is any."""
    source = Path(path)
    label = label or str(path)
    # Not a bare read: a FIFO or /dev/zero named as the list would block or never end.
    data = read_user_file(source, label, MAX_SHOT_LIST_BYTES, kind="shot list", allow_empty=True)
    problems = _Problems(label)
    text = _decode(data, problems)
    is_yaml = source.suffix.lower() in YAML_SUFFIXES
    rows = _yaml_rows(text, problems) if is_yaml else _csv_rows(text, problems)
    if not rows and not problems.items:
        problems.add(1, "shots", "the list is empty (no shots)")
    validator = _Validator(source, settings, problems)
    shots: list[Shot] = []
    first_line: dict[str, int] = {}
    for row in rows:
        shot = validator.shot(row)
        shot_id, id_line = validator.text(row, "shot")
        key = shot_id.casefold()  # EP01_c012 and EP01_C012 share a folder on macOS/Windows
        if shot_id and key in first_line:
            problems.field(
                id_line, "shot", f"duplicate shot id '{shot_id}' (first on line {first_line[key]})"
            )
            continue
        if shot_id:
            first_line[key] = row.line
        if shot is not None:
            shots.append(shot)
    if problems.items:
        raise ShotListError(label, problems.sorted())
    return ShotList(
        source=source.resolve(), label=label, shots=tuple(shots), presets=dict(validator.presets)
    )
