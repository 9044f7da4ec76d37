"""Art-board references through IP-Adapter, and the image embeddings the drift score uses.

An art board (美術ボード) is a set of reference images the art director fixes per location
and per preset. At render time they steer the plate through an IP-Adapter (diffusers'
``load_ip_adapter``) with per-block scales as InstantStyle sets them: only the attention
layers that carry style (and optionally layout) see the references, so the board gives the
colours and brushwork without copying its content.

The adapter and its CLIP image encoder are pinned in weights.lock (kind ``ip_adapter``,
named by the pipeline's ``ip_adapter`` field), loaded the first time a request carries
references, and switched on only for such requests: a request without references runs the
UNet's original attention processors, so plates made without an art board keep their bytes.
The record says which images (sha256 of each file's bytes), which adapter files and which
resolved scales were used (``extra["references"]``), so ``bgart regenerate`` runs it again
byte for byte.

The embeddings are computed here (not by the pipeline): the same encoder, on the same
images, gives the drift score (:func:`cosine_distance`) its embedding space.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from PIL import Image

from bgart.errors import InputError, WeightsError
from bgart.generation.weights import WeightsLock, _expected, _read_pin, ensure_ready

KEY = "references"
"""The key of a generation record's ``extra`` that holds the references."""
SCALE_MODES = ("style", "style+layout")
HEX = frozenset("0123456789abcdef")
Scale = float | str | dict[str, Any]


@dataclass(frozen=True)
class Reference:
    """One art-board image: decoded, with the sha256 of its file's bytes and its board
    (``location:<name>`` or ``preset:<name>``)."""

    image: Image.Image = field(repr=False)
    sha256: str
    board: str


@dataclass(frozen=True)
class References:
    """The art-board images of a request and how strongly they steer it. ``scale``: a
    number (every attention layer), ``"style"`` / ``"style+layout"`` (InstantStyle's
    blocks, found in the model's UNet: :func:`resolve_scale`), or diffusers' dict form.
    ``files``: the adapter files a record was made with (a replay checks them)."""

    images: tuple[Reference, ...]
    scale: Scale = "style"
    files: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.images:
            raise InputError("references: no image (leave references out instead)")
        check_scale(self.scale)


def check_scale(scale: object, where: str = "references: field 'scale'") -> None:
    """A scale bgart can resolve: a finite number 0..2, a mode name, or a dict of blocks."""
    if isinstance(scale, bool):
        raise InputError(f"{where}: {scale!r} is not a scale")
    if isinstance(scale, int | float):
        if not (math.isfinite(scale) and 0.0 <= scale <= 2.0):
            raise InputError(f"{where}: {scale!r} is not a number 0..2")
        return
    if isinstance(scale, str):
        if scale not in SCALE_MODES:
            raise InputError(f"{where}: '{scale}' is not one of {', '.join(SCALE_MODES)}")
        return
    if not isinstance(scale, dict) or not set(scale) <= {"down", "mid", "up"}:
        raise InputError(
            f"{where}: {scale!r} is not a number, {' or '.join(SCALE_MODES)}, "
            "or a table of down/mid/up blocks"
        )


