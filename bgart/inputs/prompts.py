"""Production style presets: ``prompts/<name>.toml``, one preset a file.

The art director keeps the production's look in these files: a ``base`` style and
per-location presets that extend it. A preset file holds these fields, all optional::

    extends = "base"              # another preset's name (file stem)
    description = "..."
    positive = "..."              # appended to the parent's, comma-joined
    negative = "..."              # appended to the parent's, comma-joined
    steps = 30                    # integer 1..150
    guidance = 7.0                # classifier-free guidance, 0..30
    controlnet_scale = 1.0        # how strongly the layout steers, 0..2
    strength = 0.6                # img2img: how far from the input image, 0 < s <= 1
    loras = { bg-style = 0.8 }    # production LoRAs by weights.lock name (or "a:0.8;b:0.5")
    delivery = "1080"             # delivery size: WxH, the short side, or "none" (inputs.delivery)

A child overrides its parent's numbers and description; presets without a parent take the
numbers they don't set from :data:`DEFAULTS`. Errors name the file and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgart.errors import InputError
from bgart.fsutil import MAX_TEXT_BYTES, read_bounded_text
from bgart.inputs.delivery import parse_delivery
from bgart.inputs.loras import LoraSpec, loras_from_table, merge_loras, parse_loras

SUFFIX = ".toml"

DEFAULTS: dict[str, Any] = {
    "positive": "",
    "negative": "",
    "steps": 30,
    "guidance": 7.0,
    "controlnet_scale": 1.0,
    "strength": 0.6,
    "description": "",
    "loras": (),
    "delivery": "",  # none here: the production's (bgart.toml `delivery`)
}
TEXT_FIELDS = ("positive", "negative")
FIELDS = (
    "extends",
    "description",
    *TEXT_FIELDS,
    "steps",
    "guidance",
    "controlnet_scale",
    "strength",
    "loras",
    "delivery",
)


@dataclass(frozen=True)
class Preset:
    """A resolved preset: parents applied, every field set."""

    name: str
    positive: str
    negative: str
    steps: int
    guidance: float
    controlnet_scale: float
    strength: float
    description: str
    source: Path
    loras: tuple[LoraSpec, ...] = ()  # with scale-0 entries: a child's "off" (inputs.loras)
    delivery: str = ""  # the preset's delivery size as written ("": the production's)


def _check_str(path: Path, field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InputError(f"{path}: field '{field}': must be a string")
    return value


def _check_number(
    path: Path, field: str, value: Any, lo: float, hi: float, lo_open: bool = False
) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = value == value and (lo < value if lo_open else lo <= value) and value <= hi
    if not ok:
        bound = f"{lo} < x <= {hi}" if lo_open else f"{lo}..{hi}"
        raise InputError(f"{path}: field '{field}': must be a number {bound}")
    return float(value)


def _validate(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Check one file's fields (types and ranges) and return them normalised."""
    out: dict[str, Any] = {}
    for field, value in data.items():
        if field not in FIELDS:
            raise InputError(f"{path}: unknown field '{field}' (known: {', '.join(FIELDS)})")
        if field in ("extends", "description", *TEXT_FIELDS):
            out[field] = _check_str(path, field, value)
        elif field == "steps":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 150:
                raise InputError(f"{path}: field 'steps': must be an integer 1..150")
            out[field] = value
        elif field == "guidance":
            out[field] = _check_number(path, field, value, 0.0, 30.0)
        elif field == "controlnet_scale":
            out[field] = _check_number(path, field, value, 0.0, 2.0)
        elif field == "strength":
            out[field] = _check_number(path, field, value, 0.0, 1.0, lo_open=True)
        elif field == "loras":
            out[field] = _check_loras(path, value)
        elif field == "delivery":
            out[field] = _check_str(path, field, value)
            parse_delivery(value, f"{path}: field 'delivery'")  # refused here, by name
    if "extends" in out and not out["extends"].strip():
        raise InputError(f"{path}: field 'extends': must name a preset")
    return out


