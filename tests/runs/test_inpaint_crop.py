"""AI fix on a big plate (issue 21 item 5): the model inpaints only a crop around the mask,
pasted back; only masked pixels change, and the recorded act verifies as before."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers.images import generated_png, make_record, natural_plate
from PIL import Image

from bgart import plates as wf
from bgart.generation import InpaintRequest
from bgart.ledger import Project
from bgart.runs import EngineState, inpaint_with_fallback
from bgart.runs.crop import PAD, crop_box, native_side
from bgart.verify import verify_project

W, H = 2560, 1440  # a big plate for the tiny model (native 768 px, as SD1.5)


class Counting:
    """The real engine, with the size of each image it was asked to inpaint noted."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.sizes = engine, []  # type: ignore[var-annotated]
        self.settings = engine.settings

    def inpaint(self, req: InpaintRequest, progress: Any = None) -> Any:
        self.sizes.append(req.image.size)
        return self.engine.inpaint(req, progress)

    def enable_low_memory(self) -> None:  # pragma: no cover - no out-of-memory on the CPU
        self.engine.enable_low_memory()


def _mask(box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", (W, H), 0)
    mask.paste(255, box)
    return mask


def test_the_crop_is_the_padded_bbox_in_multiples_of_8_at_least_native() -> None:
    box = crop_box(_mask((500, 300, 540, 330)), native=256)
    assert box is not None
    x0, y0, x1, y1 = box
    assert (x1 - x0, y1 - y0) == (256, 256)  # 40x30 + 2 x 64 padding < native: native
    assert x0 <= 500 - PAD // 2 and x1 >= 540 and y0 <= 300 and y1 >= 330
    edge = crop_box(_mask((0, 0, 300, 10)), native=256)
    assert edge is not None and edge[:2] == (0, 0) and (edge[2] - edge[0]) % 8 == 0
    assert edge[2] == 368  # 300 + 64 padding, rounded up to a multiple of 8
    assert crop_box(_mask((0, 0, W, H)), native=256) is None  # the whole plate: no crop
    assert crop_box(Image.new("L", (W, H), 0), native=256) is None


def test_an_inpaint_on_a_big_plate_costs_the_crop_and_changes_only_the_mask(
    tiny_engine: Any, sqlite_project: Project
) -> None:
    plate = natural_plate(W, H, 3)
    png, rec = generated_png(plate, make_record(W, H))
    wf.record_generated(sqlite_project, "ep07_c001", png, rec, "yuki")
    mask = _mask((600, 200, 680, 260))
    req = InpaintRequest(
        image=Image.fromarray(plate), mask=mask, prompt="a window", seed=3, steps=2
    )
    engine = Counting(tiny_engine)
    made = inpaint_with_fallback(engine, req, None, EngineState())
    (size,) = engine.sizes
    native = native_side(tiny_engine)
    assert size == (native, native)  # the crop (a sixth of the plate), not the plate
    assert size[0] * size[1] < W * H / 6
    out = np.asarray(made.image)
    assert out.shape == plate.shape
    changed = (out != plate).any(axis=2)
    inside = np.asarray(mask) >= 128
    assert changed.any() and not (changed & ~inside).any()
    assert made.record.extra["crop"][2] - made.record.extra["crop"][0] == size[0]
    done = wf.record_inpaint(sqlite_project, "ep07_c001", made.png(), mask, made.record, "mika")
    assert done.stats["mask_px"] == 80 * 60
    figs = wf.plate_figures(sqlite_project, "ep07_c001")
    assert figs["ai_inpaint_share"] == pytest.approx(done.stats["visible_px"] / (W * H))
    verify_project(sqlite_project)
