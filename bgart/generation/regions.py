"""Regional prompts: parts of a plate (sky, buildings, foreground…), each with its own prompt.

A shot's regions come as a colour-coded map (a PNG, one flat colour per region) and the
prompt of each colour. They work through attention masking, for SD1.5 and SDXL alike: for
the denoising call, every cross-attention layer of the UNet (``attn2``: where the image
looks at the text) gets a :class:`RegionalAttention` processor around the processor it had
(``unet.set_attn_processor``; the ones before are put back after the call). It computes the
layer's attention once with the plate's prompt and once with each region's text embeddings,
and mixes them with the region's mask brought to that layer's resolution (area-averaged,
so edges blend over a latent pixel)::

    out = base + Σ_r mask_r · (out_r − base)

so inside a region the image follows the region's prompt, outside every region the plate's
prompt. The unconditional half of a classifier-free-guidance batch keeps its own (negative)
embeddings. Self-attention, the ControlNet and the pooled SDXL text embedding are left as
they are. Everything is deterministic: the same map and prompts give the same bytes.

The record keeps ``extra["regions"]``: the map's sha256 (of the file's bytes) and each
colour's prompt as the engine used it; :func:`from_record` rebuilds the regions from the
record and the map file, so ``regenerate`` is byte-identical.

**A region's own reference.** A region may carry a reference image (IP-Adapter,
:mod:`bgart.generation.adapters`): it steers that region only. Its CLIP embedding is one
more image of the adapter's call (after the art board's images); in the attention layers
where the adapter acts (its InstantStyle scale is not 0) the processor computes, once per
layer and call, the query, the text attention of the plate's prompt and of each region's,
and the image attention of each *group* of images::

    out = to_out(text + s · [ (1 − Σ_r' m_r') · IP(board) + Σ_r' m_r' · IP(ref_r') ])

where ``text = base + Σ_r m_r (text_r − base)`` as above, ``r'`` runs over the regions that
have a reference and ``m`` is the same area-averaged mask as the text's. So a region's
reference replaces the art board inside that region and the board steers everywhere else
(a plate without a board gets no image attention outside those regions); the board's images
are attended together, as diffusers does without masks. This is diffusers' IP-Adapter
masking (``IPAdapterAttnProcessor2_0`` with ``ip_adapter_masks``: one attention per masked
image, added times its mask and the layer's scale, to both halves of a guided batch alike;
the unconditional half's image embeddings are zeros) with two differences: the mask is the
regional prompts' area average (diffusers' bicubic resize overshoots at edges and guesses
the layer's height from its token count, which fails on odd latent sizes), and the text and
image parts are computed once each (wrapping diffusers' processor would attend the images
once per region prompt). Where the adapter's scale is 0, and in renders without region
references, the layer runs as before, so earlier records keep their bytes. The record adds
``extra["regions"]["references"]`` (``[colour, sha256]`` per region reference) and
``extra["regions"]["ip_adapter"]`` (adapter, files, resolved scale), only when used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bgart.errors import InputError
from bgart.generation.adapters import Reference, Scale, check_scale
from bgart.images import open_image

MAX_REGIONS = 8
MAX_REFERENCES = 4  # region references (bgart.inputs.regions says why)
_COLOUR = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_colour(text: object, where: str) -> str:
    """``#rrggbb`` (lower case) from ``#RRGGBB`` or ``rrggbb``; an InputError naming
    ``where`` otherwise."""
    match = _COLOUR.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InputError(f"{where}: colour {text!r}: not a colour (write it as #rrggbb)")
    return "#" + match.group(1).lower()


@dataclass(frozen=True)
class RegionMap:
    """Regions of one plate: ``colours[i]`` painted in the map is the region of
    ``prompts[i]``; ``masks`` (regions, height, width) at the plate's size."""

    colours: tuple[str, ...]
    prompts: tuple[str, ...]
    masks: np.ndarray = field(repr=False)
    map_sha256: str
    # a region's own reference image, per colour (None: the region has none; () none at all)
    references: tuple[Reference | None, ...] = ()
    reference_scale: Scale = "style"  # without an art board (with one, the board's scale)
    reference_files: Mapping[str, str] | None = None  # a record's adapter files (a replay)

    def record(self) -> dict[str, Any]:
        """What the generation record keeps (``extra["regions"]``; the references' adapter
        is added by :func:`bgart.generation.adapters.region_extra`)."""
        out: dict[str, Any] = {
            "map_sha256": self.map_sha256,
            "prompts": [[c, p] for c, p in zip(self.colours, self.prompts, strict=True)],
        }
        if self.has_references:  # only when used: earlier records keep their bytes
            out["references"] = [[c, r.sha256] for c, r in self.referenced()]
        return out

    @property
    def has_references(self) -> bool:
        return any(r is not None for r in self.references)

    def referenced(self) -> list[tuple[str, Reference]]:
        """``(colour, reference)`` of each region that has its own reference, in map order."""
        return [(c, r) for c, r in zip(self.colours, self.references, strict=False) if r]

    def with_prompts(self, prompts: Sequence[str]) -> RegionMap:
        """The same regions with other prompts (the shot's style composed in)."""
        return dataclasses.replace(self, prompts=tuple(prompts))


