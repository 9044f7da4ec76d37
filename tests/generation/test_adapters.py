"""The IP-Adapter of art-board references on the tiny models, SD1.5 and SDXL: loaded by
diffusers' own loader from a lock entry, steering a render only when asked, recorded, and
run again byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.adapters import adapter_engine
from PIL import Image, ImageDraw

from bgart.errors import InputError, WeightsError


@pytest.fixture(scope="module", params=["sd15", "sdxl", "sd15-bfloat16"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A tiny engine with its IP-Adapter; bfloat16 on the CPU too (the GPU path's dtype
    contract: the image encoder and the adapter's layers in the engine's dtype)."""
    return adapter_engine(tmp_path_factory.mktemp(f"adapter-{request.param}"), request.param)


def _board(colour: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (80, 60), colour)
    ImageDraw.Draw(img).ellipse((10, 10, 50, 50), fill=(250, 250, 250))
    return img


def _request(refs: object = None):  # type: ignore[no-untyped-def]
    from bgart.generation import GenerationRequest

    layout = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(layout).line((0, 50, 64, 10), fill="black", width=3)
    return GenerationRequest(
        prompt="river bank", width=64, height=64, seeds=[3, 4], layout=layout, steps=2,
        references=refs,  # type: ignore[arg-type]
    )  # fmt: skip


def _refs(*images: Image.Image, scale: object = "style"):  # type: ignore[no-untyped-def]
    from bgart.generation import Reference, References

    return References(
        tuple(Reference(im, f"{i:064x}", "location:river") for i, im in enumerate(images, 1)),
        scale,  # type: ignore[arg-type]
    )


def test_references_steer_the_plate_are_recorded_and_regenerate(engine) -> None:  # type: ignore[no-untyped-def]
    from bgart.generation import regenerate

    plain = [g.png() for g in engine.generate(_request())]
    board = _board((30, 90, 200))
    made = engine.generate(_request(_refs(board)))
    assert made[0].png() != plain[0]  # the board steers the render
    record = made[1].record
    refs = record.extra["references"]
    assert refs["images"] == [{"sha256": f"{1:064x}", "board": "location:river"}]
    assert refs["adapter"] == f"tiny-ip-adapter-{engine.architecture}"
    layout = _request().layout
    again = regenerate(engine, record, layout=layout, references={f"{1:064x}": board})
    assert again.png() == made[1].png()
    # another board under the same hash is another render: the record's image is needed
    other = regenerate(engine, record, layout=layout, references={f"{1:064x}": _board((200, 0, 0))})
    assert other.png() != made[1].png()
    with pytest.raises(InputError, match="needs its art-board reference"):
        regenerate(engine, record, layout=layout, references={})
    # plates made without references keep their bytes once the adapter is loaded
    assert [g.png() for g in engine.generate(_request())] == plain
    assert "references" not in engine.generate(_request())[0].record.extra
    engine.check_placement()  # the image encoder is in the engine's dtype, on its device


def test_two_board_images_and_a_block_table(engine) -> None:  # type: ignore[no-untyped-def]
    one = engine.generate(_request(_refs(_board((30, 90, 200)))))[0]
    two = engine.generate(_request(_refs(_board((30, 90, 200)), _board((200, 120, 20)))))[0]
    assert len(two.record.extra["references"]["images"]) == 2
    assert two.png() != one.png()
    table = {"down": {"block_1": [1.0]}, "up": {"block_0": [0.0, 1.0]}}
    layout_too = engine.generate(_request(_refs(_board((30, 90, 200)), scale=table)))[0]
    assert layout_too.record.extra["references"]["scale"] == table
    assert layout_too.png() != one.png()
    with pytest.raises(InputError, match="field 'scale'"):
        _refs(_board((0, 0, 0)), scale="everything")


def test_resolve_style_scale_is_instantstyle_on_a_real_sdxl_unet_layout() -> None:
    """SDXL's UNet (up block 0: 3 attention layers; down block 2: 2) gets InstantStyle's
    published setting; a stand-in with the real block layout, no weights."""
    from types import SimpleNamespace

    from bgart.generation.adapters import resolve_scale

    def block(n: int) -> SimpleNamespace:
        return SimpleNamespace(attentions=[object()] * n)

    plain = SimpleNamespace(attentions=None)
    unet = SimpleNamespace(
        down_blocks=[plain, block(2), block(2)], up_blocks=[block(3), block(3), plain]
    )
    assert resolve_scale("style", unet) == {"up": {"block_0": [0.0, 1.0, 0.0]}}
    assert resolve_scale("style+layout", unet) == {
        "up": {"block_0": [0.0, 1.0, 0.0]},
        "down": {"block_2": [0.0, 1.0]},
    }


def test_lock_refuses_an_ip_adapter_link_to_the_wrong_kind(tmp_path: Path) -> None:
    from bgart.generation import WeightsLock, build_tiny_adapter

    lock = build_tiny_adapter(tmp_path, "sd15")
    text = lock.read_text(encoding="utf-8")
    bad = text.replace('ip_adapter = "tiny-ip-adapter-sd15"', 'ip_adapter = "tiny-controlnet-sd15"')
    assert bad != text
    lock.write_text(bad, encoding="utf-8")
    with pytest.raises(WeightsError, match=r"field 'ip_adapter'.*kind 'ip_adapter'"):
        WeightsLock.load(lock)
