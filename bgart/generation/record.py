"""GenerationRecord: everything needed to regenerate an image exactly, and its PNG form.

The record is embedded in every generated PNG as an iTXt chunk ``bgart`` (canonical JSON)
plus an A1111-style ``parameters`` line that other tools understand.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from bgart.canonical import canonical_json
from bgart.errors import InputError

RECORD_KEY = "bgart"
RECORD_VERSION = 1
KNOWN_RECORD_VERSIONS = (1,)

# A record read from a PNG is input: bounded before anything is allocated for it.
MAX_SEEDS = 16  # bgart.inputs.shots.MAX_VARIATIONS: no bgart run batches more seeds
MAX_DEPTH = 8  # the deepest a record bgart writes nests is 3 (extra -> levers -> value)
MAX_RECORD_CHARS = 1_000_000


@dataclass(frozen=True)
class GenerationRecord:
    """One generated image's full recipe.

    ``seeds`` are the seeds of the whole batched call and ``batch_index`` picks this image:
    batching changes floating-point rounding, so exact regeneration replays the same batch.
    """

    mode: str  # "layout" | "photo" | "inpaint"
    model: str
    architecture: str  # "sd15" | "sdxl"
    model_files: dict[str, str]  # relative path -> sha256, base model and controlnet
    controlnet: str | None
    prompt: str
    negative: str
    preset: str | None
    scheduler: str
    steps: int
    guidance: float
    controlnet_scale: float
    strength: float | None
    width: int
    height: int
    seeds: tuple[int, ...]
    batch_index: int
    device: str
    dtype: str
    seconds: float = 0.0  # measured wall time per image; not part of the recipe
    layout_sha256: str | None = None
    photo_sha256: str | None = None
    init_sha256: str | None = None  # inpaint: the image inpainted
    mask_sha256: str | None = None
    bgart_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The machine (GPU model, driver, CUDA, torch, diffusers versions): in the ledger's
    # record, not in the PNG's recipe, so the same recipe gives the same bytes on any
    # machine whose kernels agree (docs/gpu.md). Levers that change pixels are in ``extra``.
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.seeds[self.batch_index]

    def recipe(self) -> GenerationRecord:
        """The record without run measurements: what the PNG embeds, so that the same
        recipe always gives the same bytes (timings go to the ledger instead)."""
        return dataclasses.replace(self, seconds=0.0, environment={})

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seeds"] = list(self.seeds)
        if not self.environment:  # records written before it existed keep their bytes
            del data["environment"]
        data["record_version"] = RECORD_VERSION
        return data

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        if not isinstance(data, dict):
            raise InputError("generation record: not a JSON object")
        data = dict(data)
        version = data.pop("record_version", None)
        if version is not None and (
            isinstance(version, bool) or version not in KNOWN_RECORD_VERSIONS
        ):
            raise InputError(
                f"generation record: record_version {version!r} is not one this bgart reads "
                f"({', '.join(map(str, KNOWN_RECORD_VERSIONS))}); a newer bgart wrote it?"
            )
        seeds = data.get("seeds")
        if not isinstance(seeds, list | tuple) or not 1 <= len(seeds) <= MAX_SEEDS:
            count = len(seeds) if isinstance(seeds, list | tuple) else type(seeds).__name__
            raise InputError(
                f"generation record: field 'seeds' has {count} seeds, expected 1..{MAX_SEEDS}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"generation record: unknown field(s) {sorted(unknown)}")
        try:
            data["seeds"] = tuple(int(s) for s in data["seeds"])
            record = cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"generation record: {exc}") from None
        record._check()
        return record

    def _check(self) -> None:
        """Refuse a record whose numbers no bgart run could have written (it is input too)."""
        limits = {
            "width": (8, 16384),
            "height": (8, 16384),
            "steps": (1, 1000),
            "batch_index": (0, len(self.seeds) - 1),
        }
        for name, (lo, hi) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InputError(
                    f"generation record: field '{name}' is {value!r}, "
                    f"expected a whole number {lo}..{hi}"
                )
        for name in ("guidance", "controlnet_scale", "seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(
                    f"generation record: field '{name}' is {value!r}, expected a number"
                )
        for name in ("mode", "model", "prompt", "negative", "scheduler"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"generation record: field '{name}' must be text")
        env = self.environment
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise InputError("generation record: field 'environment' must map text to text")

    @classmethod
    def from_json(cls, text: str) -> GenerationRecord:
        if len(text) > MAX_RECORD_CHARS:
            raise InputError(
                f"generation record: {len(text)} characters, over the limit of {MAX_RECORD_CHARS}"
            )
        depth = _nesting(text)
        if depth > MAX_DEPTH:
            raise InputError(
                f"generation record: nested {depth} levels deep, at most {MAX_DEPTH} allowed"
            )
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InputError(f"generation record: not JSON ({exc})") from None

    def a1111_parameters(self) -> str:
        """The ``parameters`` text other Stable Diffusion tools read."""
        parts = [
            f"Steps: {self.steps}",
            f"Sampler: {self.scheduler}",
            f"CFG scale: {self.guidance}",
            f"Seed: {self.seed}",
            f"Size: {self.width}x{self.height}",
            f"Model: {self.model}",
        ]
        if self.controlnet:
            parts.append(f"ControlNet: {self.controlnet} (weight {self.controlnet_scale})")
        if self.strength is not None:
            parts.append(f"Denoising strength: {self.strength}")
        return f"{self.prompt}\nNegative prompt: {self.negative}\n" + ", ".join(parts)


def _nesting(text: str) -> int:
    """How deep the JSON in ``text`` nests, counted without parsing it (a record nested
    100,000 levels deep would exhaust the parser's recursion before any check ran)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def png_bytes(image: Image.Image, record: GenerationRecord | None = None) -> bytes:
    """Encode ``image`` as PNG, deterministic for the same pixels and record."""
    info = PngImagePlugin.PngInfo()
    if record is not None:
        info.add_itxt(RECORD_KEY, record.recipe().to_json())
        info.add_text("parameters", record.a1111_parameters())
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, compress_level=6)
    return buf.getvalue()


def read_record(path: Path) -> GenerationRecord:
    """The record embedded in a PNG written by bgart."""
    import warnings

    from bgart.images import read_user_file

    data = read_user_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                chunks = getattr(img, "text", None)  # PNG text chunks (PngImageFile only)
                text = chunks.get(RECORD_KEY) if isinstance(chunks, dict) else None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError(f"{path}: refused as a decompression bomb") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None
    if not text:
        raise InputError(f"{path}: carries no bgart generation record")
    try:
        return GenerationRecord.from_json(text)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
