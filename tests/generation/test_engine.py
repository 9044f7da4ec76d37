"""The engine on tiny SD1.5 and SDXL models: what an artist sees change, and what must not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.generation import GenerationRecord, GenerationRequest, InpaintRequest, regenerate

W, H = 128, 96


def _layout(kind: str = "diagonal") -> Image.Image:
    img = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(img)
    if kind == "diagonal":
        d.line((0, 0, W, H), fill="white", width=4)
    else:
        d.rectangle((20, 20, 100, 70), outline="white", width=4)
    return img


def _gen(engine, seeds=(7,), layout=None, **kw):  # type: ignore[no-untyped-def]
    req = GenerationRequest(
        prompt="a quiet street",
        negative="people",
        width=W,
        height=H,
        seeds=list(seeds),
        layout=layout or _layout(),
        steps=3,
        **kw,
    )
    return engine.generate(req)


def test_same_seed_gives_identical_bytes(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    a = _gen(tiny_engine)[0].png()
    b = _gen(tiny_engine)[0].png()
    assert a == b


def test_seed_and_layout_change_the_image(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    base = np.asarray(_gen(tiny_engine, seeds=(7,))[0].image, dtype=np.int16)
    other_seed = np.asarray(_gen(tiny_engine, seeds=(8,))[0].image, dtype=np.int16)
    other_layout = np.asarray(_gen(tiny_engine, layout=_layout("box"))[0].image, dtype=np.int16)
    assert np.abs(base - other_seed).mean() > 1.0
    assert np.abs(base - other_layout).mean() > 1.0


def test_batched_variations_each_regenerate_exactly(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    results = _gen(tiny_engine, seeds=(3, 4, 5))
    assert len(results) == 3
    assert len({r.png() for r in results}) == 3
    for r in results:
        again = regenerate(tiny_engine, r.record, layout=_layout())
        assert again.png() == r.png()


def test_record_is_complete_and_survives_png_round_trip(tiny_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bgart.generation import read_record

    r = _gen(tiny_engine, seeds=(11,))[0]
    path = tmp_path / "plate.png"
    path.write_bytes(r.png())
    rec = read_record(path)
    assert rec == r.record.recipe()
    assert r.record.seconds > 0  # measured, kept out of the PNG
    assert rec.seed == 11 and rec.steps == 3 and rec.model == "tiny-sd15"
    assert rec.controlnet == "tiny-controlnet-sd15"
    assert rec.device == "cpu" and rec.dtype == "float32"
    assert rec.scheduler == "euler" and rec.width == W and rec.height == H
    assert any(k.startswith("tiny-sd15/unet/") for k in rec.model_files)
    assert all(len(v) == 64 for v in rec.model_files.values())
    with Image.open(path) as img:
        assert "Seed: 11" in img.text["parameters"]
    assert GenerationRecord.from_json(rec.to_json()) == rec


def test_inpaint_changes_only_the_masked_area(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    plate = _gen(tiny_engine)[0].image
    mask = Image.new("L", (W, H))
    ImageDraw.Draw(mask).rectangle((16, 16, 63, 47), fill=255)
    out = tiny_engine.inpaint(
        InpaintRequest(image=plate, mask=mask, prompt="a tree", seed=1, steps=4)
    )
    before = np.asarray(plate, dtype=np.int16)
    after = np.asarray(out.image, dtype=np.int16)
    inside = np.asarray(mask) > 0
    assert np.array_equal(before[~inside], after[~inside])
    assert np.abs(before[inside] - after[inside]).mean() > 1.0
    assert out.record.mode == "inpaint" and out.record.mask_sha256


def test_photo_mode_uses_the_photo(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    red = Image.new("RGB", (W, H), (220, 40, 40))
    blue = Image.new("RGB", (W, H), (40, 40, 220))
    a = np.asarray(_gen(tiny_engine, photo=red)[0].image, dtype=np.int16)
    b = np.asarray(_gen(tiny_engine, photo=blue)[0].image, dtype=np.int16)
    assert np.abs(a - b).mean() > 1.0


def test_sdxl_architecture_is_deterministic_and_follows_layout(tiny_engine_xl) -> None:  # type: ignore[no-untyped-def]
    a = _gen(tiny_engine_xl)[0]
    assert a.png() == _gen(tiny_engine_xl)[0].png()
    b = _gen(tiny_engine_xl, layout=_layout("box"))[0]
    assert a.png() != b.png()
    assert a.record.architecture == "sdxl"
    assert regenerate(tiny_engine_xl, a.record, layout=_layout()).png() == a.png()


def test_sdxl_pipelines_hide_no_watermark_of_their_own(tiny_engine_xl) -> None:  # type: ignore[no-untyped-def]
    """diffusers would hide a DWT-DCT mark in every SDXL plate of 256 px or more (the
    invisible-watermark package is installed for bgart's declared soft binding): undeclared
    pixel changes, so every SDXL pipeline the engine makes is built without one."""
    _gen(tiny_engine_xl, photo=Image.new("RGB", (W, H)))
    tiny_engine_xl._pipe("inpaint")
    pipes = [tiny_engine_xl._base, *tiny_engine_xl._pipes.values()]
    assert len(pipes) >= 3
    assert all(getattr(pipe, "watermark", "absent") is None for pipe in pipes)


@pytest.mark.parametrize(("w", "h", "field"), [(130, 96, "width 130"), (128, 20, "height 20")])
def test_bad_sizes_are_named(tiny_engine, w: int, h: int, field: str) -> None:  # type: ignore[no-untyped-def]
    req = GenerationRequest(prompt="x", width=w, height=h, seeds=[1], steps=2)
    with pytest.raises(InputError, match=field):
        tiny_engine.generate(req)


def test_components_are_shared_between_modes(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    _gen(tiny_engine, photo=Image.new("RGB", (W, H)))
    photo_pipe = tiny_engine._pipe("photo+layout")
    inpaint_pipe = tiny_engine._pipe("inpaint")
    assert photo_pipe.unet is tiny_engine._base.unet
    assert inpaint_pipe.vae is tiny_engine._base.vae
