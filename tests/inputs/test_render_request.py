"""The render request (bgart.inputs.request), the one builder of the engine's request and
the one out-of-memory fallback (bgart.runs.render): no model loads here."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bgart.errors import InputError
from bgart.generation import InpaintRequest, OutOfMemory
from bgart.inputs import ImageInput, Preset, RenderRequest, consecutive_seeds
from bgart.runs import EngineState, generate_with_fallback, inpaint_with_fallback, plate_request

PRESET = Preset(
    name="street",
    positive="anime background, street",
    negative="people, text",
    steps=25,
    guidance=6.5,
    controlnet_scale=0.9,
    strength=0.55,
    description="",
    source=Path("prompts/street.toml"),
)


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _render(**changes: Any) -> RenderRequest:
    fields: dict[str, Any] = dict(
        prompt="a quiet street",
        layout=ImageInput(_png((96, 64), (220, 220, 220)), "layout.png"),
        width=96,
        height=64,
        seeds=consecutive_seeds(7, 2),
        preset="street",
    )
    fields.update(changes)
    return RenderRequest(**fields)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt": "  "}, "prompt"),
        ({"seeds": ()}, "seeds"),
        ({"seeds": (-1,)}, "seeds"),
        ({"seeds": (1.5,)}, "seeds"),
        ({"width": 0}, "width"),
        ({"height": True}, "height"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"guidance": float("nan")}, "guidance"),
        ({"strength": 0.0}, "strength"),
        ({"controlnet_scale": 2.5}, "controlnet_scale"),
        ({"preset": ""}, "preset"),
        ({"photo": b"not an input"}, "photo"),
        ({"scheduler": ""}, "scheduler"),
    ],
)
def test_a_bad_field_is_refused_by_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=rf"^render request: field '{field}': "):
        _render(**changes)


def test_an_image_input_names_its_bytes_by_sha256() -> None:
    image = ImageInput(b"abc", "l.png")
    assert image.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(InputError, match=r"^image input: field 'data': "):
        ImageInput("abc", "l.png")  # type: ignore[arg-type]


def test_the_engine_request_takes_the_preset_where_the_render_sets_nothing() -> None:
    render = _render()
    assert render.variations == 2 and render.seeds == (7, 8)
    req = plate_request(render, PRESET)
    assert req.prompt == "a quiet street, anime background, street"
    assert req.negative == "people, text"
    assert (req.steps, req.guidance, req.controlnet_scale, req.strength) == (25, 6.5, 0.9, 0.55)
    assert (req.width, req.height, list(req.seeds), req.preset) == (96, 64, [7, 8], "street")
    assert req.scheduler == "euler"
    assert req.layout is not None and req.layout.size == (96, 64)
    assert req.layout_sha256 == render.layout.sha256
    assert req.photo is None and req.photo_sha256 is None

    photo = ImageInput(_png((40, 40), (10, 90, 200)), "photo.png")
    req = plate_request(
        _render(
            photo=photo,
            negative="rain",
            steps=3,
            guidance=2.0,
            strength=0.3,
            controlnet_scale=1.5,
            scheduler="ddim",
        ),
        PRESET,
    )
    assert req.negative == "people, text, rain"
    assert (req.steps, req.guidance, req.controlnet_scale, req.strength) == (3, 2.0, 1.5, 0.3)
    assert req.scheduler == "ddim"
    assert req.photo is not None and req.photo.size == (96, 64)
    assert req.photo_sha256 == photo.sha256


def test_the_engine_request_refuses_another_preset_and_a_damaged_layout() -> None:
    with pytest.raises(InputError, match=r"^render request: field 'preset': 'night'"):
        plate_request(_render(preset="night"), PRESET)
    with pytest.raises(InputError, match=r"^layout\.png: not an image file"):
        plate_request(_render(layout=ImageInput(b"not a png", "layout.png")), PRESET)


class _Engine:
    """Out of memory until low-memory mode is on, and for batches above ``fits`` seeds."""

    def __init__(self, fits: int) -> None:
        self.fits = fits
        self.low = False
        self.calls: list[tuple[str, int, bool]] = []

    def enable_low_memory(self) -> None:
        self.low = True

    def generate(self, req: Any, progress: Any = None) -> Any:
        self.calls.append(("generate", len(req.seeds), self.low))
        if not self.low or len(req.seeds) > self.fits:
            raise OutOfMemory("out of GPU memory (simulated)")
        return list(req.seeds)

    def inpaint(self, req: Any, progress: Any = None) -> Any:
        self.calls.append(("inpaint", 1, self.low))
        if not self.low:
            raise OutOfMemory("out of GPU memory (simulated)")
        return "inpainted"


def test_out_of_memory_falls_back_to_low_memory_then_one_variation_a_call() -> None:
    req = plate_request(_render(), PRESET)
    said: list[str] = []
    state = EngineState()
    engine = _Engine(fits=1)
    results, retried = generate_with_fallback(engine, req, None, said.append, "C001", state)
    assert results == [7, 8]
    assert retried == "offload + VAE tiling, one variation a call"
    assert state.low_memory
    assert engine.calls == [
        ("generate", 2, False),
        ("generate", 2, True),
        ("generate", 1, True),
        ("generate", 1, True),
    ]
    assert said == [
        "C001: out of GPU memory (simulated); retrying with model offload + VAE tiling",
        "C001: still out of memory; retrying one variation at a time",
    ]
    # low-memory mode stays on: the next render starts there and says nothing if it fits
    engine.fits, engine.calls, said[:] = 2, [], []
    assert generate_with_fallback(engine, req, None, said.append, "C002", state)[1] is None
    assert engine.calls == [("generate", 2, True)] and said == []


def test_out_of_memory_in_an_inpaint_turns_low_memory_on_for_what_follows() -> None:
    state, engine = EngineState(), _Engine(fits=2)
    white = Image.new("RGB", (64, 64), (255, 255, 255))
    req = InpaintRequest(image=white, mask=white.convert("L"), prompt="a sign", seed=1)
    assert inpaint_with_fallback(engine, req, None, state) == "inpainted"
    assert state.low_memory and engine.calls == [("inpaint", 1, False), ("inpaint", 1, True)]
