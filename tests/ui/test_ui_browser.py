"""The whole loop in a real browser: Debian's Chromium driven by Playwright against
`bgart ui` running on a free loopback port with the tiny model.

log in (a wrong password first) → open a shot → generate → pick a variation → paint a real
mouse stroke → save → log in as the director → heat map → accept; then the ledger must hold
each act with the right user, and the plate's human share must be exactly what the saved
brush layer gives. A screenshot of each step lands in the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import helpers.browser as browser_helpers
import numpy as np
import pytest
from bgart.ui.server import UI_DIR
from helpers.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    fill_settled,
    log_in,
    require_browser,
    running_ui,
    wait_status,
)
from helpers.ui import LAYOUT_ARTIST, PASSWORDS, SHOT, make_project, ui_env, write_prompts

from bgart.verify import verify_project

pytestmark = pytest.mark.browser


def test_a_missing_browser_skips_or_fails_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser_helpers, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("BGART_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        require_browser()
    monkeypatch.setenv("BGART_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing"):
        require_browser()


@pytest.fixture
def ui_server(tmp_path: Path, tiny_env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """`bgart ui` in a subprocess on a free port; yields (url, project folder)."""
    require_browser()
    project = make_project(tmp_path / "show")
    env = ui_env(tiny_env, write_prompts(tmp_path / "prompts"))
    with running_ui(project, env, tmp_path) as url:
        yield url, project


class Steps:
    """Screenshots named by step, in order, under the test's tmp dir."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def shot(self, page: Any, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def _settle(page: Any) -> None:
    """Let pending updates (the faded 'pending' overlays) finish before a screenshot."""
    page.wait_for_function("() => !document.querySelector('.pending')", timeout=15_000)
    page.wait_for_timeout(300)


def _open_shot(page: Any) -> None:
    page.wait_for_selector("#shot-gallery .thumbnail-item", timeout=30_000)
    page.locator("#shot-gallery .thumbnail-item").first.click()
    wait_status(page, f"opened {SHOT}")


def _check_served_files(page: Any, url: str, project_dir: Path) -> None:
    """Nothing outside the project folder is served, not even to a logged-in user; the
    images the page shows are copies inside the project's UI folder."""
    for path in (
        "/etc/passwd",
        project_dir / "bgart.db",
        project_dir / "bgart.toml",
        project_dir / "blobs",
    ):
        resp = page.request.get(f"{url}gradio_api/file={path}")
        assert resp.status in (403, 404), f"{path} was served ({resp.status})"
    sources = page.eval_on_selector_all("img", "els => els.map(e => e.src)")
    served = [unquote(src.split("file=", 1)[1]) for src in sources if "file=" in src]
    assert served, sources
    ui_dir = (project_dir / UI_DIR).resolve()
    outside = [p for p in served if not Path(p).resolve().is_relative_to(ui_dir)]
    assert not outside, outside


