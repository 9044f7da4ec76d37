"""A layered PSD written by another program: GIMP 2.10 headless (issue 18, part 4).

GIMP opens the AI plate's PNG and adds layers over it, as an artist would; the PSD it writes
goes through `bgart ledger import-final`, and the figures come from `bgart ledger show
--json` and the credit report. GIMP's own flattened export of the same image is what the
artist saw. Skips without `gimp-console-2.10` (fails under BGART_REQUIRE_ALL, as in CI).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import gimp as gimp_helpers
from helpers.cli import ai_plate_project, ledger_cli
from helpers.gimp import GimpLayer, require_gimp, run_gimp, scene_script
from helpers.images import natural_plate
from PIL import Image
from psd_tools import PSDImage
from psd_tools.constants import BlendMode

from bgart import plates as wf
from bgart.credits import ModelCatalog, build_report
from bgart.ledger import Project

W, H = 160, 120
QUARTER = (W // 2) * (H // 2)
SHOT = "ep18_c003"
SCREEN_OPACITY = 60.0  # percent in GIMP: 153/255 in the PSD

LAYERS = [
    GimpLayer("sky", (0, 0, W // 2, H // 2), (250, 40, 40), "LAYER-MODE-NORMAL"),
    GimpLayer("@Rui shadows", (W // 2, 0, W, H // 2), (10, 10, 10), "LAYER-MODE-MULTIPLY"),
    GimpLayer(
        "@Sora light",
        (0, H // 2, W // 2, H),
        (230, 30, 120),
        "LAYER-MODE-SCREEN",
        opacity=SCREEN_OPACITY,
    ),
    GimpLayer("@Rui glaze", (W // 2, H // 2, W, H), (230, 30, 120), "LAYER-MODE-OVERLAY"),
    GimpLayer("@Rui draft", (0, 0, W, H), (0, 255, 0), "LAYER-MODE-NORMAL", visible=False),
]
GLOW = GimpLayer("glow", (20, 20, 60, 50), (250, 250, 40), "LAYER-MODE-DODGE")


@pytest.fixture(scope="module")
def gimp_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """One GIMP run over the AI plate's PNG: ``painted`` (LAYERS, each blending in
    perceptual RGB as Photoshop does), ``linear`` (the same layers in GIMP 2.10's default
    linear light) and ``dodge`` (painted plus a color-dodge layer), each a .psd and GIMP's
    flattened .png. Returns the folder and the plate."""
    require_gimp()
    folder = tmp_path_factory.mktemp("gimp")
    plate = natural_plate(W, H, seed=7)
    Image.fromarray(plate).save(folder / "plate.png")
    png = folder / "plate.png"
    run_gimp(
        [
            scene_script(png, LAYERS, folder / "painted", perceptual=True),
            scene_script(png, LAYERS, folder / "linear", perceptual=False),
            scene_script(png, [*LAYERS, GLOW], folder / "dodge", perceptual=True),
        ],
        folder,
    )
    return folder, plate


def _cli(*args: str, ok: bool = True) -> str:
    result = ledger_cli(*args, ok=ok)
    return result.stdout + result.stderr


def _import(root: Path, path: Path, ok: bool = True) -> str:
    return _cli(
        "ledger", "import-final", SHOT, str(path), "--artist", "Mika", "-p", str(root), ok=ok
    )


def _show(root: Path) -> dict[str, object]:
    return json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))


def test_gimp_writes_the_modes_bgart_reads(gimp_files: tuple[Path, np.ndarray]) -> None:
    """What GIMP's exporter writes, read back with psd-tools: PSD's norm/mul /scrn/over keys,
    60 % as 153, the hidden layer hidden, the plate at the bottom, 8-bit RGB."""
    folder, plate = gimp_files
    psd = PSDImage.open(folder / "painted.psd")
    assert (psd.depth, str(psd.color_mode.name), psd.size) == (8, "RGB", (W, H))
    got = [(x.name, x.blend_mode, x.opacity, x.visible) for x in psd]
    assert got == [
        ("plate", BlendMode.NORMAL, 255, True),
        ("sky", BlendMode.NORMAL, 255, True),
        ("@Rui shadows", BlendMode.MULTIPLY, 255, True),
        ("@Sora light", BlendMode.SCREEN, 153, True),
        ("@Rui glaze", BlendMode.OVERLAY, 255, True),
        ("@Rui draft", BlendMode.NORMAL, 255, False),
    ]
    assert (np.asarray(psd[0].topil().convert("RGB")) == plate).all()


def test_a_gimp_psd_credits_each_layer_to_its_artist(
    gimp_files: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    folder, plate = gimp_files
    root = ai_plate_project(tmp_path / "show", SHOT, plate)
    before = len(_show(root)["events"])  # type: ignore[arg-type]
    _import(root, folder / "painted.psd")
    events = _show(root)["events"][before:]  # type: ignore[index]
    # the bottom layer is the plate pixel for pixel: no event; the hidden layer: none; each
    # other layer one event by its artist, covering its quarter, every pixel visibly changed
    assert [
        (e["kind"], e["actor"], e["payload"]["filename"], e["payload"]["stats"]["area_px"])
        for e in events
    ] == [
        ("human.painted", "Mika", "painted.psd › sky", QUARTER),
        ("human.painted", "Rui", "painted.psd › @Rui shadows", QUARTER),
        ("human.painted", "Sora", "painted.psd › @Sora light", QUARTER),
        ("human.painted", "Rui", "painted.psd › @Rui glaze", QUARTER),
    ]
    assert all(e["payload"]["stats"]["credited_px"] == QUARTER for e in events)
    # known answer: three opaque quarters (h = 1) and one at opacity 153/255
    screen = 153 / 255
    figs = _show(root)["plates"]["main"]  # type: ignore[index]
    assert figs["human_paint_share"] == pytest.approx((3 + screen) / 4, abs=1e-6)  # type: ignore[index]
    assert figs["ai_gen_share"] == pytest.approx((1 - screen) / 4, abs=1e-6)  # type: ignore[index]
    with Project.open(root) as project:
        report = build_report(project, catalog=ModelCatalog(), thumbnails=False)
        shares = {c.name: c.human_paint_share for c in report.plates[0].contributors}
        latest = np.asarray(wf.plate_state(project, SHOT).image).astype(int)
    assert shares.pop("aki") == 0.0  # who ran the model: no paint
    assert shares == pytest.approx({"Mika": 0.25, "Rui": 0.5, "Sora": screen / 4}, abs=1e-6)
    # the plate is the picture GIMP showed: its flattened export, within one level (GIMP
    # blends in float and rounds once; bgart rounds the blend, then the composite)
    shown = np.asarray(Image.open(folder / "painted.png").convert("RGB")).astype(int)
    assert np.abs(latest - shown).max() <= 1
    assert _cli("ledger", "verify", "-p", str(root)).startswith("ledger ok: 5 events")


def test_a_mode_bgart_does_not_compute_is_refused_by_name(
    gimp_files: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    folder, plate = gimp_files
    root = ai_plate_project(tmp_path / "show", SHOT, plate)
    before = _show(root)["events"]
    out = _import(root, folder / "dodge.psd", ok=False)
    assert out.startswith("error: dodge.psd: layer 'glow' uses blend mode color dodge; only ")
    assert out.count("\n") == 1  # one line
    assert _show(root)["events"] == before  # checked before anything was written


def test_gimp_linear_light_layers_are_refused_not_miscredited(
    gimp_files: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """GIMP 2.10's default modes composite in linear light, which a PSD cannot say: the
    file's own flattened image differs visibly from the layers composed as PSD defines them,
    so bgart refuses it (naming where it differs first) rather than record a
    picture the artist never saw."""
    folder, plate = gimp_files
    shown = np.asarray(Image.open(folder / "linear.png").convert("RGB")).astype(int)
    composed = wf.read_layered((folder / "painted.psd").read_bytes(), "painted.psd").composite
    assert np.abs(shown - composed.astype(int)).max() > 10  # the two GIMP files do differ
    root = ai_plate_project(tmp_path / "show", SHOT, plate)
    before = _show(root)["events"]
    out = _import(root, folder / "linear.psd", ok=False)
    assert (
        "linear.psd: the layers compose to a picture visibly different from the file's own "
        "flattened image"
    ) in out
    # only the layer below full opacity composes differently: all of its quarter, named
    assert f"image at {QUARTER} pixels" in out and "x=0, y=60, layer '@Sora light'" in out
    assert "blend and composite space to RGB (perceptual)" in out
    assert _show(root)["events"] == before


def test_a_missing_gimp_skips_or_fails_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gimp_helpers, "GIMP_CONSOLE", "gimp-console-0.0-missing")
    monkeypatch.delenv("BGART_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"gimp-console-0\.0-missing is missing"):
        require_gimp()
    monkeypatch.setenv("BGART_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install gimp"):
        require_gimp()
