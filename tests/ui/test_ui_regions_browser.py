"""Regions drawn in the UI (issue 23, item 6) in a real browser: Debian's Chromium driven by
Playwright against `bgart ui` with the tiny model, at 1366×768.

The artist opens a shot, paints two regions over its layout in the Generate tab (a brush
stroke of real mouse moves for the sky, a fill bounded by the layout's lines for the town),
gives each its prompt, saves and generates. The ledger's record of each variation then
holds both regions (``extra["regions"]``, read through `bgart ledger show --json`), the map
it names is the saved one, the plate regenerates byte for byte from the project, and a
second page opening the shot shows the saved regions and prompts for editing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bgart.ui.regions import regions_path
from helpers.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    fill_settled,
    log_in,
    require_browser,
    running_ui,
    wait_status,
)
from helpers.cli import run_in_process
from helpers.ui import PASSWORDS, SHOT, layout_png, make_project, ui_env, write_prompts

from bgart.images import open_image
from bgart.inputs import load_regions

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/regions-ui.png")
SKY_AT = (128, 12)  # map pixels of the test layout (256×192): above every line
TOWN_AT = (20, 175)  # below the slanted line, left of the vertical one
EAST_AT = (230, 175)  # right of the vertical line: the town's fill stops at it


@pytest.fixture
def ui_server(tmp_path: Path, tiny_env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    require_browser()
    project = make_project(tmp_path / "show")
    env = ui_env(tiny_env, write_prompts(tmp_path / "prompts"))
    with running_ui(project, env, tmp_path) as url:
        yield url, project


def _state(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("() => window.bgartRegions.state()"))


def _open_regions(page: Any) -> None:
    """Open the shot in the gallery, then the Generate tab's regions panel; wait until the
    painter shows the shot's layout."""
    page.locator("#shot-gallery .thumbnail-item").first.click()
    wait_status(page, f"opened {SHOT}")
    page.get_by_role("tab", name="Generate").click()
    page.locator("#regions").get_by_text("Regions: a prompt per area").first.click()
    page.wait_for_function(
        "c => { const s = window.bgartRegions && window.bgartRegions.state();"
        " return s && !s.busy && s.shot === c && s.width > 0; }",
        arg=SHOT,
        timeout=20_000,
    )
    page.locator("#bgr-stage").evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)  # the scroll lands before points are placed on the stage


def _at(page: Any, x: float, y: float) -> tuple[float, float]:
    p = page.evaluate("([x, y]) => window.bgartRegions.toScreen(x, y)", [x, y])
    return float(p["x"]), float(p["y"])


def _label(page: Any, xy: tuple[int, int]) -> int:
    return int(page.evaluate("([x, y]) => window.bgartRegions.label(x, y)", list(xy)))


def test_regions_painted_in_the_browser_are_saved_and_drive_generate(
    ui_server: tuple[str, Path], tmp_path: Path, tiny_env: dict[str, str]
) -> None:
    from playwright.sync_api import sync_playwright

    url, project = ui_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
            log_in(page, url, "alice", PASSWORDS["alice"])
            _open_regions(page)
            assert _state(page)["width"] == 256 and _state(page)["height"] == 192

            page.locator("#bgr-swatch-0").click()  # the sky: a brush stroke along the top
            page.locator("#bgr-brush").click()
            page.mouse.move(*_at(page, 6, 12))
            page.mouse.down()
            for x in range(30, 251, 20):
                page.mouse.move(*_at(page, x, 12), steps=3)
            page.mouse.up()
            page.locator("#bgr-prompt-0").fill("evening sky")

            page.locator("#bgr-swatch-1").click()  # the town: a fill up to the layout's lines
            page.locator("#bgr-fill").click()
            page.mouse.click(*_at(page, *TOWN_AT))
            page.locator("#bgr-prompt-1").fill("old shops")

            state = _state(page)
            assert state["dirty"] and state["areas"][0] > 0 and state["areas"][1] > 0
            assert _label(page, SKY_AT) == 1 and _label(page, TOWN_AT) == 2
            assert _label(page, EAST_AT) == 0  # the fill stopped at the vertical line
            page.mouse.move(2, 2)  # no hover or button transition in the picture
            page.wait_for_timeout(400)
            page.screenshot(path=str(SCREENSHOT))
            shutil.copy(SCREENSHOT, tmp_path / "regions-ui.png")
            for sel in ("#bgr-stage", "#bgr-prompt-1", "#bgr-brush", "#bgr-clear"):
                assert page.locator(sel).is_visible(), sel

            page.locator("#save-regions").click()
            wait_status(page, f"regions of {SHOT} saved (2 regions")
            page.wait_for_function("() => !window.bgartRegions.state().dirty", timeout=20_000)
            fill_settled(page, "#prompt textarea", "station square at dusk")
            page.locator("#generate-btn").click()
            wait_status(page, "generated 2 variation(s)", timeout=120_000)

            # another page (a director, say) opens the shot: the saved regions come back
            again = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
            log_in(again, url, "dora", PASSWORDS["dora"])
            _open_regions(again)
            shown = _state(again)
            assert shown["prompts"][:2] == ["evening sky", "old shops"] and not shown["dirty"]
            assert "2 in use" in again.locator("#regions").inner_text()
            assert _label(again, SKY_AT) == 1 and _label(again, TOWN_AT) == 2
            assert _label(again, EAST_AT) == 0
            assert again.locator("#bgr-prompt-1").input_value() == "old shops"
        except Exception:
            for ctx in browser.contexts:
                for pg in ctx.pages:
                    pg.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    # the saved file is the shot list's format, and its map is what was painted
    saved = regions_path(project, SHOT)
    regions = load_regions(saved)
    assert [p for _, p in regions.prompts] == ["evening sky", "old shops"]
    rgb = np.asarray(open_image(regions.map.data, mode="RGB"), np.uint8)
    sky, town = (tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c, _ in regions.prompts)
    assert tuple(rgb[SKY_AT[1], SKY_AT[0]]) == sky and tuple(rgb[TOWN_AT[1], TOWN_AT[0]]) == town
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) == 3  # flat: two regions and the rest

    # the ledger: every variation was rendered with those regions
    shown = run_in_process(["ledger", "show", SHOT, "--project", str(project), "--json"], tiny_env)
    assert shown.returncode == 0, shown.show()
    made = [e for e in json.loads(shown.stdout)["events"] if e["kind"] == "ai.generated"]
    assert len(made) == 2
    map_sha = hashlib.sha256(saved.with_suffix(".png").read_bytes()).hexdigest()
    for event in made:
        entry = event["payload"]["record"]["extra"]["regions"]
        assert entry["map_sha256"] == map_sha
        assert [c for c, _ in entry["prompts"]] == [c for c, _ in regions.prompts]
        assert entry["prompts"][0][1].startswith("evening sky, ")
        assert entry["prompts"][1][1].startswith("old shops, ")

    # and the plate regenerates byte for byte, the map from the project
    from bgart.ledger import Project

    with Project.open(project) as opened:
        plate = opened.blobs.get(made[0]["blobs"]["image"])
    (tmp_path / "plate.png").write_bytes(plate)
    (tmp_path / "layout.png").write_bytes(layout_png())
    args = ["regenerate", str(tmp_path / "plate.png"), "--layout", str(tmp_path / "layout.png")]
    args += ["--out", str(tmp_path / "again.png"), "--check", "--project", str(project)]
    done = run_in_process(args, tiny_env)
    assert done.returncode == 0 and "identical" in done.stderr, done.show()
