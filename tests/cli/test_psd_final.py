"""Layered PSD finals through `bgart ledger import-final` (issue 18, part 4).

The PSDs are built with psd-tools, as an artist's program would leave them: the plate as the
bottom layer and the artists' layers above it. Figures come from `bgart ledger show --json`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import ai_plate_project, ledger_cli
from helpers.images import natural_plate
from PIL import Image
from psd_tools import PSDImage
from psd_tools.api.layers import Group, PixelLayer
from psd_tools.constants import BlendMode

from bgart import plates as wf
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 160, 120
SHOT = "ep18_c002"

Quarter = tuple[int, int, int, int]  # left, top, right, bottom
TOP_LEFT: Quarter = (0, 0, W // 2, H // 2)
TOP_RIGHT: Quarter = (W // 2, 0, W, H // 2)
BOTTOM_LEFT: Quarter = (0, H // 2, W // 2, H)


def _cli(*args: str, ok: bool = True) -> str:
    result = ledger_cli(*args, ok=ok)
    return result.stdout + result.stderr


@pytest.fixture
def show(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A project with one AI plate."""
    plate = natural_plate(W, H, seed=7)
    return ai_plate_project(tmp_path / "show", SHOT, plate), plate


def _layer(
    psd: PSDImage | Group,
    owner: PSDImage,
    name: str,
    box: Quarter,
    colour: tuple[int, int, int],
    mode: BlendMode = BlendMode.NORMAL,
    alpha: int = 255,
) -> PixelLayer:
    left, top, right, bottom = box
    px = np.zeros((bottom - top, right - left, 4), np.uint8)
    px[..., :3] = colour
    px[..., 3] = alpha
    layer = PixelLayer.frompil(Image.fromarray(px, "RGBA"), owner, name, top=top, left=left)
    layer.blend_mode = mode
    psd.append(layer)
    return layer


def _psd(plate: np.ndarray) -> PSDImage:
    psd = PSDImage.new("RGB", (plate.shape[1], plate.shape[0]))
    psd.append(PixelLayer.frompil(Image.fromarray(plate), psd, "plate"))
    return psd


def _save(psd: PSDImage, path: Path) -> Path:
    psd.save(str(path))
    return path


def _import(root: Path, path: Path, artist: str = "Mika", ok: bool = True) -> str:
    return _cli(
        "ledger", "import-final", SHOT, str(path), "--artist", artist, "-p", str(root), ok=ok
    )


def _show(root: Path) -> dict[str, object]:
    return json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))


def _figures(root: Path) -> dict[str, object]:
    return _show(root)["plates"]["main"]  # type: ignore[index,return-value]


def _latest(root: Path) -> np.ndarray:
    with Project.open(root) as project:
        return np.asarray(wf.plate_state(project, SHOT).image)


def _verified(root: Path) -> None:
    with Project.open(root) as project:
        verify_project(project)