def test_artist_and_director_do_the_whole_loop_in_the_browser(
    ui_server: tuple[str, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url, project_dir = ui_server
    steps = Steps(tmp_path / "screens")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # ---- the artist ------------------------------------------------------------
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            log_in(page, url, "alice", "not her password", wait=False)
            page.get_by_text("Incorrect Credentials").wait_for(timeout=15_000)
            steps.shot(page, "wrong-password-refused")
            assert page.locator("input[type=password]").count() == 1  # still at the door

            page.get_by_label("username").fill("alice")  # the form was cleared
            page.get_by_label("password").fill(PASSWORDS["alice"])
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("#shot-gallery .thumbnail-item", timeout=30_000)
            assert "alice" in page.locator("#whoami").inner_text()
            _settle(page)
            steps.shot(page, "logged-in-shots")

            _open_shot(page)
            page.locator("#layout-view img").wait_for(timeout=15_000)
            assert "no plate" in page.locator("#shot-status").inner_text()
            _settle(page)
            steps.shot(page, "shot-opened-layout")

            page.get_by_role("tab", name="Generate").click()
            fill_settled(page, "#prompt textarea", "quiet street at dusk, wet asphalt")
            page.locator("#generate-btn").click()
            said = wait_status(page, "generated 2 variation(s)", timeout=60_000)
            assert "#1, #2" in said
            page.locator("#candidates .thumbnail-item").nth(1).wait_for()
            _settle(page)
            steps.shot(page, "generated")
            _check_served_files(page, url, project_dir)

            page.locator("#candidates .thumbnail-item").nth(1).click()
            page.locator("#use-variation").click()
            wait_status(page, "candidate #2 is now the plate")
            _settle(page)
            steps.shot(page, "variation-chosen")

            page.get_by_role("tab", name="Retouch").click()
            page.wait_for_function(  # the chosen plate (v2) is on the painting surface
                "s => { const st = window.bgartCanvas && window.bgartCanvas.state();"
                " return st && st.shot === s && st.version === 2 && st.width > 0; }",
                arg=SHOT,
                timeout=15_000,
            )
            box = page.locator("#bgc-view").bounding_box()
            assert box is not None
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx - 50, cy - 12)
            page.mouse.down()
            for i in range(1, 6):  # a real stroke, left to right and slightly down
                page.mouse.move(cx - 50 + i * 20, cy - 12 + i * 5)
            page.mouse.up()
            page.wait_for_timeout(1500)  # the edit is reported; some active time passes
            steps.shot(page, "stroke-painted")
            page.locator("#save-paint").click()
            wait_status(page, "paint saved")
            _settle(page)
            steps.shot(page, "paint-saved")
            assert "in retouch" in page.locator("#shot-status").inner_text()

            # ---- the director ----------------------------------------------------------
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            log_in(page, url, "dora", PASSWORDS["dora"])
            _open_shot(page)
            page.get_by_role("tab", name="Review").click()
            page.locator("#heat-toggle input").check()
            page.wait_for_function(
                "() => (document.querySelector('#figures')?.innerText || '').includes('Human')"
            )
            _settle(page)
            steps.shot(page, "review-heatmap")
            page.locator("#review-comment textarea").fill("good sky, accepted")
            page.locator("#accept-btn").click()
            wait_status(page, f"{SHOT} accepted")
            _settle(page)
            steps.shot(page, "accepted")
            assert "accepted" in page.locator("#shot-status").inner_text()
        except Exception:
            for ctx in browser.contexts:
                for pg in ctx.pages:
                    pg.screenshot(path=str(tmp_path / "screens" / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    # ---- the ledger: each act, by whom ---------------------------------------------------
    from bgart import plates as workflow
    from bgart import provenance as contribution
    from bgart.images import open_image
    from bgart.ledger import Project

    with Project.open(project_dir) as project:
        events = project.ledger.events(shot=SHOT)
        acts = [(ev.kind, ev.actor) for ev in events]
        model = events[1].actor
        assert acts == [
            ("layout.imported", LAYOUT_ARTIST),
            ("ai.generated", model),
            ("ai.generated", model),
            ("variation.selected", "alice"),
            ("human.painted", "alice"),
            ("plate.accepted", "dora"),
        ], acts
        assert model == "tiny-sd15"
        assert [ev.payload["requested_by"] for ev in events[1:3]] == ["alice", "alice"]
        assert events[3].payload["candidate"] == 2 and events[3].payload["candidates"] == 2
        assert events[5].payload["comment"] == "good sky, accepted"
        painted = events[4]
        assert painted.payload["active_seconds"] > 0  # the stroke was timed

        # The human share is the stroke's share of the plate, from the layer the server saved.
        layer = np.asarray(open_image(project.blobs.get(painted.blobs["layer"]), mode="RGBA"))
        before = workflow.plate_state(project, SHOT, version=painted.payload["base_version"])
        alpha = layer[..., 3]
        _after, visible, _changed = contribution.composite(before.image, layer[..., :3], alpha)
        expected = float((alpha.astype(np.float64) / 255.0)[visible].sum() / visible.size)
        figs = workflow.plate_figures(project, SHOT)
        assert expected > 0
        assert figs["human_paint_share"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        assert figs["status"] == "accepted" and figs["approver"] == "dora"
        verify_project(project)
