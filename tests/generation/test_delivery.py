"""The delivery pass (bgart.generation.delivery): the refine API, SDXL delivery plates and
panoramas, byte-identical replay, and seams measured through the real tiled sampler.

Tiny random models on the CPU with a 256 px native size (small windows, fast tests)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.generation import (
    Delivery,
    Engine,
    GenerationRequest,
    RefineRequest,
    refine,
    regenerate,
)
from bgart.generation.tiles import SEAM_LIMIT, inner_edges, plan_windows, seam_ratio


@pytest.fixture
def small_engine(tiny_settings):  # type: ignore[no-untyped-def]
    from bgart.settings import load_settings

    return Engine.load(load_settings(width=256, height=256))


@pytest.fixture
def small_engine_xl(tiny_settings):  # type: ignore[no-untyped-def]
    from bgart.settings import load_settings

    return Engine.load(load_settings(width=256, height=256), model="tiny-sdxl")


def _control(w: int, h: int) -> Image.Image:
    img = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(img)
    d.line((0, h * 2 // 3, w, h // 3), fill="white", width=3)
    for x in range(w // 8, w, w // 5):
        d.line((x, h // 5, x, h), fill="white", width=2)
    return img


def _smooth(w: int, h: int) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(x / 37.0) * np.cos(y / 29.0)
    g = 110 + 60 * np.cos(x / 53.0)
    b = 150 + 50 * np.sin(y / 41.0 + x / 97.0)
    return Image.fromarray(np.stack([r, g, b], axis=2).round().astype(np.uint8), "RGB")


def test_refine_makes_the_asked_size_the_same_bytes_twice_and_replays(small_engine) -> None:  # type: ignore[no-untyped-def]
    """The API the refine act calls: a 256x144 plate refined to 640x360 under its layout."""
    image, layout = _smooth(256, 144), _control(640, 360)
    req = RefineRequest(image, layout, "a street", "blurry", 640, 360, 7, 4, 6.0, 0.5)
    made = refine(small_engine, req)
    assert made.image.size == (640, 360)
    rec = made.record
    assert rec.mode == "refine" and (rec.width, rec.height) == (640, 360)
    assert rec.strength == 0.5 and rec.init_sha256 and rec.controlnet
    assert refine(small_engine, req).png() == made.png()  # deterministic
    assert regenerate(small_engine, rec, init=image, layout=layout).png() == made.png()
    with pytest.raises(InputError, match="sha256 differs"):
        regenerate(small_engine, rec, init=_smooth(256, 152), layout=layout)


def test_refine_keeps_a_smooth_image_close_at_low_strength(small_engine) -> None:  # type: ignore[no-untyped-def]
    """Only the last steps are re-run: the picture is the input's, enlarged (what changes
    is the random tiny model's doing, bounded by the strength)."""
    image = _smooth(256, 144)
    low = refine(small_engine, RefineRequest(image, None, "x", "", 512, 288, 1, 10, 1.0, 0.1))
    plain = np.asarray(image.resize((512, 288), Image.Resampling.LANCZOS), dtype=np.float64)
    diff_low = np.abs(np.asarray(low.image, dtype=np.float64) - plain).mean()
    high = refine(small_engine, RefineRequest(image, None, "x", "", 512, 288, 1, 10, 1.0, 1.0))
    diff_high = np.abs(np.asarray(high.image, dtype=np.float64) - plain).mean()
    assert diff_low < diff_high


def test_refine_refuses_a_bad_size_naming_it(small_engine) -> None:  # type: ignore[no-untyped-def]
    req = RefineRequest(_smooth(256, 144), None, "x", "", 643, 360, 1, 4, 6.0, 0.5)
    with pytest.raises(InputError, match="delivery width 643: must be a multiple of 8"):
        refine(small_engine, req)


def _deliver(engine: Engine, base: tuple[int, int], size: tuple[int, int]) -> GenerationRequest:
    layout = _control(*size)
    return GenerationRequest(
        prompt="a street",
        width=base[0],
        height=base[1],
        seeds=[3],
        layout=layout.resize(base, Image.Resampling.LANCZOS),
        steps=4,
        delivery=Delivery(*size, layout=layout),
    )


