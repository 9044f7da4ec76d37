"""The GPU path on a real CUDA device (marker ``gpu``: skipped, with the reason, without one).

What the CPU suite can only approximate: the dtype contract in float16 and bfloat16 on
``cuda``, a real out-of-memory error and the memory the engine gives back after it, and the
offload hooks executing on this process's own GPU. ``bench/gpu_check.py`` checks the same on
a lent device without pytest (bench/README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bgart.generation import Engine, GenerationRequest, InpaintRequest, OutOfMemory, regenerate
from bgart.settings import load_settings

pytestmark = pytest.mark.gpu

W, H = 64, 64


@pytest.fixture(autouse=True)
def _own_torch_state() -> Any:
    """Deterministic mode is process-wide (torch.use_deterministic_algorithms, cuDNN): put
    it back after each test so the rest of the session runs as configured."""
    import torch

    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1:3]
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[3:]


def _engine(tiny_env: dict[str, str], monkeypatch: Any, model: str, **kw: Any) -> Any:
    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    return Engine.load(load_settings(device="cuda", **kw), model=model)


def _layout() -> Image.Image:
    img = Image.new("RGB", (W, H))
    ImageDraw.Draw(img).line((0, 0, W, H), fill="white", width=3)
    return img


def _generate(engine: Any, progress: Any = None, **kw: Any) -> list[Any]:
    req = GenerationRequest(prompt="a street", width=W, height=H, seeds=[5, 6], steps=2, **kw)
    return engine.generate(req, progress)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-sdxl"])
def test_every_mode_in_sequence_keeps_the_dtype_on_cuda(
    model: str, dtype: str, tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    """layout → photo+layout → photo → inpaint → layout on the GPU: every component stays
    in the chosen dtype on ``cuda:<index>``, records say so, images are finite and not
    black, and in deterministic mode the last layout plate is the first one's bytes."""
    import torch

    engine = _engine(tiny_env, monkeypatch, model, dtype=dtype, deterministic=True)
    device = f"cuda:{engine.choice.index or 0}"
    photo = Image.new("RGB", (W, H), (200, 120, 40))
    mask = Image.new("L", (W, H))
    ImageDraw.Draw(mask).rectangle((8, 8, 40, 40), fill=255)
    first = _generate(engine, layout=_layout())
    results = list(first)
    results += _generate(engine, layout=_layout(), photo=photo)
    results += _generate(engine, photo=photo)
    results.append(engine.inpaint(InpaintRequest(first[0].image, mask, "a tree", 3, steps=2)))
    again = _generate(engine, layout=_layout())
    results += again
    assert set(engine.placement().values()) == {(dtype, device)}
    for r in results:
        assert r.record.dtype == dtype and r.record.device == "cuda"
        assert r.record.environment["gpu"] == torch.cuda.get_device_name(engine.choice.index)
        pixels = np.asarray(r.image, dtype=np.float32)
        assert np.isfinite(pixels).all() and pixels.std() > 1.0
    assert [r.png() for r in again] == [r.png() for r in first]
    assert regenerate(engine, first[1].record, layout=_layout()).png() == first[1].png()


def test_a_real_out_of_memory_error_gives_the_memory_back(
    tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    """A call that runs out of GPU memory raises OutOfMemory, and the memory the failed call
    held (here 2 GiB kept by a frame of its traceback) is free again once it is raised: the
    engine releases it outside the ``except`` block. The next call works."""
    import torch

    engine = _engine(tiny_env, monkeypatch, "tiny-sd15", dtype="bfloat16")
    _generate(engine, layout=_layout())
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    before, reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()

    def greedy(done: int, total: int) -> None:
        held = torch.empty(2 * 2**30, dtype=torch.uint8, device="cuda")  # noqa: F841
        torch.empty(2**44, dtype=torch.uint8, device="cuda")  # 16 TiB: a real OOM

    with pytest.raises(OutOfMemory, match="out of GPU memory"):
        _generate(engine, greedy, layout=_layout())
    assert torch.cuda.memory_allocated() <= before + 2**20
    assert torch.cuda.memory_reserved() <= reserved + 2**28  # empty_cache gave it back
    assert len(_generate(engine, layout=_layout())) == 2


def test_offload_runs_on_this_processs_own_gpu(tiny_env: dict[str, str], monkeypatch: Any) -> None:
    """``offload = true``: the hooks execute on ``cuda:<this rank's index>``, a plate is made
    that way, and its record says it was offloaded."""
    import torch

    engine = _engine(tiny_env, monkeypatch, "tiny-sd15", dtype="bfloat16", offload=True)
    want = torch.device("cuda", engine.choice.index or 0)
    assert engine.low_memory
    assert torch.device(engine._base.unet._hf_hook.execution_device) == want
    plate = _generate(engine, layout=_layout())[0]
    assert plate.record.extra["levers"]["offload"] is True
    assert plate.record.extra["levers"]["vae_tiling"] is True
    assert set(engine.placement().values()) == {("bfloat16", str(want))}
