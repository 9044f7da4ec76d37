"""The optional speed levers (docs/gpu.md, "Speed levers"): off by default, stated in the
record when on, refused by name where they cannot run. Their speed is measured on a GPU by
``bench/gpu_speed.py``; what is checked here is what the CPU can show."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.generation import Engine, GenerationRequest, regenerate
from bgart.generation.levers import (
    SpeedLevers,
    compile_plan,
    refuse_unsupported,
    speed_levers,
)
from bgart.settings import load_settings


def _settings(tiny_env: dict[str, str], monkeypatch: Any, **kw: Any) -> Any:
    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    return load_settings(device="cpu", **kw)


def test_every_lever_is_off_by_default_and_states_nothing(
    tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    levers = speed_levers(_settings(tiny_env, monkeypatch))
    assert levers == SpeedLevers() and levers.record() == {}


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("attention", "flash3", "setting 'attention': 'flash3' is not one of default, math"),
        ("deepcache", 1, r"setting 'deepcache': 1; 0 \(off\) or a cache interval 2..10"),
        ("deepcache", 50, "setting 'deepcache': 50"),
    ],
)
def test_a_value_no_lever_takes_is_refused_by_name(
    setting: str, value: Any, message: str, tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    settings = _settings(tiny_env, monkeypatch, **{setting: value})
    with pytest.raises(InputError, match=message):
        speed_levers(settings)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("attention", "flash", "setting 'attention': 'flash' runs on CUDA only; .* on cpu"),
        ("attention", "fa3", "setting 'attention': 'fa3' runs on CUDA only"),
        ("attention", "cudnn", "setting 'attention': 'cudnn' runs on CUDA only"),
        ("fp8", True, "setting 'fp8': needs an NVIDIA GPU with float8 tensor cores"),
        ("cuda_graphs", True, "setting 'cuda_graphs': CUDA graphs need CUDA; .* on cpu"),
    ],
)
def test_a_cuda_lever_is_refused_on_the_cpu_before_the_model_is_touched(
    setting: str, value: Any, message: str, tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    """Never a silent fallback: a record would otherwise name kernels that did not run."""
    settings = _settings(tiny_env, monkeypatch, **{setting: value})
    with pytest.raises(InputError, match=message):
        Engine.load(settings, model="tiny-sd15")


@pytest.mark.parametrize(
    ("levers", "capability", "compile", "message"),
    [
        (SpeedLevers(fp8=True), (8, 0), False, "'fp8': needs .* 8.9 or later.*capability 8.0"),
        (SpeedLevers(attention="fa3"), (8, 9), False, "'fa3' needs a Hopper GPU"),
        (SpeedLevers(cuda_graphs=True), (9, 0), False, "'cuda_graphs': needs compile = true"),
        (SpeedLevers(deepcache=3), (9, 0), True, "'deepcache': not with compile = true"),
    ],
)
def test_a_lever_this_gpu_or_setup_cannot_run_is_refused(
    levers: SpeedLevers, capability: tuple[int, int], compile: bool, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        refuse_unsupported(levers, "cuda", capability, compile=compile)


def test_levers_a_hopper_can_run_are_accepted() -> None:
    for levers in (SpeedLevers(attention="fa3"), SpeedLevers(attention="cudnn")):
        refuse_unsupported(levers, "cuda", (9, 0), compile=False)
    refuse_unsupported(SpeedLevers(cuda_graphs=True), "cuda", (9, 0), compile=True)


@pytest.mark.skipif(
    importlib.util.find_spec("DeepCache") is not None, reason="DeepCache is installed here"
)
def test_deepcache_without_its_package_is_refused_with_the_install_line() -> None:
    with pytest.raises(InputError, match=r"pip install DeepCache"):
        refuse_unsupported(SpeedLevers(deepcache=3), "cpu", None, compile=False)


def test_cuda_graphs_pick_a_graph_capturing_compile_mode(
    tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    plain = compile_plan(_settings(tiny_env, monkeypatch, compile=True))
    graphs = compile_plan(_settings(tiny_env, monkeypatch, compile=True, cuda_graphs=True))
    assert plain.mode == "max-autotune-no-cudagraphs" and graphs.mode == "reduce-overhead"
    kept = _settings(tiny_env, monkeypatch, cuda_graphs=True, compile_mode="max-autotune")
    assert compile_plan(kept).mode == "max-autotune"


def test_an_attention_kernel_runs_for_the_whole_call_and_is_recorded(
    tiny_env: dict[str, str], monkeypatch: Any, tiny_engine: Any
) -> None:
    """``attention = "math"`` (the one choice a CPU can make): every step of the call runs
    with only that SDPA kernel allowed, and the record says so; outside the call torch
    picks again. The record regenerates on an engine with the same lever, and is refused
    by one without it (it would make other pixels under the record's name)."""
    import torch.nn.attention as attention

    engine = Engine.load(_settings(tiny_env, monkeypatch, attention="math"), model="tiny-sd15")
    seen: list[list[Any]] = []

    def progress(done: int, total: int) -> None:
        seen.append(list(attention._cur_sdpa_kernel_backends()))

    layout = Image.new("RGB", (64, 64))
    ImageDraw.Draw(layout).line((0, 0, 64, 64), fill="white", width=3)
    req = GenerationRequest(prompt="a street", width=64, height=64, seeds=[5], steps=2)
    req.layout = layout
    plate = engine.generate(req, progress)[0]
    assert seen == [[attention.SDPBackend.MATH]] * 2
    assert len(attention._cur_sdpa_kernel_backends()) > 1
    assert plate.record.extra["levers"] == {"attention": "math"}
    assert regenerate(engine, plate.record, layout=layout).png() == plate.png()
    with pytest.raises(
        InputError, match="speed levers attention='math'; this engine runs with none"
    ):
        regenerate(tiny_engine, plate.record, layout=layout)