def build_regions(
    data: bytes,
    name: str,
    prompts: Sequence[tuple[str, str]],
    width: int,
    height: int,
    references: Mapping[str, Reference] | None = None,
    reference_scale: Scale = "style",
) -> RegionMap:
    """The regions of a ``width`` x ``height`` plate from a colour map file (``data``, named
    ``name`` in messages) and ``(colour, prompt)`` pairs. The map is scaled to the plate
    (nearest neighbour: no colour is made up at the edges); every colour given must occur in
    it, and pixels of no listed colour follow the plate's prompt. ``references``: a
    region's own reference image by colour (each colour one of ``prompts``)."""
    if not prompts:
        raise InputError(f"{name}: no region prompts (colour → prompt) given")
    if len(prompts) > MAX_REGIONS:
        raise InputError(f"{name}: {len(prompts)} regions, at most {MAX_REGIONS}")
    colours: list[str] = []
    texts: list[str] = []
    for colour, prompt in prompts:
        hexa = parse_colour(colour, name)
        if hexa in colours:
            raise InputError(f"{name}: colour {hexa} is given twice")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(f"{name}: colour {hexa}: empty prompt")
        colours.append(hexa)
        texts.append(prompt.strip())
    img = open_image(data, mode="RGB", name=name)
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.NEAREST)
    rgb = np.asarray(img, np.uint8)
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8)
    packed |= rgb[..., 2]
    masks = np.stack([packed == int(c[1:], 16) for c in colours])
    for colour, prompt, mask in zip(colours, texts, masks, strict=True):
        if not mask.any():
            raise InputError(
                f"{name}: colour {colour} ({prompt!r}) does not occur in the map "
                f"(scaled to {width}x{height})"
            )
    sha = hashlib.sha256(data).hexdigest()
    refs: tuple[Reference | None, ...] = ()
    if references:
        given = {parse_colour(c, name): r for c, r in references.items()}
        stray = sorted(set(given) - set(colours))
        if stray:
            raise InputError(f"{name}: references: colour {stray[0]} has no prompt")
        if len(given) > MAX_REFERENCES:
            raise InputError(f"{name}: {len(given)} region references, at most {MAX_REFERENCES}")
        refs = tuple(given.get(c) for c in colours)
        check_scale(reference_scale, f"{name}: reference scale")
    return RegionMap(tuple(colours), tuple(texts), masks, sha, refs, reference_scale)


def from_record(
    extra: Mapping[str, Any],
    data: bytes | None,
    width: int,
    height: int,
    images: Mapping[str, Image.Image] | None = None,
) -> RegionMap | None:
    """The regions a record was made with (None: it has none), from its ``extra`` and the
    map file's bytes ``data`` (checked against the sha256 it names); ``images``: its region
    references by sha256 (each one it names must be there)."""
    entry = extra.get("regions")
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("prompts"), list):
        raise InputError("generation record: extra 'regions' is not a regions entry")
    if data is None:
        raise InputError("regenerating this record needs its regions map (the colour PNG)")
    sha = hashlib.sha256(data).hexdigest()
    if sha != entry.get("map_sha256"):
        raise InputError("the regions map given is not the one the record was made with")
    pairs = []
    for item in entry["prompts"]:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            raise InputError("generation record: extra 'regions': each entry is [colour, prompt]")
        pairs.append((item[0], item[1]))
    named = region_reference_shas(extra)
    missing = [sha for _c, sha in named if not images or sha not in images]
    if missing:
        raise InputError(
            f"regenerating this record needs its region reference(s) {', '.join(missing)} "
            "(give --project: the project that keeps them)"
        )
    refs = {c: Reference(images[sha], sha, f"region:{c}") for c, sha in named} if images else {}
    adapter = entry.get("ip_adapter") if named else None
    if named and not (isinstance(adapter, dict) and isinstance(adapter.get("files"), dict)):
        raise InputError("generation record: extra 'regions': references without 'ip_adapter'")
    regions = build_regions(data, "regions map", pairs, width, height, refs)
    if adapter is None:
        return regions
    scale = adapter.get("scale", "style")
    check_scale(scale, "generation record: extra 'regions': 'ip_adapter' scale")
    return dataclasses.replace(regions, reference_scale=scale, reference_files=adapter["files"])


