"""Issue 22 in a real browser (Debian's Chromium driven by Playwright against `bgart ui` on a
free loopback port): the login lockout is shown; the artist submits with a note; the
director finds the shot in the queue and draws a retake mark with a comment; the artist sees
it, paints in an external editor and uploads a layered PSD, resubmits; the director accepts
from the keyboard; the Compare tab shows variations, the A/B slider and the heat overlay.
Then the ledger holds each act by the right person and verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    log_in,
    require_browser,
    running_ui,
    wait_status,
)
from helpers.images import generated_png, make_record, natural_plate
from helpers.ui import PASSWORDS, PLATE_H, PLATE_W, SHOT, make_project, ui_env, write_prompts

from bgart.verify import verify_project

pytestmark = pytest.mark.browser


@pytest.fixture
def review_server(tmp_path: Path, tiny_env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """`bgart ui` in a subprocess on a project whose shot has two recorded variations."""
    require_browser()
    from bgart import plates as workflow
    from bgart.ledger import Project

    project = make_project(tmp_path / "show")
    with Project.open(project) as proj:
        for seed in (1, 2):
            png, record = generated_png(
                natural_plate(PLATE_W, PLATE_H, seed),
                make_record(PLATE_W, PLATE_H, seeds=(seed,), prompt="quiet street"),
            )
            workflow.record_generated(proj, SHOT, png, record, "alice")
    env = ui_env(tiny_env, write_prompts(tmp_path / "prompts"))
    with running_ui(project, env, tmp_path) as url:
        yield url, project


def _open_shot(page: Any) -> None:
    page.wait_for_selector("#shot-gallery .thumbnail-item", timeout=30_000)
    page.locator("#shot-gallery .thumbnail-item").first.click()
    wait_status(page, f"opened {SHOT}")


def _layered_psd(project_dir: Path, out: Path) -> Path:
    """What the artist brings back from their editor: the downloaded plate with a layer of
    their paint over its left half."""
    from PIL import Image
    from psd_tools import PSDImage
    from psd_tools.api.layers import PixelLayer

    from bgart import plates as workflow
    from bgart.credits import PsdLayer, export_psd
    from bgart.ledger import Project

    with Project.open(project_dir) as proj:
        plate = Image.fromarray(np.array(workflow.plate_state(proj, SHOT).image))
    export_psd(out, [PsdLayer("plate", plate)], plate.size, composite=plate)
    psd = PSDImage.open(out)
    paint = Image.new("RGBA", plate.size, (0, 0, 0, 0))
    paint.paste((30, 170, 230, 255), (0, 0, plate.width // 2, plate.height))
    psd.append(PixelLayer.frompil(paint, psd, "@alice sky"))
    psd.save(out)
    return out


def test_director_queue_retake_psd_round_trip_and_accept(
    review_server: tuple[str, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url, project_dir = review_server
    shots = tmp_path / "screens"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # ---- a name locked after repeated wrong passwords is told so ------------------
            page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            page.goto(url)
            page.wait_for_selector("input[type=password]")
            for _ in range(5):
                page.get_by_label("username").fill("mallory")
                page.get_by_label("password").fill("wrong")
                page.get_by_role("button", name="Login").click()
                page.wait_for_timeout(250)
            message = page.locator("#bgart-login-message")
            message.wait_for(timeout=10_000)
            assert "'mallory' is locked for" in message.inner_text()
            page.screenshot(path=str(shots / "01-lockout.png"))

            # ---- the director's queue is empty; the artist submits with a note ------------
            director = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            log_in(director, url, "dora", PASSWORDS["dora"])
            director.wait_for_selector("#shot-gallery .thumbnail-item", timeout=30_000)
            director.get_by_role("tab", name="Review").click()
            director.locator("#queue-next").click()
            wait_status(director, "the review queue is empty")

            artist = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            log_in(artist, url, "alice", PASSWORDS["alice"])
            _open_shot(artist)
            # the variations recorded before the UI started are there to pick from
            artist.get_by_role("tab", name="Generate").click()
            artist.locator("#candidates .thumbnail-item").nth(1).wait_for(timeout=15_000)
            assert "current plate" in artist.locator("#candidates").inner_text()
            artist.get_by_role("tab", name="Retouch").click()
            artist.locator("#submit-note textarea").fill("first pass, sky as agreed")
            artist.locator("#submit-plate").click()
            wait_status(artist, "v1 submitted for review")
            assert artist.locator("#submit-note textarea").input_value() == ""  # sent with it

            # ---- the director: queue, retake mark with a comment --------------------------
            director.locator("#queue-next").click()
            wait_status(director, f"opened {SHOT}")
            assert SHOT in director.locator("#review-queue").inner_text()
            director.get_by_text("Retake marks: draw on the plate").click()
            canvas = director.locator("#mark-editor canvas").first
            canvas.wait_for(state="attached", timeout=15_000)
            director.wait_for_timeout(1500)  # the plate is drawn into the editor
            box = canvas.bounding_box()
            assert box is not None
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            director.mouse.move(cx - 40, cy - 20)
            director.mouse.down()
            for x, y in ((cx + 40, cy - 20), (cx + 40, cy + 20), (cx - 40, cy + 20)):
                director.mouse.move(x, y, steps=4)
            director.mouse.up()
            director.wait_for_timeout(1500)  # the stroke reaches the editor's value
            director.screenshot(path=str(shots / "02-mark-drawn.png"), full_page=True)
            director.locator("#mark-comment textarea").fill("sky too cold here")
            director.locator("#mark-shape").get_by_text("its outline").click()
            director.locator("#mark-add").click()
            wait_status(director, "region 1 added")
            assert "sky too cold here" in director.locator("#mark-pending").inner_text()
            director.locator("#retake-send").click()
            wait_status(director, "retake sent: 1 region(s) marked")
            director.screenshot(path=str(shots / "03-retake-sent.png"), full_page=True)

            # ---- the artist sees it, paints in an editor, uploads the PSD, resubmits ------
            artist.reload()
            _open_shot(artist)
            artist.get_by_role("tab", name="Retouch").click()
            artist.locator("#retake-list").get_by_text("sky too cold here").wait_for(timeout=15_000)
            artist.locator("#retake-overlay img").wait_for(timeout=15_000)
            artist.get_by_text("External editor: PSD/PNG out and back").click()
            artist.locator("#download-psd").click()
            wait_status(artist, f"{SHOT}_v1.psd ready")
            psd = _layered_psd(project_dir, tmp_path / "from-krita.psd")
            artist.locator("#upload-final input[type=file]").set_input_files(str(psd))
            artist.wait_for_timeout(1500)  # the upload lands
            artist.locator("#upload-final-btn").click()
            wait_status(artist, "upload recorded as v2")
            artist.locator("#submit-note textarea").fill("sky warmed in Krita")
            artist.locator("#submit-plate").click()
            wait_status(artist, "v2 submitted for review")
            artist.screenshot(path=str(shots / "04-resubmitted.png"), full_page=True)

            # ---- the director accepts from the keyboard; Accept again records nothing -----
            director.locator("#queue-next").click()
            wait_status(director, f"opened {SHOT}")
            director.locator("#review-queue").click()  # focus off any text field
            director.keyboard.press("a")
            wait_status(director, f"{SHOT} accepted")
            director.locator("#accept-btn").click()  # a second click
            wait_status(director, "already accepted in v2: nothing recorded")

            # ---- compare: variations, A/B slider, heat overlay with its legend outside ----
            director.get_by_role("tab", name="Compare").click()
            director.locator("#cmp-strip img").wait_for(timeout=15_000)
            director.locator("#cmp-heat img").wait_for(timeout=15_000)
            assert "human paint" in director.locator("#cmp-legend").inner_text()
            director.locator("#cmp-slider img").first.wait_for(timeout=15_000)
            director.screenshot(path=str(shots / "05-compare.png"), full_page=True)
        except Exception:
            for c, ctx in enumerate(browser.contexts):
                for i, pg in enumerate(ctx.pages):
                    pg.screenshot(path=str(shots / f"failure-{c}-{i}.png"), full_page=True)
            raise
        finally:
            browser.close()

    from bgart import plates as workflow
    from bgart.ledger import Project

    with Project.open(project_dir) as project:
        acts = [(ev.kind, ev.actor) for ev in project.ledger.events(shot=SHOT)][3:]
        assert acts == [
            ("plate.submitted", "alice"),
            ("plate.retake_marked", "dora"),
            ("plate.rejected", "dora"),
            ("human.painted", "alice"),
            ("plate.submitted", "alice"),
            ("plate.accepted", "dora"),
        ], acts
        events = project.ledger.events(shot=SHOT)
        assert events[3].payload["comment"] == "first pass, sky as agreed"
        (region,) = events[4].payload["regions"]
        assert region["comment"] == "sky too cold here" and region["shape"] == "polygon"
        xs, ys = zip(*region["points"], strict=True)
        assert len(xs) >= 3 and 0 <= min(xs) < max(xs) <= PLATE_W
        assert 0 <= min(ys) < max(ys) <= PLATE_H
        assert events[6].payload["source"] == "psd"
        figs = workflow.plate_figures(project, SHOT)
        assert figs["human_paint_share"] == pytest.approx(0.5, abs=0.02)
        assert figs["status"] == "accepted"
        verify_project(project)
