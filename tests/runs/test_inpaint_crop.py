"""AI fix on a big plate (issue 21 item 5): the model inpaints only a crop around the mask,
pasted back; only masked pixels change, the recorded act verifies as before, and `bgart
regenerate` of it takes the same crop of the same version again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.cli import run_in_process
from helpers.images import generated_png, make_record, natural_plate, stroke_layer
from helpers.reliability import assert_clean_error
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


def test_bgart_regenerate_of_a_cropped_ai_fix_is_byte_identical_from_the_ledger(
    tiny_engine: Any, tiny_env: dict[str, str], sqlite_project: Project, tmp_path: Path
) -> None:
    """An AI fix on a big plate (the crop path) over a painted version, painted over again
    afterwards: `bgart regenerate` of its PNG takes the version it edited and its mask from
    the ledger, the same crop, and gives the same bytes; without the ledger that holds
    it, or with that version's image gone, it says so in one line."""
    project, shot = sqlite_project, "ep07_c002"
    plate = natural_plate(W, H, 5)
    png, rec = generated_png(plate, make_record(W, H))
    wf.record_generated(project, shot, png, rec, "yuki")
    wf.record_paint(project, shot, stroke_layer((H, W), (560, 180, 620, 220), (200, 40, 40)), "mei")
    source = wf.plate_state(project, shot)  # v2: the version the fix edits
    req = InpaintRequest(
        image=Image.fromarray(np.array(source.image)),
        mask=_mask((600, 200, 680, 260)),
        prompt="a window",
        seed=11,
        steps=2,
    )
    made = inpaint_with_fallback(tiny_engine, req, None, EngineState())
    assert "crop" in made.record.extra  # the crop path was taken
    done = wf.record_inpaint(
        project, shot, made.png(), req.mask, made.record, "mika", based_on=source.number
    )
    wf.record_paint(project, shot, stroke_layer((H, W), (500, 150, 700, 300), (20, 90, 200)), "mei")
    fix = tmp_path / "fix.png"  # the AI fix's PNG, as the ledger keeps it
    fix.write_bytes(project.blobs.get(project.ledger.event(done.seq).blobs["result"]))

    again = tmp_path / "again.png"
    args = ["regenerate", str(fix), "--out", str(again), "--check"]
    result = run_in_process([*args, "--project", str(project.root)], tiny_env)
    assert result.returncode == 0, result.show()
    assert "identical to the original, byte for byte" in result.stdout + result.stderr
    assert again.read_bytes() == fix.read_bytes()

    assert_clean_error(run_in_process(args, tiny_env), str(fix), "pass --project")
    other = Project.init(tmp_path / "other", production="Other Show")
    other.close()
    elsewhere = run_in_process([*args, "--project", str(other.root)], tiny_env)
    assert_clean_error(elsewhere, str(fix), "not in the ledger")
    gone = project.blobs.path(source.image_sha)
    assert gone is not None
    gone.unlink()  # the version the fix edited can no longer be read
    missing = run_in_process([*args, "--project", str(project.root)], tiny_env)
    assert_clean_error(missing, str(fix), f"shot {shot} plate 'main' version {source.number}")
    assert missing.returncode == 3 and source.image_sha in missing.stderr


@pytest.mark.parametrize("crop", ["x", [0, 0, 64], [0, 0, True, 64]])
def test_a_record_whose_crop_is_no_window_is_refused_before_a_model_loads(crop: object) -> None:
    from bgart.errors import InputError
    from bgart.generation import check_record

    rec = make_record(64, 64, mode="inpaint", extra={"crop": crop})
    with pytest.raises(InputError, match=r"^generation record: extra 'crop' is "):
        check_record(rec)
