"""A shot's regional prompts as the art director writes them: a regions file.

A regions file (TOML) names a colour-coded map (a PNG painted in flat colours, one per
region: sky, buildings, foreground…) and the prompt of each colour::

    # regions/c012.toml
    map = "c012_regions.png"      # relative to this file's folder, which it may not leave

    [prompts]
    "#87ceeb" = "clear evening sky, thin cirrus clouds"
    "#804020" = "old wooden shopfronts, warm lit windows"

    [references]                  # optional: a region's own reference image
    "#87ceeb" = "boards/sky_evening.png"   # relative to this file's folder, as the map

Pixels of any colour not listed (black, say) follow the shot's own prompt. At most
:data:`MAX_REGIONS` colours; each must occur in the map. A shot list names the file in its
``regions`` column. Every error names the file and the field or colour, on one line.

``[references]`` gives a region its own reference image (at most :data:`MAX_REFERENCES`;
each colour must be one of ``[prompts]``): the IP-Adapter steers that region only with it,
masked to the region at every cross-attention resolution, and the shot's art board steers
the rest of the plate (:mod:`bgart.generation.regions`). The image's sha256 goes in the
record; the credits name the art director who put the same image on an art board.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bgart.errors import InputError
from bgart.fsutil import MAX_TEXT_BYTES, read_bounded_text
from bgart.images import open_image, read_user_file
from bgart.inputs.request import ImageInput

MAX_REGIONS = 8
MAX_REFERENCES = 4
"""Region references per file: each is one more IP-Adapter attention in the style layers."""
_COLOUR = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class RegionsInput:
    """Regional prompts as given: the map file and ``(colour, prompt)`` pairs, colours as
    ``#rrggbb`` in the file's order; ``source`` names the regions file in messages."""

    map: ImageInput
    prompts: tuple[tuple[str, str], ...]
    source: str
    references: tuple[tuple[str, ImageInput], ...] = ()  # (colour, image): a region's own


def load_regions(path: Path | str, label: str | None = None) -> RegionsInput:
    """Read and check a regions file (see the module docstring); an InputError naming the
    file (``label``: how to name it, default its path) and what is wrong."""
    path = Path(path)
    name = label or str(path)
    text = read_bounded_text(path, name, MAX_TEXT_BYTES, kind="regions file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{name}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"map", "prompts", "references"})
    if unknown:
        raise InputError(f"{name}: unknown field '{unknown[0]}' (known: map, prompts, references)")
    rel = data.get("map")
    if not isinstance(rel, str) or not rel.strip():
        raise InputError(f"{name}: field 'map': the colour map's path (a PNG beside the file)")
    folder = path.parent.resolve()
    full = _inside(folder, rel, f"{name}: field 'map'")
    table = data.get("prompts")
    if not isinstance(table, dict) or not table:
        raise InputError(f'{name}: field \'prompts\': a table of "#rrggbb" = "prompt"')
    if len(table) > MAX_REGIONS:
        raise InputError(f"{name}: field 'prompts': {len(table)} colours, at most {MAX_REGIONS}")
    pairs: list[tuple[str, str]] = []
    for key, prompt in table.items():
        match = _COLOUR.match(key.strip())
        if match is None:
            raise InputError(f"{name}: colour '{key}': not a colour (write it as \"#rrggbb\")")
        colour = "#" + match.group(1).lower()
        if any(colour == c for c, _ in pairs):
            raise InputError(f"{name}: colour {colour} is given twice")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(f"{name}: colour {colour}: the prompt must be text, not empty")
        pairs.append((colour, prompt.strip()))
    map_name = f"{name}: map '{rel}'"
    raw = read_user_file(full, map_name)
    rgb = np.asarray(open_image(raw, mode="RGB", name=map_name), np.uint8)
    present = set(
        np.unique(
            (rgb[..., 0].astype(np.uint32) << 16)
            | (rgb[..., 1].astype(np.uint32) << 8)
            | rgb[..., 2]
        ).tolist()
    )
    for colour, prompt in pairs:
        if int(colour[1:], 16) not in present:
            raise InputError(f"{name}: colour {colour} ({prompt!r}) does not occur in map '{rel}'")
    refs = _references(data.get("references"), name, folder, [c for c, _ in pairs])
    return RegionsInput(ImageInput(raw, map_name), tuple(pairs), name, refs)


def _inside(folder: Path, rel: str, where: str) -> Path:
    """``rel`` resolved in ``folder``, which it may not leave (an InputError naming ``where``)."""
    full = (folder / rel.strip().replace("\\", "/")).resolve()
    if rel.strip().startswith("/") or not full.is_relative_to(folder):
        raise InputError(f"{where}: '{rel}' must stay in the file's folder ({folder})")
    return full


def _references(
    table: object, name: str, folder: Path, colours: list[str]
) -> tuple[tuple[str, ImageInput], ...]:
    """The ``[references]`` table: each region's own reference image, read and decoded."""
    if table is None:
        return ()
    if not isinstance(table, dict) or not table:
        raise InputError(f'{name}: field \'references\': a table of "#rrggbb" = "image path"')
    if len(table) > MAX_REFERENCES:
        raise InputError(
            f"{name}: field 'references': {len(table)} region references, at most {MAX_REFERENCES}"
        )
    out: list[tuple[str, ImageInput]] = []
    for key, rel in table.items():
        match = _COLOUR.match(key.strip())
        if match is None:
            raise InputError(f"{name}: references: colour '{key}': not a colour (\"#rrggbb\")")
        colour = "#" + match.group(1).lower()
        where = f"{name}: references: colour {colour}"
        if colour not in colours:
            raise InputError(f"{where}: not one of the colours in [prompts]")
        if any(colour == c for c, _ in out):
            raise InputError(f"{where}: is given twice")
        if not isinstance(rel, str) or not rel.strip():
            raise InputError(f"{where}: the reference image's path (text, not empty)")
        label = f"{where}: reference '{rel}'"
        raw = read_user_file(_inside(folder, rel, where), label)
        open_image(raw, mode="RGB", name=label)  # an image, or refused here, by name
        out.append((colour, ImageInput(raw, label)))
    return tuple(out)
