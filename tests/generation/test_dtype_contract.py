"""The GPU path's dtype contract, checked on the CPU in bfloat16 (docs/gpu.md).

A CPU float32 suite cannot see dtype bugs: here the tiny models run in bfloat16, as on an
H100, through every mode and a sequence of modes, and every component must stay in the
chosen dtype and on the chosen device, with the record saying so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bgart.generation import Engine, GenerationRequest, InpaintRequest, regenerate
from bgart.settings import load_settings

W, H = 64, 64
_BF16: dict[str, Any] = {}


@pytest.fixture(params=["tiny-sd15", "tiny-sdxl"])
def bf16_engine(request: pytest.FixtureRequest, tiny_env: dict[str, str], monkeypatch: Any) -> Any:
    """A tiny engine in bfloat16 on the CPU, loaded once per model for the module."""
    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    name = request.param
    if name not in _BF16:
        settings = load_settings(device="cpu", dtype="bfloat16")
        _BF16[name] = Engine.load(settings, model=name)
    return _BF16[name]


def _layout() -> Image.Image:
    img = Image.new("RGB", (W, H))
    ImageDraw.Draw(img).line((0, 0, W, H), fill="white", width=3)
    return img


def _photo() -> Image.Image:
    return Image.new("RGB", (W, H), (200, 120, 40))


def _generate(engine: Any, **kw: Any) -> Any:
    req = GenerationRequest(prompt="a street", width=W, height=H, seeds=[5, 6], steps=2, **kw)
    return engine.generate(req)


def _inpaint(engine: Any, image: Image.Image) -> Any:
    mask = Image.new("L", (W, H))
    ImageDraw.Draw(mask).rectangle((8, 8, 40, 40), fill=255)
    return engine.inpaint(InpaintRequest(image=image, mask=mask, prompt="a tree", seed=3, steps=2))


def _assert_contract(engine: Any, results: list[Any]) -> None:
    placement = engine.placement()
    assert placement and set(placement.values()) == {("bfloat16", "cpu")}, placement
    for r in results:
        assert r.record.dtype == "bfloat16" and r.record.device == "cpu"
        pixels = np.asarray(r.image, dtype=np.float32)
        assert np.isfinite(pixels).all() and pixels.std() > 1.0  # not black, not flat


def test_every_mode_in_sequence_keeps_bfloat16_and_layout_bytes(bf16_engine: Any) -> None:
    """layout → photo+layout → photo → inpaint → layout: every component stays bfloat16
    (from_pipe without dtype= casts the shared model to float32), SDXL's layout call after
    an inpaint runs (it crashed with mixed dtypes), and the layout plate's bytes do not
    depend on which modes ran before it."""
    engine = bf16_engine
    first = _generate(engine, layout=_layout())
    _assert_contract(engine, first)
    with_photo = _generate(engine, layout=_layout(), photo=_photo())
    _assert_contract(engine, with_photo)
    photo_only = _generate(engine, photo=_photo())
    _assert_contract(engine, photo_only)
    inpainted = _inpaint(engine, first[0].image)
    _assert_contract(engine, [inpainted])
    again = _generate(engine, layout=_layout())
    _assert_contract(engine, again)
    assert [r.png() for r in again] == [r.png() for r in first]
    assert {"layout", "photo+layout", "photo", "inpaint"} <= set(engine._pipes)


def test_bfloat16_plates_regenerate_byte_identical(bf16_engine: Any) -> None:
    plate = _generate(bf16_engine, layout=_layout())[1]
    assert regenerate(bf16_engine, plate.record, layout=_layout()).png() == plate.png()


def test_the_record_names_the_machine_outside_the_png_recipe(bf16_engine: Any) -> None:
    import torch

    plate = _generate(bf16_engine, layout=_layout())[0]
    env = plate.record.environment
    assert env["torch"] == torch.__version__ and env["diffusers"]
    assert "environment" in plate.record.to_dict()  # the ledger's copy carries it
    assert b"environment" not in plate.png()  # the PNG's recipe does not: same bytes anywhere
    assert "levers" not in plate.record.extra  # CPU defaults: nothing to state


# ---- offload: the `offload` setting, and each rank's own device ---------------------------
def _fresh_pipe(tiny_root: Any, tiny_store: Any) -> Any:
    """A pipeline of its own (the engine mutates what it wraps)."""
    import torch

    from bgart.generation import WeightsLock
    from bgart.generation.engine import _load_pipeline

    lock = WeightsLock.load(tiny_root / "weights.lock")
    return _load_pipeline(
        lock,
        "tiny-sd15",
        tiny_store / "tiny-sd15",
        tiny_store / "tiny-controlnet-sd15",
        torch.bfloat16,
    )


@pytest.mark.parametrize("rank", [0, 1, 3])
def test_offload_setting_puts_hooks_on_the_ranks_own_gpu(
    rank: int, tiny_root: Any, tiny_store: Any, tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    """BGART_OFFLOAD=1 starts the engine offloaded, its hooks executing on the GPU of this
    rank (LOCAL_RANK under accelerate/torchrun), never on GPU 0 for every rank. No GPU here:
    the hooks are built, not run, and their target device is what is checked."""
    import torch

    from bgart.generation.device import DeviceChoice, cuda_index

    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BGART_OFFLOAD", "1")
    settings = load_settings()
    index = cuda_index({"LOCAL_RANK": str(rank)}, count=4, current=0)
    choice = DeviceChoice("cuda", torch.bfloat16, "test GPU", index)
    engine = Engine(settings, "tiny-sd15", "sd15", _fresh_pipe(tiny_root, tiny_store), choice)
    assert engine.low_memory
    targets = {dev for _dtype, dev in engine.placement().values()}
    assert targets == {f"cuda:{rank}"}
    assert engine._base.unet._hf_hook.execution_device == torch.device("cuda", rank)
    engine.disable_low_memory()  # the setting keeps it: not per shot
    assert engine.low_memory


def test_low_memory_is_per_call_and_recorded(bf16_engine: Any) -> None:
    """Low-memory mode (VAE tiling; on the CPU nothing to offload to) is stated in the
    record while on, and once left, plates are made, and recorded, as before it."""
    before = _generate(bf16_engine, layout=_layout())[0]
    bf16_engine.enable_low_memory()
    try:
        during = _generate(bf16_engine, layout=_layout())[0]
        _assert_contract(bf16_engine, [during])
        assert during.record.extra["levers"] == {"vae_tiling": True}
        # regenerating follows the record's tiling, whatever mode the engine is in
        bf16_engine.disable_low_memory()
        assert regenerate(bf16_engine, during.record, layout=_layout()).png() == during.png()
    finally:
        bf16_engine.disable_low_memory()
    after = _generate(bf16_engine, layout=_layout())[0]
    assert "levers" not in after.record.extra and after.png() == before.png()