def region_reference_shas(extra: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(colour, sha256)`` of each region reference a record names ([] for none), checked."""
    entry = extra.get("regions")
    named = entry.get("references") if isinstance(entry, dict) else None
    if named is None:
        return []
    if not isinstance(named, list) or not named:
        raise InputError("generation record: extra 'regions': 'references' names no image")
    out = []
    for item in named:
        ok = isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        sha = item[1] if ok else ""
        if not ok or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise InputError(f"generation record: extra 'regions': bad reference {item!r}")
        out.append((item[0], sha))
    return out


# ---- the attention processor ----------------------------------------------------------------


class _Shared:
    """What every layer's processor shares during one call: the regions' text embeddings and
    their masks, by the token count of the layer (cached per resolution)."""

    def __init__(
        self,
        embeds: list[torch.Tensor],
        masks: np.ndarray,
        latent: tuple[int, int],
        n: int,
        referenced: Sequence[int] = (),
        boards: int = 0,
    ) -> None:
        self.embeds = embeds  # per region (n, tokens, dim): the prompt's half of the batch
        self.n = n
        self.referenced = tuple(referenced)  # regions with their own reference, in order
        self.boards = boards  # the art board's images: the adapter's first ones
        self.masks = torch.from_numpy(masks.astype(np.float32))[:, None]  # (R, 1, H, W)
        self.sizes: list[tuple[int, int]] = []
        h, w = latent
        for _ in range(8):  # each UNet level halves the latent, rounding up
            self.sizes.append((h, w))
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        self._cache: dict[tuple[int, torch.device, torch.dtype], torch.Tensor | None] = {}

    def mask(self, tokens: int, like: torch.Tensor) -> torch.Tensor | None:
        """(R, tokens, 1) region weights at the resolution with ``tokens`` pixels."""
        key = (tokens, like.device, like.dtype)
        if key not in self._cache:
            size = next((s for s in self.sizes if s[0] * s[1] == tokens), None)
            if size is None:
                self._cache[key] = None
            else:
                small = F.adaptive_avg_pool2d(self.masks, size)  # area average: soft edges
                self._cache[key] = small.reshape(len(self.embeds), tokens, 1).to(like)
        return self._cache[key]


class RegionalAttention:
    """A cross-attention processor that masks each region's text to its region (see the
    module docstring); ``inner`` is the layer's own processor, which does the attention."""

    def __init__(self, inner: Any, shared: _Shared) -> None:
        self.inner = inner
        self.shared = shared

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: Any = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        if self._one_pass(attn, hidden_states, encoder_hidden_states):
            text, ip_states = encoder_hidden_states
            mask = self.shared.mask(hidden_states.shape[1], hidden_states)
            assert mask is not None  # (checked by _one_pass)
            return self._with_references(attn, hidden_states, text, ip_states, mask, attention_mask)
        referenced = self.shared.referenced and isinstance(encoder_hidden_states, tuple)
        if referenced and _ip_scale(self.inner):  # never silently unmasked: refused instead
            raise InputError("region references: a layer of this model cannot be masked")
        base = self.inner(
            attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs
        )
        if encoder_hidden_states is None or hidden_states.ndim != 3:
            return base
        text, rest = (
            (encoder_hidden_states[0], tuple(encoder_hidden_states[1:]))
            if isinstance(encoder_hidden_states, tuple)  # IP-Adapter: (text, image embeds)
            else (encoder_hidden_states, None)
        )
        batch, tokens = hidden_states.shape[:2]
        n = self.shared.n
        mask = self.shared.mask(tokens, base)
        if mask is None or batch not in (n, 2 * n):
            return base
        out = base
        for r, embeds in enumerate(self.shared.embeds):
            cond = embeds.to(text)
            region = cond if batch == n else torch.cat([text[:n], cond])  # CFG: [uncond, cond]
            states = region if rest is None else (region, *rest)
            got = self.inner(attn, hidden_states, states, attention_mask, temb, *args, **kwargs)
            out = out + mask[r] * (got - base)
        return out

    def _one_pass(self, attn: Any, hidden_states: torch.Tensor, states: Any) -> bool:
        """Whether this call attends region references (:meth:`_with_references`): the
        render has some, and the layer is an IP-Adapter one whose scale is not 0."""
        if not (self.shared.referenced and isinstance(states, tuple) and len(states) == 2):
            return False
        if hidden_states.ndim != 3 or getattr(attn, "spatial_norm", None) is not None:
            return False
        batch, tokens = hidden_states.shape[:2]
        if batch not in (self.shared.n, 2 * self.shared.n):
            return False
        return self.shared.mask(tokens, hidden_states) is not None and bool(_ip_scale(self.inner))

    def _with_references(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        text: torch.Tensor,
        ip_states: list[torch.Tensor],
        mask: torch.Tensor,
        attention_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """The layer in one pass: the text's attention per region and each image group's,
        masked (module docstring). Adapted from diffusers'
        ``IPAdapterAttnProcessor2_0.__call__`` (its 3-D, SDPA path; UNet cross-attention)."""
        residual = hidden_states
        batch = hidden_states.shape[0]
        n = self.shared.n
        if attention_mask is not None:
            prepared: torch.Tensor = attn.prepare_attention_mask(
                attention_mask, text.shape[1], batch
            )
            attention_mask = prepared.view(batch, attn.heads, -1, prepared.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        heads = attn.heads
        head_dim = query.shape[-1] // heads
        query = query.view(batch, -1, heads, head_dim).transpose(1, 2)

        def attend(k: torch.Tensor, v: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
            k = k.reshape(batch, -1, heads, head_dim).transpose(1, 2)
            v = v.reshape(batch, -1, heads, head_dim).transpose(1, 2)
            got = F.scaled_dot_product_attention(query, k, v, attn_mask=m, dropout_p=0.0)
            return got.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)

        def words(states: torch.Tensor) -> torch.Tensor:
            if attn.norm_cross:
                states = attn.norm_encoder_hidden_states(states)
            return attend(attn.to_k(states), attn.to_v(states), attention_mask)

        base = words(text)
        out = base
        for r, embeds in enumerate(self.shared.embeds):
            cond = embeds.to(text)
            region = cond if batch == n else torch.cat([text[:n], cond])  # CFG: [uncond, cond]
            out = out + mask[r] * (words(region) - base)
        scale = _ip_scale(self.inner)
        images = ip_states[0]  # (batch, images, tokens, dim): the board's, then the regions'
        to_k, to_v = self.inner.to_k_ip[0], self.inner.to_v_ip[0]
        covered = sum((mask[r] for r in self.shared.referenced), torch.zeros_like(mask[0]))
        groups = [(images[:, : self.shared.boards], 1 - covered)] if self.shared.boards else []
        for i, r in enumerate(self.shared.referenced):
            at = self.shared.boards + i
            groups.append((images[:, at : at + 1], mask[r]))
        for states, weight in groups:  # both halves of a guided batch alike, as diffusers
            out = out + scale * weight * attend(to_k(states), to_v(states), None)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def _ip_scale(processor: Any) -> float:
    """The IP-Adapter scale of a layer's processor (0.0: not an IP-Adapter processor, or one
    InstantStyle switched off in this layer: then the images are not attended there)."""
    scale = getattr(processor, "scale", None)
    if not hasattr(processor, "to_k_ip") or not isinstance(scale, list) or len(scale) != 1:
        return 0.0
    value = scale[0]
    if isinstance(value, list):  # a scale per image: bgart sets one per layer
        raise InputError("IP-Adapter: a scale per image is not supported with region references")
    return float(value)


def _encode(pipe: Any, prompt: str, n: int) -> torch.Tensor:
    """A region prompt's text embeddings, as the pipeline encodes its own prompt."""
    with torch.inference_mode():
        embeds = pipe.encode_prompt(
            prompt=prompt,
            device=getattr(pipe, "_execution_device", None) or pipe.unet.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=False,
        )[0]
    return embeds.repeat(n, 1, 1)


@contextlib.contextmanager
def regional_prompts(pipe: Any, req: Any, n: int) -> Iterator[None]:
    """Within the block, ``pipe``'s UNet cross-attends each region's prompt in its region
    (``req.regions``; ``n``: images in the call) and each region's reference in it (after
    the art board's images, ``req.references``, in the adapter's images). Nothing changes
    when the request has no regions."""
    regions: RegionMap | None = getattr(req, "regions", None)
    if regions is None:
        yield
        return
    refs = getattr(req, "references", None)
    boards = len(refs.images) if refs else 0
    height, width = regions.masks.shape[1:]
    factor = int(getattr(pipe, "vae_scale_factor", 8))
    embeds = [_encode(pipe, prompt, n) for prompt in regions.prompts]
    referenced = [i for i, r in enumerate(regions.references) if r is not None]
    latent = (height // factor, width // factor)
    shared = _Shared(embeds, regions.masks, latent, n, referenced, boards)
    unet = pipe.unet
    before = dict(unet.attn_processors)
    unet.set_attn_processor(
        {
            name: RegionalAttention(proc, shared) if name.endswith("attn2.processor") else proc
            for name, proc in before.items()
        }
    )
    try:
        yield
    finally:
        unet.set_attn_processor(before)
