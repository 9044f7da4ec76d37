"""A plate version's pixels in memory: decoding blobs, and a small per-project cache.

Decoding is the expensive part of every act and query, so the last few versions stay
decoded (read-only) in ``project.cache``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bgart.errors import InputError, LedgerIntegrityError
from bgart.images import decode_plain_png, open_image, to_mode
from bgart.ledger import PlateVersion, Project
from bgart.provenance import Raster

_CACHE_SIZE = 4

ImageLike = Image.Image | np.ndarray


@dataclass(frozen=True)
class PlateState:
    """A plate version's pixels and raster (arrays are read-only)."""

    number: int
    image: np.ndarray
    raster: Raster
    image_sha: str
    raster_sha: str


# --- encoding helpers ----------------------------------------------------------------------


def decode_user(data: bytes, mode: str, name: str) -> np.ndarray:
    return np.asarray(open_image(data, mode=mode, name=name))


def decode_blob(data: bytes, mode: str, what: str) -> np.ndarray:
    """Decode a blob bgart wrote itself (hash already checked): no user-file niceties."""
    plain = decode_plain_png(data, mode)
    if plain is not None:
        return plain
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return np.asarray(img if img.mode == mode else to_mode(img, mode))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise LedgerIntegrityError(f"{what}: cannot be decoded ({exc})") from None


def as_array(img: ImageLike | bytes, mode: str, name: str) -> np.ndarray:
    if isinstance(img, bytes):
        return decode_user(img, mode, name)
    if isinstance(img, Image.Image):
        return np.asarray(to_mode(img, mode))
    arr = np.asarray(img)
    channels = {"RGB": 3, "RGBA": 4, "L": None}[mode]
    if arr.dtype != np.uint8:
        raise InputError(f"{name}: expected 8-bit pixels, got {arr.dtype}")
    if (channels is None and arr.ndim != 2) or (
        channels is not None and (arr.ndim != 3 or arr.shape[2] != channels)
    ):
        raise InputError(f"{name}: expected {mode} pixels, got an array of shape {arr.shape}")
    return arr


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def load_state(project: Project, pv: PlateVersion) -> PlateState:
    key = ("plate-state", pv.image_sha, pv.raster_sha)
    hit = project.cache.get(key)
    if isinstance(hit, tuple):
        image, raster = hit
    else:
        image = decode_blob(
            project.blobs.get(pv.image_sha), "RGB", f"plate image {pv.image_sha[:12]}"
        )
        try:
            raster = Raster.from_bytes(project.blobs.get(pv.raster_sha))
        except ValueError as exc:
            raise LedgerIntegrityError(f"raster blob {pv.raster_sha}: {exc}") from None
        remember(project, key, (image, raster))
    return PlateState(pv.number, image, raster, pv.image_sha, pv.raster_sha)


def remember(project: Project, key: tuple[str, str, str], value: tuple[np.ndarray, Raster]) -> None:
    image, raster = value
    _readonly(image)
    for arr in (raster.cls, raster.human, raster.flags):
        _readonly(arr)
    # A snapshot of the keys and a tolerant pop: library callers may record from several
    # threads at once (iterating the dict while another thread adds to it raised).
    states = [k for k in list(project.cache) if isinstance(k, tuple) and k[:1] == ("plate-state",)]
    for old in states[: max(0, len(states) - _CACHE_SIZE + 1)]:
        project.cache.pop(old, None)
    project.cache[key] = value