def _check_loras(path: Path, value: Any) -> tuple[LoraSpec, ...]:
    try:
        if isinstance(value, str):
            return parse_loras(value)
        if isinstance(value, dict):
            return loras_from_table(value)
    except InputError as exc:
        raise InputError(f"{path}: field 'loras': {exc}") from None
    raise InputError(f"{path}: field 'loras': a table {{ name = scale }} or \"name:scale;…\"")


def _read(path: Path) -> dict[str, Any]:
    # bounded, regular files only: a preset that is /dev/zero or a FIFO is refused by name
    text = read_bounded_text(path, str(path), MAX_TEXT_BYTES, kind="preset file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    return _validate(path, data)


def join_prompt(*parts: str) -> str:
    """Comma-join prompt fragments, dropping empty ones and stray edge commas."""
    cleaned = (p.strip().strip(",").strip() for p in parts)
    return ", ".join(p for p in cleaned if p)


def _files(prompts_dir: Path) -> dict[str, Path]:
    prompts_dir = Path(prompts_dir)
    if not prompts_dir.is_dir():
        raise InputError(f"{prompts_dir}: no such presets folder")
    # not only regular files: a preset that is a FIFO or a device is named and refused when
    # read (bounded, in _read), not silently missing
    return {p.stem: p for p in sorted(prompts_dir.glob(f"*{SUFFIX}")) if not p.is_dir()}


def _available(files: dict[str, Path]) -> str:
    return ", ".join(sorted(files)) or "none"


def _resolve(name: str, files: dict[str, Path], cache: dict[str, Preset]) -> Preset:
    """Resolve ``name`` and its ancestors, reading only the files on that chain."""
    if name in cache:
        return cache[name]
    chain: list[tuple[str, dict[str, Any]]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None and current not in cache:
        if current in seen:
            cycle = " -> ".join([*seen[seen.index(current) :], current])
            raise InputError(f"{files[seen[-1]]}: field 'extends': cycle {cycle}")
        seen.append(current)
        data = _read(files[current])
        chain.append((current, data))
        parent = data.get("extends")
        if parent is not None and parent not in files:
            raise InputError(
                f"{files[current]}: field 'extends': unknown preset '{parent}' "
                f"(available: {_available(files)})"
            )
        current = parent
    merged: dict[str, Any] = dict(DEFAULTS) if current is None else _as_fields(cache[current])
    for preset_name, data in reversed(chain):
        for field in TEXT_FIELDS:
            merged[field] = join_prompt(merged[field], data.get(field, ""))
        merged["loras"] = merge_loras(merged["loras"], data.get("loras", ()))
        numbers = ("steps", "guidance", "controlnet_scale", "strength")
        for field in (*numbers, "description", "delivery"):
            if field in data:
                merged[field] = data[field]
        cache[preset_name] = Preset(name=preset_name, source=files[preset_name], **merged)
    return cache[name]


def _as_fields(preset: Preset) -> dict[str, Any]:
    return {field: getattr(preset, field) for field in DEFAULTS}


def load_presets(prompts_dir: Path) -> dict[str, Preset]:
    """Every preset in ``prompts_dir``, resolved; any bad file is an error naming it."""
    files = _files(prompts_dir)
    cache: dict[str, Preset] = {}
    for name in files:
        _resolve(name, files, cache)
    return {name: cache[name] for name in files}


def get_preset(prompts_dir: Path, name: str) -> Preset:
    """One preset by name; reads only its file and its ancestors'."""
    files = _files(prompts_dir)
    if name not in files:
        raise InputError(f"unknown preset '{name}' (available: {_available(files)})")
    return _resolve(name, files, {})


def compose(preset: Preset, shot_prompt: str) -> tuple[str, str]:
    """(positive, negative) for a shot: the shot's own words first, then the style.

    Shot words lead because the CLIP text encoder truncates at 77 tokens: a long style
    must never push the cut's own content out of the prompt.
    """
    return join_prompt(shot_prompt, preset.positive), preset.negative
