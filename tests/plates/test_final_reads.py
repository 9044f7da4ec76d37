"""A final consults the plate's earlier versions (definition v2's returns), reading each one
from the PNG of the version after it where the two are the same (bgart.images.decode_png_near),
as a fresh `bgart ledger import-final` has none of them decoded. What it records, what
`ledger verify` replays and what the credits give back must be exactly what decoding every
version whole gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.images import generated_png, noise_plate, stroke_layer

import bgart.provenance.restore as restore
from bgart import plates as wf
from bgart.credits.lineage import replay_plate
from bgart.ledger import Project
from bgart.plates.pixels import decode_blob
from bgart.verify import verify_project

W, H = 400, 720  # RGB PNG rows of 1201 bytes: four deflate pieces of 218 rows
SHOT = "ep18_c040"


def _history(project: Project) -> list[np.ndarray]:
    """AI plate; Mika retouches near the top; Rui paints a wide band; Sora shifts the lower
    part by a technical adjustment (the same offset down each column); Mika retouches near
    the bottom. Returns every version's pixels."""
    png, rec = generated_png(noise_plate(W, H, 11))
    wf.record_generated(project, SHOT, png, rec, "aki")
    wf.record_paint(project, SHOT, stroke_layer((H, W), (40, 60, 140, 120), (250, 30, 30)), "Mika")
    wf.record_paint(project, SHOT, stroke_layer((H, W), (0, 250, W, 600), (20, 20, 230)), "Rui")
    shifted = _pixels(project).copy()
    shifted[500:] += np.uint8(9)
    wf.record_adjust(project, SHOT, shifted, "Sora", {"op": "offset"})
    wf.record_paint(
        project, SHOT, stroke_layer((H, W), (300, 650, 380, 700), (30, 240, 30)), "Mika"
    )
    return [_pixels(project, n) for n in range(1, 6)]


def _pixels(project: Project, number: int | None = None) -> np.ndarray:
    history = wf.PlateHistory.load(project, SHOT)
    pv = history.version(number)
    return decode_blob(project.blobs.get(pv.image_sha), "RGB", f"version {pv.number}")


def _finals(versions: list[np.ndarray]) -> dict[str, np.ndarray]:
    v1, v2, cur = versions[0], versions[1], versions[-1]
    retouch = cur.copy()
    retouch[400:430, 100:160] = (240, 200, 10)
    return {
        "version 1 handed back": v1,
        "version 2 over the top half": np.concatenate([v2[: H // 2], cur[H // 2 :]]),
        "a local retouch": retouch,
    }


@pytest.mark.parametrize(
    "case", ["version 1 handed back", "version 2 over the top half", "a local retouch"]
)
def test_reading_versions_from_one_another_records_what_whole_decodes_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    seen = []
    read_near = restore.decode_png_near

    def spy(data: bytes, ref: bytes, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        got = read_near(data, ref, pixels)
        seen.append(got is not None and not got[1].all())
        return got

    results = []
    for near in (True, False):
        with Project.init(tmp_path / f"near-{near}") as project:
            final = _finals(_history(project))[case]
            project.cache.clear()  # as in a fresh process: no version decoded yet
            monkeypatch.setattr(restore, "decode_png_near", spy if near else lambda *_a: None)
            rec = wf.record_final(project, SHOT, final, "Ren")
            project.cache.clear()
            if near:
                verify_project(project)  # the replay reads them from one another too
            history = wf.PlateHistory.load(project, SHOT)
            state = history.state()
            credits = replay_plate(history, state)
            monkeypatch.undo()
            results.append(
                (
                    rec.stats,
                    [
                        p.tobytes()
                        for p in (state.raster.cls, state.raster.human, state.raster.flags)
                    ],
                    state.raster.base.tobytes() if state.raster.base is not None else None,
                    {a: w.tobytes() for a, w in credits.weights.items()},
                )
            )
    assert any(seen), "no version was read from the next one's PNG: the test tests nothing"
    assert results[0] == results[1]
    if case == "version 1 handed back":
        assert results[0][0]["returned_px"] > 0