def test_each_layer_is_its_artists_and_hidden_layers_are_ignored(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    psd = _psd(plate)
    _layer(psd, psd, "sky", TOP_LEFT, (250, 40, 40))  # no prefix: --artist's (Mika)
    _layer(psd, psd, "@Rui shadows", TOP_RIGHT, (10, 10, 10), BlendMode.MULTIPLY)
    hidden = _layer(psd, psd, "@Rui draft", (0, 0, W, H), (0, 255, 0))
    hidden.visible = False
    path = _save(psd, tmp_path / "final.psd")
    before = len(_show(root)["events"])  # type: ignore[arg-type]
    _import(root, path)
    events = _show(root)["events"][before:]  # type: ignore[index]
    assert [(e["kind"], e["actor"], e["payload"]["source"]) for e in events] == [
        ("human.painted", "Mika", "psd"),
        ("human.painted", "Rui", "psd"),
    ]  # the bottom layer is the plate itself: no event for it; the hidden layer: none
    figs = _figures(root)
    assert figs["human_paint_share"] == pytest.approx(0.5, abs=0.005)
    assert sorted(figs["painters"]) == ["Mika", "Rui"]  # type: ignore[arg-type]
    # the plate is the picture the PSD shows (psd-tools' own composite truncates: ±2 levels)
    shown = np.asarray(PSDImage.open(path).composite(force=True).convert("RGB"))
    assert np.abs(_latest(root).astype(int) - shown.astype(int)).max() <= 2
    assert (_latest(root)[H // 2 :] == plate[H // 2 :]).all()  # under the hidden layer: the plate
    _verified(root)


@pytest.mark.parametrize("mode", [BlendMode.MULTIPLY, BlendMode.SCREEN, BlendMode.OVERLAY])
def test_blend_modes_are_computed(
    show: tuple[Path, np.ndarray], tmp_path: Path, mode: BlendMode
) -> None:
    root, plate = show
    psd = _psd(plate)
    colour = (230, 30, 120)
    _layer(psd, psd, "@Rui glaze", BOTTOM_LEFT, colour, mode, alpha=128)
    _import(root, _save(psd, tmp_path / "final.psd"))
    b = plate[H // 2 :, : W // 2].astype(int)
    c = np.array(colour)
    blended = {
        BlendMode.MULTIPLY: (b * c + 127) // 255,
        BlendMode.SCREEN: b + c - (b * c + 127) // 255,
        BlendMode.OVERLAY: np.where(
            b < 128, (2 * b * c + 127) // 255, 255 - (2 * (255 - b) * (255 - c) + 127) // 255
        ),
    }[mode]
    expected = (b * 127 + blended * 128 + 127) // 255
    assert (_latest(root)[H // 2 :, : W // 2] == expected).all()
    # half alpha over a quarter: h = 128/255 where the glaze visibly changed the plate
    human = float(_figures(root)["human_paint_share"])  # type: ignore[arg-type]
    assert 0.20 * 128 / 255 < human <= 0.25 * 128 / 255 + 1e-6
    _verified(root)


def test_another_blend_mode_is_refused_by_name_and_nothing_is_recorded(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    psd = _psd(plate)
    _layer(psd, psd, "@Rui sky", TOP_LEFT, (250, 40, 40))
    _layer(psd, psd, "glow", TOP_RIGHT, (250, 250, 40), BlendMode.COLOR_DODGE)
    before = _show(root)["events"]
    out = _import(root, _save(psd, tmp_path / "final.psd"), ok=False)
    assert "final.psd: layer 'glow' uses blend mode color dodge" in out
    assert _show(root)["events"] == before  # checked before anything was written


def test_a_group_prefix_names_its_layers_artist(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    psd = _psd(plate)
    group = Group.new(psd, "@Sora background")
    _layer(group, psd, "trees", TOP_LEFT, (20, 160, 40))
    _layer(group, psd, "@Rui house", TOP_RIGHT, (120, 60, 20))
    _import(root, _save(psd, tmp_path / "final.psd"))
    events = _show(root)["events"][-2:]  # type: ignore[index]
    assert [e["actor"] for e in events] == ["Sora", "Rui"]
    _verified(root)


def test_a_repainted_bottom_layer_is_a_final_and_a_new_plate_is_hand_painted(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    repainted = plate.copy()
    repainted[:, : W // 4] = (200, 40, 90)
    psd = _psd(repainted)
    _layer(psd, psd, "@Rui sky", TOP_RIGHT, (40, 40, 250))
    _import(root, _save(psd, tmp_path / "final.psd"))
    events = _show(root)["events"][-2:]  # type: ignore[index]
    assert [(e["actor"], e["payload"]["source"]) for e in events] == [
        ("Mika", "final"),
        ("Rui", "psd"),
    ]
    assert float(_figures(root)["human_paint_share"]) == pytest.approx(0.5, abs=0.005)  # type: ignore[arg-type]
    _verified(root)

    # onto a plate with no version: the bottom layer is a hand-painted import by --artist
    _cli(
        "ledger", "import-final", SHOT, str(tmp_path / "final.psd"), "--artist", "Mika",
        "-p", str(root), "--plate", "bg2",
    )  # fmt: skip
    figs = _show(root)["plates"]["bg2"]  # type: ignore[index]
    assert figs["human_paint_share"] == 1.0  # type: ignore[index]
    assert sorted(figs["painters"]) == ["Mika", "Rui"]  # type: ignore[index]
    _verified(root)


def test_unreadable_psd_features_are_refused_by_name(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    psd = _psd(plate)
    layer = _layer(psd, psd, "rim light", TOP_LEFT, (250, 250, 250))
    layer.clipping = True
    out = _import(root, _save(psd, tmp_path / "clip.psd"), ok=False)
    assert "clip.psd: layer 'rim light': a clipping layer is not read" in out
    small = _psd(plate[: H // 2])
    out = _import(root, _save(small, tmp_path / "small.psd"), ok=False)
    assert f"small.psd: the PSD is {W}x{H // 2} but plate 'main'" in out
    (tmp_path / "broken.psd").write_bytes(b"8BPS" + b"\0" * 40)
    out = _import(root, tmp_path / "broken.psd", ok=False)
    assert "broken.psd: not a readable PSD" in out


def test_layers_compose_like_the_file(tmp_path: Path) -> None:
    """The reader's picture is psd-tools' own composite, within its truncation (2 levels)."""
    plate = natural_plate(W, H, seed=3)
    psd = _psd(plate)
    rng = np.random.default_rng(5)
    for i, mode in enumerate([BlendMode.MULTIPLY, BlendMode.SCREEN, BlendMode.OVERLAY] * 2):
        x, y = int(rng.integers(0, W - 40)), int(rng.integers(0, H - 30))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        layer = _layer(psd, psd, f"l{i}", (x, y, x + 40, y + 30), colour, mode, alpha=200)  # type: ignore[arg-type]
        layer.opacity = 180
    buf = io.BytesIO()
    psd.save(buf)
    read = wf.read_layered(buf.getvalue(), "t.psd")
    shown = np.asarray(
        PSDImage.open(io.BytesIO(buf.getvalue())).composite(force=True).convert("RGB")
    )
    assert np.abs(read.composite.astype(int) - np.asarray(shown).astype(int)).max() <= 2
    assert (read.base == plate).all() and len(read.layers) == 6
