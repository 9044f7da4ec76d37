"""A region's own reference (bgart.generation.regions): its IP-Adapter images attend only
inside its region, in the same attention pass as the regional prompts.

The mechanism is tested on a toy attention layer, where it can be exact: the masked
processor gives what diffusers' ``IPAdapterAttnProcessor2_0`` gives with ``ip_adapter_masks``
(both halves of a guided batch alike), and a reference's image changes the layer's output
inside its region only. Then end to end on the tiny SD1.5 and SDXL models: the plate renders,
the region changes with its reference while pixels far from it stay nearly the same, the
record holds the hash, and regenerate is byte-identical."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
from helpers.adapters import adapter_engine
from PIL import Image, ImageDraw

from bgart.errors import InputError

SKY, TOWN = "#87ceeb", "#804020"


# ---- the mechanism, on a toy layer ----------------------------------------------------------


def _toy(seed: int = 0) -> tuple[Any, Any]:
    """A cross-attention layer (query dim 8, text dim 6, 2 heads) and its IP processor."""
    from diffusers.models.attention_processor import Attention, IPAdapterAttnProcessor2_0

    torch.manual_seed(seed)
    attn = Attention(query_dim=8, cross_attention_dim=6, heads=2, dim_head=4).eval()
    proc = IPAdapterAttnProcessor2_0(hidden_size=8, cross_attention_dim=6, scale=0.7).eval()
    for lin in (*proc.to_k_ip, *proc.to_v_ip):
        torch.nn.init.normal_(lin.weight)
    return attn, proc


def _wrapper(proc: Any, text_cond: torch.Tensor, mask: np.ndarray, boards: int = 0) -> Any:
    """The regional processor around ``proc``: one region (``mask``, 4x4) with its own
    reference and, as its prompt, ``text_cond`` (one image: n = 1)."""
    from bgart.generation.regions import RegionalAttention, _Shared

    shared = _Shared([text_cond], mask[None], (4, 4), 1, referenced=[0], boards=boards)
    return RegionalAttention(proc, shared)


MASK = np.zeros((4, 4), bool)
MASK[:2, :3] = True  # the region: the top two rows, three columns of a 4x4 latent


def test_the_masked_reference_is_diffusers_ip_adapter_masking() -> None:
    """With the region's prompt equal to the plate's, the layer is diffusers' processor with
    the region's mask on its one image (to 1e-6: the same sums in another order), over a
    guided batch [uncond, cond] (the mask applies to both halves, as diffusers does)."""
    attn, proc = _toy()
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 16, 8, generator=g)
    text = torch.randn(2, 5, 6, generator=g)
    ip = [torch.randn(2, 1, 4, 6, generator=g)]  # (batch, images, tokens, dim)
    with torch.no_grad():
        ours = _wrapper(proc, text[1:], MASK)(attn, hidden, (text, ip))
        mask = torch.from_numpy(MASK.astype(np.float32))[None, None]  # (1, images, h, w)
        theirs = proc(attn, hidden, (text, ip), ip_adapter_masks=[mask])
        unmasked = proc(attn, hidden, (text, ip))
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert not torch.allclose(ours, unmasked, atol=1e-3)  # the mask does something


def test_one_pass_is_the_regional_prompts_plus_the_masked_images() -> None:
    """With a region prompt of its own, the one pass gives what the two mechanisms give
    apart: the regional prompts' wrapper (its layer with the adapter off) plus the masked
    image attention diffusers adds (its output with the mask minus its output without
    images; to_out is linear, so the parts add)."""
    attn, proc = _toy()
    g = torch.Generator().manual_seed(4)
    hidden = torch.randn(2, 16, 8, generator=g)
    text = torch.randn(2, 5, 6, generator=g)
    ip = [torch.randn(2, 1, 4, 6, generator=g)]
    wrap = _wrapper(proc, torch.randn(1, 5, 6, generator=g), MASK)
    mask = torch.from_numpy(MASK.astype(np.float32))[None, None]
    with torch.no_grad():
        ours = wrap(attn, hidden, (text, ip))
        images = proc(attn, hidden, (text, ip), ip_adapter_masks=[mask])
        proc.scale = [0.0]
        words = wrap(attn, hidden, (text, ip))  # the wrapper's own path: no image attended
        no_images = proc(attn, hidden, (text, ip))
    assert torch.allclose(ours, words + (images - no_images), atol=1e-5)
    assert not torch.allclose(ours, words, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_reference_changes_the_layer_inside_its_region_only(dtype: torch.dtype) -> None:
    """Its image changes the output where the mask is 1 and leaves it bit-identical where it
    is 0; the art board's image (the first of the adapter's images) does the opposite. In
    bfloat16 too (the GPU's dtype): a 0 mask is exactly 0 there as well."""
    attn, proc = _toy()
    attn, proc = attn.to(dtype), proc.to(dtype)
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(2, 16, 8, generator=g).to(dtype)
    text = torch.randn(2, 5, 6, generator=g).to(dtype)
    region_text = torch.randn(1, 5, 6, generator=g).to(dtype)
    board, ref_a, ref_b = (torch.randn(2, 1, 4, 6, generator=g).to(dtype) for _ in range(3))
    wrap = _wrapper(proc, region_text, MASK, boards=1)

    def run(board: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return wrap(attn, hidden, (text, [torch.cat([board, ref], dim=1)]))

    inside = torch.from_numpy(MASK.reshape(-1))
    by_ref = (run(board, ref_a) - run(board, ref_b)).abs().amax(dim=(0, 2))
    assert (by_ref[inside] > 1e-3).all() and (by_ref[~inside] == 0).all()
    by_board = (run(board, ref_a) - run(ref_b, ref_a)).abs().amax(dim=(0, 2))
    assert (by_board[~inside] > 1e-3).all() and (by_board[inside] == 0).all()


def test_a_layer_the_adapter_is_off_in_attends_no_image() -> None:
    """InstantStyle's 0 scale: the layer is the regional prompts' as before (no IP pass)."""
    attn, proc = _toy()
    proc.scale = [0.0]
    g = torch.Generator().manual_seed(3)
    hidden, text = torch.randn(2, 16, 8, generator=g), torch.randn(2, 5, 6, generator=g)
    wrap = _wrapper(proc, torch.randn(1, 5, 6, generator=g), MASK)
    with torch.no_grad():
        a = wrap(attn, hidden, (text, [torch.randn(2, 1, 4, 6, generator=g)]))
        b = wrap(attn, hidden, (text, [torch.randn(2, 1, 4, 6, generator=g)]))
    assert torch.equal(a, b)


# ---- end to end, tiny models ----------------------------------------------------------------

W, H = 128, 96


def _map_png() -> bytes:
    """Sky (its own reference) on the left third, town on the rest."""
    img = Image.new("RGB", (W, H), TOWN)
    ImageDraw.Draw(img).rectangle((0, 0, W // 3 - 1, H), fill=SKY)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _board(colour: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (80, 60), colour)
    ImageDraw.Draw(img).ellipse((10, 10, 50, 50), fill=(250, 250, 250))
    return img


@pytest.fixture(scope="module", params=["sd15", "sdxl", "sd15-bfloat16"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny engine with its IP-Adapter; bfloat16 on the CPU too (the GPU path's dtype)."""
    return adapter_engine(tmp_path_factory.mktemp(f"region-ref-{request.param}"), request.param)


def _request(sky_ref: Image.Image | None, scale: object = 2.0, board: Any = None) -> Any:
    """Two regions, the sky with its own reference (``sky_ref``) at ``scale``; guidance 20
    and 3 steps: the tiny random adapter steers faintly, this makes it measurable."""
    from bgart.generation import GenerationRequest, Reference, build_regions

    refs = {SKY: Reference(sky_ref, "c" * 64, f"region:{SKY}")} if sky_ref else None
    regions = build_regions(
        _map_png(), "c012_regions.png", [(SKY, "evening sky"), (TOWN, "shops")], W, H,
        refs, scale,  # type: ignore[arg-type]
    )  # fmt: skip
    layout = Image.new("RGB", (W, H), "black")
    ImageDraw.Draw(layout).line((0, 60, W, 30), fill="white", width=3)
    return GenerationRequest(
        prompt="station square", width=W, height=H, seeds=[5], layout=layout, steps=3,
        guidance=20.0, references=board, regions=regions,
    )  # fmt: skip


def _change(engine: Any, make: Any) -> tuple[float, float]:
    """Mean change (RGB levels summed) in the sky third and in the far (right) third when
    the reference goes from a blue board to an orange one."""
    a, b = (
        np.asarray(engine.generate(make(_board(c)))[0].image, np.float64)
        for c in ((30, 90, 200), (220, 120, 20))
    )
    diff = np.abs(a - b).sum(axis=2)
    return float(diff[:, : W // 3].mean()), float(diff[:, 2 * W // 3 :].mean())


def test_the_region_follows_its_reference_far_pixels_stay(engine: Any) -> None:
    """The sky's reference changes the sky (left third); the far right third (≥ 5 latent
    pixels away) changes under a third as much. Not 0: self-attention (attn1) and the
    convolutions carry some of the region's change over the whole plate. The same two images
    as the shot's global art board change the far third about as much as the sky (measured
    here: 0.54x on SD1.5, 1.07x on SDXL, against 0.21x masked): the mask is what keeps them
    in the region."""
    from bgart.generation import Reference, References

    if engine.choice.dtype_name == "bfloat16":  # measured: 2.16 in the sky, 2.11 far
        pytest.skip("bfloat16 rounds any change over the whole tiny plate; the layer test is exact")
    region, far = _change(engine, _request)
    assert region > 0.1  # the reference steers its region (the tiny models: faintly)
    assert far < region / 3, (region, far)

    def globally(img: Image.Image) -> Any:
        return _request(None, board=References((Reference(img, "a" * 64, "location:x"),), 2.0))

    g_region, g_far = _change(engine, globally)
    assert g_far > 0.45 * g_region, (g_region, g_far)


def test_recorded_and_regenerated_byte_for_byte(engine: Any) -> None:
    from bgart.generation import GenerationRecord, Reference, References, regenerate

    sky, board = _board((30, 90, 200)), _board((90, 160, 60))
    boards = References((Reference(board, "b" * 64, "location:station"),))
    made = engine.generate(_request(sky, 1.0, boards))[0]
    record = GenerationRecord.from_json(made.record.to_json())
    regions = record.extra["regions"]
    assert regions["references"] == [[SKY, "c" * 64]]
    assert regions["ip_adapter"]["adapter"] == f"tiny-ip-adapter-{engine.architecture}"
    assert regions["ip_adapter"]["scale"] == record.extra["references"]["scale"]  # the board's
    assert record.extra["references"]["images"][0]["sha256"] == "b" * 64
    images = {"c" * 64: sky, "b" * 64: board}
    layout = _request(None).layout
    again = regenerate(engine, record, layout=layout, references=images, regions_map=_map_png())
    assert again.png() == made.png()
    with pytest.raises(InputError, match="needs its region reference"):
        regenerate(
            engine, record, layout=layout, references={"b" * 64: board}, regions_map=_map_png()
        )
    plain = engine.generate(_request(None))[0].record.extra["regions"]
    assert "references" not in plain and "ip_adapter" not in plain  # bytes as before


def test_a_region_reference_needs_a_prompted_colour() -> None:
    from bgart.generation import Reference, build_regions

    with pytest.raises(InputError, match="colour #00ff00 has no prompt"):
        build_regions(
            _map_png(), "c012_regions.png", [(SKY, "sky")], W, H,
            {"#00ff00": Reference(_board((0, 0, 0)), "d" * 64, "region:#00ff00")},
        )  # fmt: skip
