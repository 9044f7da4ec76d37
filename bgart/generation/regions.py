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
"""

from __future__ import annotations

import contextlib
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
from bgart.images import open_image

MAX_REGIONS = 8
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

    def record(self) -> dict[str, Any]:
        """What the generation record keeps (``extra["regions"]``)."""
        return {
            "map_sha256": self.map_sha256,
            "prompts": [[c, p] for c, p in zip(self.colours, self.prompts, strict=True)],
        }

    def with_prompts(self, prompts: Sequence[str]) -> RegionMap:
        """The same regions with other prompts (the shot's style composed in)."""
        return RegionMap(self.colours, tuple(prompts), self.masks, self.map_sha256)


def build_regions(
    data: bytes, name: str, prompts: Sequence[tuple[str, str]], width: int, height: int
) -> RegionMap:
    """The regions of a ``width`` x ``height`` plate from a colour map file (``data``, named
    ``name`` in messages) and ``(colour, prompt)`` pairs. The map is scaled to the plate
    (nearest neighbour: no colour is made up at the edges); every colour given must occur in
    it, and pixels of no listed colour follow the plate's prompt."""
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
    return RegionMap(tuple(colours), tuple(texts), masks, sha)


def from_record(
    extra: Mapping[str, Any], data: bytes | None, width: int, height: int
) -> RegionMap | None:
    """The regions a record was made with (None: it has none), from its ``extra`` and the
    map file's bytes ``data`` (checked against the sha256 it names)."""
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
    return build_regions(data, "regions map", pairs, width, height)


# ---- the attention processor ----------------------------------------------------------------


class _Shared:
    """What every layer's processor shares during one call: the regions' text embeddings and
    their masks, by the token count of the layer (cached per resolution)."""

    def __init__(
        self, embeds: list[torch.Tensor], masks: np.ndarray, latent: tuple[int, int], n: int
    ) -> None:
        self.embeds = embeds  # per region (n, tokens, dim): the prompt's half of the batch
        self.n = n
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
def regional_prompts(pipe: Any, regions: RegionMap | None, n: int) -> Iterator[None]:
    """Within the block, ``pipe``'s UNet cross-attends each region's prompt in its region
    (``n``: images in the call). Nothing changes when ``regions`` is None."""
    if regions is None:
        yield
        return
    height, width = regions.masks.shape[1:]
    factor = int(getattr(pipe, "vae_scale_factor", 8))
    embeds = [_encode(pipe, prompt, n) for prompt in regions.prompts]
    shared = _Shared(embeds, regions.masks, (height // factor, width // factor), n)
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
