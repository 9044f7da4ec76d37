"""The render request: what one render of a plate is asked to be, typed and validated.

``bgart generate``, ``bgart batch`` and the artists' room each gather their inputs in their
own way (options, a shot list row, a shot in the ledger) and their own words for a problem,
then state what they want rendered as one :class:`RenderRequest`.
:func:`bgart.runs.render.plate_request` turns it, with its resolved preset, into the
engine's request: the same inputs give the same request, hence the same record and the same
bytes, whichever of them asked.

The features to come add their inputs to :class:`RenderRequest`: delivery size, reference
images, LoRA and regions.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bgart.errors import InputError
from bgart.inputs.delivery import check_base_within, check_delivery_size
from bgart.inputs.loras import LoraSpec, check_specs

if TYPE_CHECKING:
    from bgart.inputs.regions import RegionsInput

# The seeds a torch generator takes without folding two onto one image
# (bgart.generation.engine.SEED_MIN / SEED_MAX, which import torch).
MIN_SEED, MAX_SEED = 0, 2**64 - 1
MAX_STEPS = 150  # as a preset's steps


def _refuse(name: str, problem: str, what: str = "render request") -> InputError:
    return InputError(f"{what}: field '{name}': {problem}")


def _whole(name: str, value: object, lo: int, hi: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < lo
        or (hi is not None and value > hi)
    ):
        bound = f"{lo}.." if hi is None else f"{lo}..{hi}"
        raise _refuse(name, f"{value!r} is not a whole number {bound}")


def _number(name: str, value: object, lo: float, hi: float, lo_open: bool = False) -> None:
    ok = False
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        ok = math.isfinite(number) and (lo < number if lo_open else lo <= number) and number <= hi
    if not ok:
        bound = f"{lo} < x <= {hi}" if lo_open else f"{lo}..{hi}"
        raise _refuse(name, f"{value!r} is not a number {bound}")


def _text(name: str, value: object, *, blank: bool, what: str = "render request") -> None:
    if not isinstance(value, str):
        raise _refuse(name, f"{value!r} is not text", what)
    if not blank and not value.strip():
        raise _refuse(name, "empty", what)


@dataclass(frozen=True)
class ImageInput:
    """An input image as it was given: its file's bytes, how messages name it, and its
    sha256 (what the generation record names it by)."""

    data: bytes = field(repr=False)
    name: str
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        _text("name", self.name, blank=False, what="image input")
        if not isinstance(self.data, bytes):
            kind = type(self.data).__name__
            raise _refuse("data", f"{self.name}: the file's bytes, not {kind}", "image input")
        object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())


def consecutive_seeds(first: int, variations: int) -> tuple[int, ...]:
    """The seeds of ``variations`` variations from ``first``: first, first + 1, …"""
    return tuple(first + i for i in range(variations))


@dataclass(frozen=True)
class RenderRequest:
    """One render: a layout (and optional photo) → one plate per seed, in a preset's style.

    ``prompt`` is the shot's own words and ``negative`` any words to avoid besides the
    preset's: the preset's style is added when the engine's request is built. ``preset`` is
    the style by name (None: the production's default). ``width`` x ``height`` is the base
    plate size, the size rendered. ``steps``, ``guidance``, ``strength``,
    ``controlnet_scale``: None takes the preset's; ``scheduler``: None takes the engine's
    default. A field out of range is refused naming the field
    (``render request: field 'steps': …``); callers check their users' input first, in
    their own words.

    The next features add their inputs here: the delivery size (a plate rendered at the base
    size, delivered larger), reference images, LoRA weights and prompt regions.
    """

    prompt: str
    layout: ImageInput
    width: int
    height: int
    seeds: tuple[int, ...]
    preset: str | None = None
    negative: str = ""
    photo: ImageInput | None = None
    steps: int | None = None
    guidance: float | None = None
    strength: float | None = None
    controlnet_scale: float | None = None
    scheduler: str | None = None
    # production LoRAs (bgart.inputs.loras): the shot's, changing the preset's by name
    loras: tuple[LoraSpec, ...] = ()
    # art-board references: (board, image), board "location:<name>" or "preset:<name>";
    # reference_scale: a number, "style", "style+layout" or a block table (None: "style")
    references: tuple[tuple[str, ImageInput], ...] = ()
    reference_scale: float | str | dict[str, object] | None = None
    # the size delivered (bgart.inputs.delivery): width x height is then the base pass
    delivery: tuple[int, int] | None = None
    # regional prompts (bgart.inputs.regions): a colour map and each colour's prompt
    regions: RegionsInput | None = None

    def __post_init__(self) -> None:
        _text("prompt", self.prompt, blank=False)
        _text("negative", self.negative, blank=True)
        if self.preset is not None:
            _text("preset", self.preset, blank=False)
        if not isinstance(self.layout, ImageInput):
            raise _refuse("layout", "the layout image (ImageInput) is required")
        if self.photo is not None and not isinstance(self.photo, ImageInput):
            raise _refuse("photo", "an ImageInput, or None")
        # the sizes the models take (multiples of 8, 64..4096) are the engine's rule
        _whole("width", self.width, 1)
        _whole("height", self.height, 1)
        if isinstance(self.seeds, str | bytes) or not isinstance(self.seeds, Sequence):
            raise _refuse("seeds", f"{self.seeds!r} is not a list of seeds")
        object.__setattr__(self, "seeds", tuple(self.seeds))
        if not self.seeds:
            raise _refuse("seeds", "no seed: one per variation")
        for seed in self.seeds:
            _whole("seeds", seed, MIN_SEED, MAX_SEED)
        if self.steps is not None:
            _whole("steps", self.steps, 1, MAX_STEPS)
        if self.guidance is not None:
            _number("guidance", self.guidance, 0.0, 30.0)
        if self.strength is not None:
            _number("strength", self.strength, 0.0, 1.0, lo_open=True)
        if self.controlnet_scale is not None:
            _number("controlnet_scale", self.controlnet_scale, 0.0, 2.0)
        if self.scheduler is not None:
            _text("scheduler", self.scheduler, blank=False)
        if not all(isinstance(s, LoraSpec) for s in self.loras):
            raise _refuse("loras", f"{self.loras!r} is not a list of LoraSpec")
        try:
            object.__setattr__(self, "loras", check_specs(tuple(self.loras)))
        except InputError as exc:
            raise _refuse("loras", str(exc)) from None
        object.__setattr__(self, "references", tuple(self.references))
        for item in self.references:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], ImageInput)):
                raise _refuse("references", f"{item!r} is not a (board, ImageInput) pair")
            _text("references", item[0], blank=False)
        if self.delivery is not None:
            try:
                w, h = self.delivery
                check_delivery_size(w, h, "size")
                check_base_within((w, h), (self.width, self.height), "size")
            except (InputError, TypeError, ValueError) as exc:
                raise _refuse("delivery", str(exc)) from None
        from bgart.inputs.regions import RegionsInput  # (it imports this module)

        if self.regions is not None and not isinstance(self.regions, RegionsInput):
            raise _refuse("regions", f"{self.regions!r} is not a RegionsInput, or None")

    @property
    def variations(self) -> int:
        """How many plates: one per seed."""
        return len(self.seeds)
