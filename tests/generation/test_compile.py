"""torch.compile that stays compiled: one graph per shape per module, sizes outside the
compiled set run eager on purpose, and the limits are the documented ones.

The graphs are traced by dynamo with the ``eager`` backend (no inductor kernels to build on
a CPU): the tracing, the guards and the recompile counting are the same as on a GPU.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PIL import Image

from bgart.errors import InputError
from bgart.generation import Engine, GenerationRequest
from bgart.generation.levers import (
    RECOMPILE_LIMIT,
    compile_nets,
    compile_plan,
    graph_counts,
    parse_sizes,
)
from bgart.settings import load_settings


def test_compile_settings() -> None:
    settings = load_settings(compile=True, compile_sizes="1024x1024, 1344x768")
    plan = compile_plan(settings)
    assert plan.options() == {
        "mode": "max-autotune-no-cudagraphs",
        "fullgraph": True,
        "dynamic": False,
    }
    assert plan.covers(1344, 768) and not plan.covers(768, 1344)
    # deterministic: no kernel picked by timing it
    assert compile_plan(load_settings(deterministic=True)).mode == "default"
    assert parse_sizes("", (768, 512)) == {(768, 512)}  # the project's plate size
    with pytest.raises(InputError, match="'1000x77' is not WIDTHxHEIGHT"):
        parse_sizes("1000x77", (768, 512))
    with pytest.raises(InputError, match="at most 8"):
        parse_sizes(",".join(f"{64 + 8 * i}x64" for i in range(9)), (64, 64))


def test_one_graph_per_shape_per_module_and_eager_outside_the_sizes(
    tiny_root: Any, tiny_store: Any, tiny_env: dict[str, str], monkeypatch: Any
) -> None:
    from bgart.generation.device import DeviceChoice
    from bgart.generation.engine import _load_pipeline
    from bgart.generation.weights import WeightsLock

    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(compile=True, compile_sizes="64x64", compile_mode="default")
    lock = WeightsLock.load(tiny_root / "weights.lock")
    pipe = _load_pipeline(
        lock,
        "tiny-sd15",
        tiny_store / "tiny-sd15",
        tiny_store / "tiny-controlnet-sd15",
        torch.bfloat16,
    )
    choice = DeviceChoice("cpu", torch.bfloat16, "test")
    engine = Engine(settings, "tiny-sd15", "sd15", pipe, choice)
    engine._compiled = compile_plan(settings)
    assert compile_nets(pipe, engine._compiled, backend="eager") == [
        "unet",
        "controlnet",
        "vae.decoder",
    ]
    assert torch._dynamo.config.recompile_limit == RECOMPILE_LIMIT

    def gen(w: int, seeds: list[int]) -> Any:
        layout = Image.new("RGB", (w, 64))
        req = GenerationRequest(prompt="x", width=w, height=64, seeds=seeds, layout=layout, steps=2)
        return engine.generate(req)

    first = gen(64, [1, 2])
    # UNet and ControlNet each hold their own graph: no shared code object, no shared budget
    assert graph_counts(pipe) == {"unet": 1, "controlnet": 1, "vae.decoder": 1}
    assert first[0].record.extra.get("levers") is None  # the CPU: compile is not a lever here
    gen(64, [3, 4])
    assert graph_counts(pipe) == {"unet": 1, "controlnet": 1, "vae.decoder": 1}  # reused
    gen(96, [1, 2])  # not a compiled size: eager, not a recompile
    assert graph_counts(pipe) == {"unet": 1, "controlnet": 1, "vae.decoder": 1}
    gen(64, [5])  # another batch: one more graph each, counted against each module's own limit
    assert graph_counts(pipe) == {"unet": 2, "controlnet": 2, "vae.decoder": 2}
