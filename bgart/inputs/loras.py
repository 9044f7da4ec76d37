"""LoRAs named by presets and shot lists: ``name:scale`` pairs.

A shot list's ``lora`` column and a preset's ``loras`` field name production LoRAs (their
weights.lock names) with a scale each::

    lora = "bg-style:0.8;brushwork:0.5"      # a shot list cell; a bare name is scale 1.0
    loras = { bg-style = 0.8 }               # a preset (the same text form works too)

A child preset keeps its parent's LoRAs and changes them by name; a scale of 0 takes a
LoRA off. A shot's LoRAs change its preset's the same way (:func:`merge_loras`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bgart.errors import InputError

MAX_LORAS = 8  # bgart.generation.lora.MAX_LORAS: per render
SCALE_MAX = 2.0  # bgart.generation.lora.SCALE_MAX
# weights.lock names: TOML bare keys (letters, digits, '-', '_') and dots
LORA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA by its weights.lock name, at ``scale`` (0: off)."""

    name: str
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not LORA_NAME.match(self.name):
            raise InputError(
                f"LoRA name {self.name!r}: letters, digits, '-', '_', '.' (its weights.lock name)"
            )
        scale = self.scale
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not math.isfinite(scale)
            or not -SCALE_MAX <= scale <= SCALE_MAX
        ):
            raise InputError(
                f"LoRA '{self.name}': scale {scale!r} is not a number -{SCALE_MAX}..{SCALE_MAX}"
            )
        object.__setattr__(self, "scale", float(scale))


def parse_loras(text: str) -> tuple[LoraSpec, ...]:
    """``"a:0.8;b:0.5"`` (``;`` or ``,`` between; a bare name is 1.0) as LoRA specs; an
    InputError (without a location: the caller adds it) for anything else."""
    specs: list[LoraSpec] = []
    for part in re.split(r"[;,]", text or ""):
        part = part.strip()
        if not part:
            continue
        name, sep, scale_text = part.partition(":")
        name = name.strip()
        scale = 1.0
        if sep:
            try:
                scale = float(scale_text.strip())
            except ValueError:
                raise InputError(
                    f"LoRA '{name}': scale '{scale_text.strip()}' is not a number (write name:0.8)"
                ) from None
        specs.append(LoraSpec(name, scale))
    return check_specs(specs)


def loras_from_table(table: dict[str, object]) -> tuple[LoraSpec, ...]:
    """A preset's ``loras = { name = scale }`` as LoRA specs."""
    specs = []
    for name, scale in table.items():
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise InputError(f"LoRA '{name}': scale {scale!r} is not a number")
        specs.append(LoraSpec(name, float(scale)))
    return check_specs(specs)


def check_specs(specs: list[LoraSpec] | tuple[LoraSpec, ...]) -> tuple[LoraSpec, ...]:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise InputError(f"LoRA '{spec.name}' is named twice")
        seen.add(spec.name)
    if len([s for s in specs if s.scale]) > MAX_LORAS:
        raise InputError(f"{len(specs)} LoRAs: at most {MAX_LORAS} per render")
    return tuple(specs)


def merge_loras(base: tuple[LoraSpec, ...], override: tuple[LoraSpec, ...]) -> tuple[LoraSpec, ...]:
    """``base`` changed by ``override``: a name in both takes the override's scale (in
    base's place), a new name is added after; scale-0 entries are dropped from the result
    only at the end (:func:`active_loras`), so a child can take a parent's LoRA off."""
    by_name = {s.name: s for s in override}
    out = [by_name.pop(s.name, s) for s in base]
    out += [s for s in override if s.name in by_name]
    return tuple(out)


def active_loras(specs: tuple[LoraSpec, ...]) -> tuple[LoraSpec, ...]:
    """The LoRAs a render loads: those with a non-zero scale."""
    return check_specs([s for s in specs if s.scale])


def format_loras(specs: tuple[LoraSpec, ...]) -> str:
    """The text form, as a shot list writes it."""
    return ";".join(f"{s.name}:{s.scale:g}" for s in specs)