def resolve_scale(scale: Scale, unet: Any) -> float | dict[str, Any]:
    """The scale diffusers' ``set_ip_adapter_scale`` takes, for this UNet.

    ``"style"`` is InstantStyle's style-only setting generalised to any UNet: the middle
    attention layer of the first (lowest-resolution) cross-attention up block, every other
    layer 0. On SDXL that is InstantStyle's ``{"up": {"block_0": [0.0, 1.0, 0.0]}}``.
    ``"style+layout"`` adds the last attention layer of the last cross-attention down block
    (SDXL: ``{"down": {"block_2": [0.0, 1.0]}}``)."""
    check_scale(scale)
    if not isinstance(scale, str):
        return float(scale) if isinstance(scale, int | float) else scale
    ups = [i for i, b in enumerate(unet.up_blocks) if getattr(b, "attentions", None)]
    downs = [i for i, b in enumerate(unet.down_blocks) if getattr(b, "attentions", None)]
    if not ups or not downs:
        raise WeightsError("this model's UNet has no cross-attention blocks for IP-Adapter")
    n_up = len(unet.up_blocks[ups[0]].attentions)
    style = [0.0] * n_up
    style[n_up // 2] = 1.0
    out: dict[str, Any] = {"up": {f"block_{ups[0]}": style}}
    if scale == "style+layout":
        n_down = len(unet.down_blocks[downs[-1]].attentions)
        out["down"] = {f"block_{downs[-1]}": [0.0] * (n_down - 1) + [1.0]}
    return out


def adapter_layout(entry: Any) -> tuple[str, str, str]:
    """(subfolder, weight file name, image-encoder folder) of an ``ip_adapter`` lock entry,
    laid out as diffusers' ``load_ip_adapter`` reads it: one safetensors file of adapter
    weights, and the image encoder's ``config.json`` + weights in a folder of its own
    (h94/IP-Adapter: ``models/ip-adapter_sd15.safetensors``, ``models/image_encoder/``)."""
    paths = [PurePosixPath(f.path) for f in entry.files]
    configs = [p.parent for p in paths if p.name == "config.json"]
    weights = [p for p in paths if p.suffix == ".safetensors" and p.parent not in configs]
    if len(configs) != 1 or len(weights) != 1:
        raise WeightsError(
            f"model '{entry.name}': an ip_adapter pins one adapter .safetensors file and one "
            "image-encoder folder (config.json + model.safetensors)"
        )
    sub = weights[0].parent.as_posix()
    return ("" if sub == "." else sub), weights[0].name, configs[0].as_posix()


@dataclass
class _Loaded:
    """An engine's adapter: its processors and projection, and the UNet's own, to switch."""

    name: str
    files: dict[str, str]
    encoder: Any
    processor: Any
    own: tuple[dict[str, Any], Any, Any]  # attention processors, encoder_hid_proj, its type
    adapter: tuple[dict[str, Any], Any]


_LOADED: weakref.WeakKeyDictionary[Any, _Loaded] = weakref.WeakKeyDictionary()


def _load(engine: Any) -> _Loaded:
    """Load the engine model's IP-Adapter into its pipeline (once), then switch it off."""
    if engine in _LOADED:
        return _LOADED[engine]
    lock = WeightsLock.load(engine.settings.weights_lock)
    entry = lock.get(engine.model)
    if not entry.ip_adapter:
        raise WeightsError(
            f"model '{engine.model}' names no ip_adapter in {lock.path}: art-board "
            "references need one (docs/art-direction.md)"
        )
    adapter = lock.get(entry.ip_adapter)
    folder = ensure_ready(lock, engine.settings.model_store, adapter.name)
    sub, weight, encoder_dir = adapter_layout(adapter)
    pipe = engine._base
    unet = pipe.unet
    own = (dict(unet.attn_processors), unet.encoder_hid_proj, unet.config.encoder_hid_dim_type)
    try:
        pipe.load_ip_adapter(
            str(folder),
            subfolder=sub,
            weight_name=weight,
            image_encoder_folder=encoder_dir if "/" in encoder_dir else encoder_dir + "/",
            local_files_only=True,
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise WeightsError(
            f"IP-Adapter '{adapter.name}' in {folder} did not load: {str(exc).splitlines()[0]}"
        ) from None
    loaded = _Loaded(
        name=adapter.name,
        files={
            f"{adapter.name}/{rel}": sha
            for rel, (_size, sha) in _expected(adapter, _read_pin(Path(folder))).items()
            if rel.endswith(".safetensors")
        },
        encoder=pipe.image_encoder,
        processor=pipe.feature_extractor,
        own=own,
        adapter=(dict(unet.attn_processors), unet.encoder_hid_proj),
    )
    _switch(unet, loaded, on=False)
    if engine.low_memory:  # the offload hooks are set again, over the image encoder too
        engine._place(pipe)
    _LOADED[engine] = loaded
    return loaded


def _switch(unet: Any, loaded: _Loaded, *, on: bool) -> None:
    if on:
        procs, hid = loaded.adapter
        kind = "ip_image_proj"
    else:
        procs, hid, kind = loaded.own
    unet.set_attn_processor(dict(procs))
    unet.encoder_hid_proj = hid
    unet.config.encoder_hid_dim_type = kind


def embed(encoder: Any, processor: Any, images: Sequence[Image.Image]) -> torch.Tensor:
    """CLIP image embeddings (one row per image) as the IP-Adapter takes them."""
    pixels = processor([im.convert("RGB") for im in images], return_tensors="pt").pixel_values
    param = next(encoder.parameters())
    with torch.inference_mode():
        return encoder(pixels.to(device=param.device, dtype=param.dtype)).image_embeds


def adapter_embed(engine: Any, images: Sequence[Image.Image]) -> torch.Tensor:
    """Embeddings by the engine's own adapter encoder (loaded on first use)."""
    loaded = _load(engine)
    return embed(loaded.encoder, loaded.processor, images)


@contextlib.contextmanager
def applied(engine: Any, pipe: Any, req: Any, kwargs: dict[str, Any]) -> Iterator[None]:
    """For the call inside: the request's references as ``ip_adapter_image_embeds`` in
    ``kwargs`` and the adapter switched on at their scale. Without references, nothing."""
    refs: References | None = getattr(req, "references", None)
    regional = _regional(req)  # a region's own references: after the board's images
    if not refs and not regional:
        yield
        return
    loaded = _load(engine)
    files = refs.files if refs else req.regions.reference_files  # a replay's: checked
    if files is not None and dict(files) != loaded.files:
        raise WeightsError(
            f"the record was made with other IP-Adapter files than '{loaded.name}' has here"
        )
    boards = [r.image for r in refs.images] if refs else []
    emb = embed(loaded.encoder, loaded.processor, boards + [r.image for _c, r in regional])
    prompts = kwargs.get("prompt")
    n = len(prompts) if isinstance(prompts, list) else 1
    pos = emb[None].expand(n, -1, -1)  # every plate of the batch, all board images
    guided = float(kwargs.get("guidance_scale", 0.0)) > 1.0
    kwargs["ip_adapter_image_embeds"] = [torch.cat([torch.zeros_like(pos), pos]) if guided else pos]
    unet = pipe.unet
    _switch(unet, loaded, on=True)
    try:
        try:
            pipe.set_ip_adapter_scale(resolve_scale(_scale(req), unet))
        except ValueError as exc:
            raise InputError(f"references: field 'scale': {exc}") from None
        yield
    finally:
        _switch(unet, loaded, on=False)


def _regional(req: Any) -> list[tuple[str, Reference]]:
    """``(colour, reference)`` of the request's regions that have their own reference."""
    regions = getattr(req, "regions", None)
    return regions.referenced() if regions is not None else []


def _scale(req: Any) -> Scale:
    """The adapter's scale for a request: its art board's, else its regions' references'."""
    refs: References | None = getattr(req, "references", None)
    return refs.scale if refs else req.regions.reference_scale


def region_extra(engine: Any, req: Any) -> dict[str, Any]:
    """What ``extra["regions"]`` adds for region references: the adapter, its files and
    the resolved scale (``{}`` without region references: earlier records keep their bytes).
    The references themselves are named by :meth:`bgart.generation.regions.RegionMap.record`."""
    if not _regional(req):
        return {}
    loaded = _load(engine)
    scale = resolve_scale(_scale(req), engine._base.unet)
    return {"ip_adapter": {"adapter": loaded.name, "files": dict(loaded.files), "scale": scale}}


def record_extra(engine: Any, req: Any) -> dict[str, Any]:
    """``{"references": …}`` for a request with references (else ``{}``: records without
    them keep the bytes they always had)."""
    refs: References | None = getattr(req, "references", None)
    if not refs:
        return {}
    loaded = _load(engine)
    return {
        KEY: {
            "adapter": loaded.name,
            "files": dict(loaded.files),
            "images": [{"sha256": r.sha256, "board": r.board} for r in refs.images],
            "scale": resolve_scale(refs.scale, engine._base.unet),
        }
    }


def recorded_images(extra: Mapping[str, Any]) -> list[dict[str, str]]:
    """The references a record names (``[{"sha256", "board"}]``; [] for none), checked."""
    refs = extra.get(KEY)
    if refs is None:
        return []
    images = refs.get("images") if isinstance(refs, dict) else None
    if not isinstance(images, list) or not images:
        raise InputError("generation record: extra 'references' names no images")
    out = []
    for item in images:
        sha = item.get("sha256") if isinstance(item, dict) else None
        board = item.get("board", "") if isinstance(item, dict) else ""
        hexa = isinstance(sha, str) and len(sha) == 64 and all(c in HEX for c in sha)
        if not hexa or not isinstance(board, str):
            raise InputError(f"generation record: extra 'references': bad image entry {item!r}")
        out.append({"sha256": sha, "board": board})
    return out


def from_record(
    extra: Mapping[str, Any], images: Mapping[str, Image.Image] | None
) -> References | None:
    """The references of a recorded render, with their images (by sha256) given back:
    each must be there (a replay with another image would not be the record's)."""
    named = recorded_images(extra)
    if not named:
        return None
    refs = extra[KEY]
    missing = [n["sha256"] for n in named if not images or n["sha256"] not in images]
    if missing:
        raise InputError(
            f"regenerating this record needs its art-board reference(s) {', '.join(missing)} "
            "(give --project: the project whose art boards hold them)"
        )
    assert images is not None
    files = refs.get("files")
    return References(
        images=tuple(Reference(images[n["sha256"]], n["sha256"], n["board"]) for n in named),
        scale=refs.get("scale", "style"),
        files=files if isinstance(files, dict) else None,
    )


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """1 − cosine similarity of two embeddings (0: same direction; 2: opposite)."""
    a, b = a.float().flatten(), b.float().flatten()
    cos = torch.nn.functional.cosine_similarity(a, b, dim=0).item()
    return round(1.0 - cos, 4)


class ImageEmbedder:
    """The adapter's CLIP image encoder alone (no UNet): drift scores outside a render
    (the contact sheet, ``bgart ledger show``, the review screen). Loaded from the same
    verified folder as the engine's adapter, so the two embedding spaces are one."""

    def __init__(self, settings: Any, model: str | None = None) -> None:
        from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

        lock = WeightsLock.load(settings.weights_lock)
        entry = lock.get(model or settings.model)
        if not entry.ip_adapter:
            raise WeightsError(
                f"model '{entry.name}' names no ip_adapter in {lock.path}: the drift score "
                "uses the adapter's image encoder"
            )
        adapter = lock.get(entry.ip_adapter)
        folder = Path(ensure_ready(lock, settings.model_store, adapter.name))
        _sub, _weight, encoder_dir = adapter_layout(adapter)
        self.name = adapter.name
        self.encoder = CLIPVisionModelWithProjection.from_pretrained(
            folder / encoder_dir, local_files_only=True, use_safetensors=True
        ).eval()
        size = self.encoder.config.image_size
        self.processor = CLIPImageProcessor(size=size, crop_size=size)  # as diffusers makes it
        self._cache: dict[str, torch.Tensor] = {}

    def embed(self, key: str, image: Image.Image) -> torch.Tensor:
        """The embedding of ``image`` (``key``: its sha256, to embed each image once)."""
        if key not in self._cache:
            self._cache[key] = embed(self.encoder, self.processor, [image])[0]
        return self._cache[key]

    def board(self, images: Mapping[str, Image.Image]) -> torch.Tensor:
        """A board's embedding: the mean of its images' unit embeddings."""
        rows = [self.embed(k, im) for k, im in sorted(images.items())]
        unit = [r.float() / r.float().norm().clamp_min(1e-12) for r in rows]
        return torch.stack(unit).mean(0)
