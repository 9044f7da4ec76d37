"""Global gradient maps and vignettes are adjustments, not paint (issue 18, Deliver 3).

Known answers through `bgart ledger import-final`, figures from `bgart ledger show --json`;
each project verifies at the end. Local edits of the same kind stay paint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import ai_plate_project, ledger_cli
from helpers.images import natural_plate
from PIL import Image

from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 160, 120
SHOT = "ep18_c003"
LUMA = {"601": (77, 150, 29), "709": (54, 183, 19)}


def _cli(*args: str) -> str:
    return ledger_cli(*args).stdout


@pytest.fixture
def show(tmp_path: Path) -> tuple[Path, np.ndarray]:
    plate = natural_plate(W, H, seed=4)
    return ai_plate_project(tmp_path / "show", SHOT, plate), plate


def _final(root: Path, tmp: Path, arr: np.ndarray) -> dict[str, float]:
    path = tmp / "final.png"
    Image.fromarray(arr).save(path)
    _cli("ledger", "import-final", SHOT, str(path), "--artist", "Mika", "-p", str(root))
    with Project.open(root) as project:
        verify_project(project)
    data = json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))
    return data["plates"]["main"]


def _luma(plate: np.ndarray, weights: tuple[int, int, int]) -> np.ndarray:
    p = plate.astype(np.int64)
    return (weights[0] * p[..., 0] + weights[1] * p[..., 1] + weights[2] * p[..., 2] + 128) >> 8


def _radius() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.sqrt(((xx + 0.5 - W / 2) / (W / 2)) ** 2 + ((yy + 0.5 - H / 2) / (H / 2)) ** 2)


def _vignette(plate: np.ndarray, white: bool, strength: float = 0.6) -> np.ndarray:
    gain = (1 - strength * np.clip((_radius() - 0.4) / 1.0, 0, 1) ** 2)[..., None]
    p = plate.astype(np.float64)
    out = 255 - (255 - p) * gain if white else p * gain
    return np.rint(out).astype(np.uint8)


@pytest.mark.parametrize("luma", ["601", "709"])
def test_a_gradient_map_is_an_adjustment(
    show: tuple[Path, np.ndarray], tmp_path: Path, luma: str
) -> None:
    root, plate = show
    t = (_luma(plate, LUMA[luma]) / 255.0)[..., None]
    dark, light = np.array([20, 30, 90]), np.array([255, 190, 80])  # a duotone
    mapped = np.rint(dark * (1 - t) + light * t).astype(np.uint8)
    figs = _final(root, tmp_path, mapped)
    assert figs["human_paint_share"] < 0.02  # v1 and v2 before this: 100 %
    assert figs["adjust_share"] > 0.9


@pytest.mark.parametrize("white", [False, True])
def test_a_vignette_is_an_adjustment(
    show: tuple[Path, np.ndarray], tmp_path: Path, white: bool
) -> None:
    root, plate = show
    figs = _final(root, tmp_path, _vignette(plate, white))
    assert figs["human_paint_share"] < 0.02  # before: 63–65 %
    assert figs["adjust_share"] > 0.5


def test_a_stroke_over_a_vignette_still_counts(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    final = _vignette(plate, False)
    final[10:34, 16:56] = (30, 200, 60)  # 960 px = 5 % of the plate, where it darkens
    figs = _final(root, tmp_path, final)
    assert figs["human_paint_share"] == pytest.approx(0.05, abs=0.005)


@pytest.mark.parametrize("where", ["left half", "centre"])
def test_local_burns_and_dodges_stay_paint(
    show: tuple[Path, np.ndarray], tmp_path: Path, where: str
) -> None:
    root, plate = show
    if where == "left half":  # a burn over half the plate
        edited = plate.copy()
        edited[:, : W // 2] = np.rint(edited[:, : W // 2] * 0.6).astype(np.uint8)
        expected = 0.45
    else:  # a dodge in the middle: the opposite of a vignette
        gain = (1 + 0.5 * np.clip(1 - _radius(), 0, 1))[..., None]
        edited = np.rint(np.clip(plate * gain, 0, 255)).astype(np.uint8)
        expected = 0.4
    assert _final(root, tmp_path, edited)["human_paint_share"] > expected
    # handed back untouched: the AI's again (a return, though it reads as an adjustment),
    # but for the few pixels the edit's tone fit took as adjusted: their base became the
    # edited value (docs/contribution.md, limits)
    assert _final(root, tmp_path, plate)["human_paint_share"] < 0.02


def test_an_adjustment_handed_back_over_paint_is_a_return(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """Paint, a global +12 adjustment, then the untouched AI plate handed back: the
    returning painted pixels are left out of the tone fit, so the whole plate is the AI's."""
    root, plate = show
    painted = plate.copy()
    painted[8:40, 8:40] = (0, 0, 0)
    assert _final(root, tmp_path, painted)["human_paint_share"] > 0.05
    lighter = np.clip(painted.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    figs = _final(root, tmp_path, lighter)
    assert figs["adjust_share"] > 0.8
    assert _final(root, tmp_path, plate)["human_paint_share"] < 0.005


def test_a_flat_fill_of_the_darks_is_paint(show: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    """A fill sends a whole luma range to one colour, as a gradient map to one colour
    would: it flattens the picture there, so it is paint."""
    root, plate = show
    dark = _luma(plate, LUMA["601"]) < 100
    fill = plate.copy()
    fill[dark] = (200, 40, 90)
    figs = _final(root, tmp_path, fill)
    assert figs["human_paint_share"] == pytest.approx(dark.mean(), abs=0.01)