@pytest.mark.parametrize(
    ("base", "size", "panorama"),
    [((256, 256), (512, 512), False), ((768, 128), (1152, 192), True)],
    ids=["square", "6:1-pan"],
)
def test_sdxl_delivery_plate_and_pan_replay_byte_for_byte(
    small_engine_xl, base: tuple[int, int], size: tuple[int, int], panorama: bool
) -> None:  # type: ignore[no-untyped-def]
    """SDXL: each window gets its own added time ids (crop of the whole plate)."""
    req = _deliver(small_engine_xl, base, size)
    made = small_engine_xl.generate(req)[0]
    assert made.image.size == size
    rec = made.record
    assert (rec.width, rec.height) == size and rec.architecture == "sdxl"
    spec = rec.extra["delivery"]
    assert spec["base"] == list(base) and spec["panorama"] is panorama
    again = regenerate(
        small_engine_xl,
        rec,
        layout=req.layout,
        delivery=Delivery.from_record(rec, req.delivery.layout),
    )
    assert again.png() == made.png()


def test_a_delivery_record_without_its_pass_is_refused(small_engine) -> None:  # type: ignore[no-untyped-def]
    req = _deliver(small_engine, (256, 144), (512, 288))
    made = small_engine.generate(req)[0]
    with pytest.raises(InputError, match="needs its delivery pass"):
        regenerate(small_engine, made.record, layout=req.layout)
    rec = made.record
    forged = {**rec.extra["delivery"], "method": 99}
    with pytest.raises(InputError, match="delivery method 99 is not one this bgart runs"):
        Delivery.from_record(
            dataclasses.replace(rec, extra={**rec.extra, "delivery": forged}), None
        )
    forged = {**rec.extra["delivery"], "base": [256, "x"]}
    with pytest.raises(InputError, match=r"delivery base \[256, .x.\] is not \[width, height\]"):
        Delivery.from_record(
            dataclasses.replace(rec, extra={**rec.extra, "delivery": forged}), None
        )


# ---- seams through the real sampler -----------------------------------------------------------
def _seams(engine: Engine, overlap: int) -> float:
    """The sampler (bgart.generation.delivery._sample, a real Euler schedule) run over a
    smooth latent with a stand-in denoiser that sees only its window: its x0 estimate is
    the smooth target plus a bias of its own per window (as two UNet calls on two crops
    never agree exactly), i.e. it predicts eps = (x - (target + bias)) / sigma."""
    from bgart.generation import delivery as d

    lh, lw = 64, 160
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    target = torch.from_numpy(
        np.stack([np.sin(xx / 11 + c) * np.cos(yy / 13) for c in range(4)])[None]
    ).float()
    sched = d._scheduler(engine._base, "euler")
    sigmas = ((1 - sched.alphas_cumprod) / sched.alphas_cumprod) ** 0.5

    def denoise(crop: torch.Tensor, t: torch.Tensor, win: d.Window) -> torch.Tensor:
        sigma = float(sigmas[int(t)])
        x = crop * (sigma**2 + 1) ** 0.5  # undo scale_model_input
        bias = np.random.default_rng(win.top * 1000 + win.left).uniform(-0.3, 0.3)
        x0 = target[:, :, win.top : win.bottom, win.left : win.right] + bias
        return (x - x0) / sigma

    latents = d._sample(
        engine,
        init=target,
        control=None,
        width=lw * 8,
        height=lh * 8,
        prompt="",
        negative="",
        seed=1,
        steps=10,
        guidance=1.0,
        strength=0.6,
        scheduler="euler",
        controlnet_scale=0.0,
        window=256,
        overlap=overlap,
        progress=None,
        denoise=denoise,
    )
    wins = plan_windows(lh, lw, (32, 32), overlap // 8)
    image = latents[0].permute(1, 2, 0).float().numpy()
    return seam_ratio(image, *inner_edges(wins, lh, lw))


def test_seam_metric_fails_the_naive_tiler_and_passes_the_delivery_sampler(small_engine) -> None:  # type: ignore[no-untyped-def]
    """What it proves: with the scheduler, the noise and the per-step averaging of the
    real delivery sampler, windows whose predictions disagree leave visible seams when
    laid side by side (overlap 0: the naive tiler) and none when they overlap with
    feathered weights (the delivery default, 64 px for a 256 px window). The tiny random
    models make noise, so the smooth stand-in denoiser takes the UNet's place."""
    naive = _seams(small_engine, overlap=0)
    tiled = _seams(small_engine, overlap=64)
    assert naive > 2 * SEAM_LIMIT
    assert tiled < SEAM_LIMIT
