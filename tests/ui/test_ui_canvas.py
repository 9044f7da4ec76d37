"""The painting surface (issue 22, item 1) in a real browser: Debian's Chromium driven by
Playwright against `bgart ui` with the tiny model.

Real mouse strokes and synthetic pen strokes (PointerEvents with pointerType "pen" and a
pressure), undo/redo and the shortcuts, the mask painted on the same canvas driving an AI
fix, unsaved strokes kept as a draft across a shot switch and a closed tab, a new shot's
first plate reaching the canvas, and the layout at 1366×768 and 1920×1080 (the canvas fills
the window; the controls are visible without scrolling). Screenshots land in the test's
tmp dir.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bgart.ui.canvas import read_payload
from helpers.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    fill_settled,
    log_in,
    require_browser,
    running_ui,
    wait_status,
)
from helpers.ui import PASSWORDS, PLATE_H, PLATE_W, SHOT, make_project, ui_env, write_prompts

from bgart.ledger import Project
from bgart.verify import verify_project

pytestmark = pytest.mark.browser

SMALL = "EP01_C002"  # a plate of the test size, for the AI fix
WIDE = "EP01_C003"  # the 768×512 plate
WIDE_W, WIDE_H = 768, 512
UHD = "EP01_C004"  # a 4K plate: viewed and painted by zoom, sent back at full size
UHD_W, UHD_H = 3840, 2160


def _plate(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth plate (a gradient with a little noise): the eyedropper has colours to pick."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 140)], axis=-1)
    return np.clip(img + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def canvas_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_env: dict[str, str]
) -> Iterator[tuple[str, Path]]:
    """One `bgart ui` for the module: SHOT has a layout only, SMALL and WIDE a plate."""
    require_browser()
    from bgart import plates as workflow

    tmp = tmp_path_factory.mktemp("canvas")
    project = make_project(tmp / "show")
    with Project.open(project) as p:
        workflow.record_final(p, SMALL, _plate(PLATE_W, PLATE_H, 1), "bob")
        workflow.record_final(p, WIDE, _plate(WIDE_W, WIDE_H, 2), "bob")
        uhd = np.zeros((UHD_H, UHD_W, 3), np.uint8)
        uhd[..., 2] = np.linspace(60, 200, UHD_W, dtype=np.uint8)  # smooth: a small PNG
        workflow.record_final(p, UHD, uhd, "bob")
    env = ui_env(tiny_env, write_prompts(tmp / "prompts"))
    with running_ui(project, env, tmp) as url:
        yield url, project


def _browser(pw: Any) -> Any:
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _state(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("() => window.bgartCanvas.state()"))


def _open(page: Any, code: str, version: int | None = None, plate: bool = True) -> None:
    """Pick ``code`` in the shot picker, go to Retouch, wait for its plate on the canvas."""
    page.get_by_role("tab", name="Shots").click()
    picker = page.locator("#shot-picker input")
    picker.click()
    picker.fill(code)
    page.get_by_role("option", name=code, exact=True).click()
    wait_status(page, f"opened {code}")
    page.get_by_role("tab", name="Retouch").click()
    _wait_canvas(page, code, version, plate)


def _wait_canvas(page: Any, code: str, version: int | None = None, plate: bool = True) -> None:
    page.wait_for_function(
        "([c, v, p]) => { const s = window.bgartCanvas && window.bgartCanvas.state();"
        " return s && !s.busy && s.shot === c && (s.width > 0) === p && (!p || s.fitted)"
        " && (v === null || s.version === v); }",
        arg=[code, version, plate],
        timeout=20_000,
    )


def _at(page: Any, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of plate pixel (x, y) as the canvas shows it now."""
    p = page.evaluate("([x, y]) => window.bgartCanvas.toScreen(x, y)", [x, y])
    return float(p["x"]), float(p["y"])


def _mouse_stroke(page: Any, points: list[tuple[float, float]]) -> None:
    page.mouse.move(*_at(page, *points[0]))
    page.mouse.down()
    for pt in points[1:]:
        page.mouse.move(*_at(page, *pt), steps=4)
    page.mouse.up()


def _pen_stroke(page: Any, points: list[tuple[float, float]], pressure: float) -> None:
    """A stylus stroke: PointerEvents with pointerType "pen" and a pressure, as a tablet
    sends them (the browser has no pen here, so they are dispatched)."""
    screen = [_at(page, x, y) for x, y in points]
    page.evaluate(
        """([pts, pressure]) => {
          const view = document.getElementById('bgc-view');
          const send = (type, [x, y], buttons) => view.dispatchEvent(new PointerEvent(type, {
            pointerId: 7, pointerType: 'pen', isPrimary: true, pressure, clientX: x, clientY: y,
            button: 0, buttons, bubbles: true, cancelable: true }));
          send('pointerdown', pts[0], 1);
          for (const p of pts.slice(1)) send('pointermove', p, 1);
          send('pointerup', pts[pts.length - 1], 0);
        }""",
        [screen, pressure],
    )


def _alpha(page: Any, layer: str, x: int, y: int) -> int:
    return int(
        page.evaluate("([l, x, y]) => window.bgartCanvas.layerPixel(l, x, y)[3]", [layer, x, y])
    )


def _in_view(page: Any, selector: str) -> dict[str, float]:
    """The element's box, asserted inside the viewport (visible without scrolling)."""
    box = page.locator(selector).first.bounding_box()
    vp = page.viewport_size
    assert box is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= vp["width"] + 1, (selector, box, vp)
    assert box["y"] + box["height"] <= vp["height"] + 1, (selector, box, vp)
    return dict(box)


def _check_layout(page: Any, path: Path) -> None:
    """The canvas fills the space left of the side column down to the window's bottom; the
    tools and the acts are visible without scrolling."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    vp = page.viewport_size
    stage = _in_view(page, "#bgc-stage")
    assert stage["width"] >= 0.6 * vp["width"], stage
    assert vp["height"] - (stage["y"] + stage["height"]) <= 60, (stage, vp)  # to the bottom
    assert stage["height"] >= 0.45 * vp["height"], stage
    for sel in (
        "#bgc-brush",
        "#bgc-eraser",
        "#bgc-picker",
        "#bgc-colour",
        "#bgc-size",
        "#bgc-opacity",
        "#bgc-hardness",
        "#bgc-layer-mask",
        "#bgc-undo",
        "#bgc-redo",
        "#save-paint",
        "#submit-plate",
        "#fix-prompt textarea",
        "#fix-btn",
    ):
        _in_view(page, sel)
    # the plate fits the stage (fit on load)
    plate = page.evaluate(
        "() => { const s = window.bgartCanvas.state(); const a = window.bgartCanvas.toScreen(0, 0);"
        " const b = window.bgartCanvas.toScreen(s.width, s.height);"
        " return {x0: a.x, y0: a.y, x1: b.x, y1: b.y}; }"
    )
    assert plate["x0"] >= stage["x"] - 1 and plate["x1"] <= stage["x"] + stage["width"] + 1
    assert plate["y0"] >= stage["y"] - 1 and plate["y1"] <= stage["y"] + stage["height"] + 1
    fills = max(
        (plate["x1"] - plate["x0"]) / stage["width"], (plate["y1"] - plate["y0"]) / stage["height"]
    )
    assert fills > 0.95, plate


def _column_extent(page: Any, x: int, y0: int, y1: int) -> int:
    """How many pixels of the paint layer's column ``x`` between rows y0..y1 are painted."""
    return int(
        page.evaluate(
            "([x, y0, y1]) => { let n = 0; for (let y = y0; y < y1; y++)"
            " if (window.bgartCanvas.layerPixel('paint', x, y)[3] > 0) n++; return n; }",
            [x, y0, y1],
        )
    )


def _fail_shot(page: Any, path: Path) -> None:
    with contextlib.suppress(Exception):  # the page may be gone
        page.screenshot(path=str(path))


def test_paint_with_mouse_and_pen_undo_shortcuts_and_an_ai_fix_from_the_same_canvas(
    canvas_server: tuple[str, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url, project_dir = canvas_server
    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        try:
            log_in(page, url, "alice", PASSWORDS["alice"])
            _open(page, WIDE, 1)
            _check_layout(page, tmp_path / "retouch-1366x768.png")
            assert (_state(page)["width"], _state(page)["height"]) == (WIDE_W, WIDE_H)
            page.keyboard.press("f")  # full window: the canvas covers the page
            vp = page.viewport_size
            stage = _in_view(page, "#bgc-stage")
            assert stage["height"] >= 0.8 * vp["height"] and stage["width"] >= 0.95 * vp["width"]
            for sel in ("#bgc-save", "#bgc-fix", "#bgc-undo", "#bgc-brush", "#bgc-info"):
                _in_view(page, sel)
            page.screenshot(path=str(tmp_path / "full-window-1366x768.png"))
            page.keyboard.press("Escape")
            assert not _state(page)["full"]

            # a real mouse stroke, undone and redone with the keyboard
            _mouse_stroke(page, [(100, 100), (200, 125), (300, 150)])
            st = _state(page)
            assert st["undo"] == 1 and st["dirty"]["paint"]
            assert _alpha(page, "paint", 200, 125) == 255
            page.keyboard.press("Control+z")
            assert _alpha(page, "paint", 200, 125) == 0 and _state(page)["redo"] == 1
            page.keyboard.press("Control+Shift+z")
            assert _alpha(page, "paint", 200, 125) == 255 and _state(page)["undo"] == 1

            # the shortcuts
            for key, field, value in (
                ("e", "tool", "eraser"),
                ("i", "tool", "picker"),
                ("b", "tool", "brush"),
                ("m", "layer", "mask"),
                ("m", "layer", "paint"),
                ("]", "size", 15),
                ("[", "size", 12),
            ):
                page.keyboard.press(key)
                assert _state(page)[field] == value, (key, _state(page))

            # pen pressure sets the brush size: a light stroke is thinner than a firm one
            page.evaluate("() => window.bgartCanvas.setSize(40)")
            _pen_stroke(page, [(100 + 20 * i, 300) for i in range(11)], 0.2)
            _pen_stroke(page, [(100 + 20 * i, 400) for i in range(11)], 1.0)
            light = _column_extent(page, 200, 260, 340)
            firm = _column_extent(page, 200, 360, 440)
            assert 4 <= light <= 14 and 36 <= firm <= 44, (light, firm)
            assert _state(page)["undo"] == 3

            # opacity and hardness (the sliders), and the eraser
            page.locator("#bgc-opacity").fill("0.5")
            page.evaluate("() => window.bgartCanvas.setSize(12)")
            _mouse_stroke(page, [(450, 300), (650, 300)])
            assert 120 <= _alpha(page, "paint", 550, 300) <= 135  # half opaque
            page.locator("#bgc-opacity").fill("1")
            page.locator("#bgc-hardness").fill("0")
            page.evaluate("() => window.bgartCanvas.setSize(40)")
            _mouse_stroke(page, [(450, 400), (650, 400)])
            centre, edge = _alpha(page, "paint", 550, 400), _alpha(page, "paint", 550, 415)
            assert centre > edge > 0 and edge < 200, (centre, edge)  # a soft edge
            page.locator("#bgc-hardness").fill("0.8")
            page.keyboard.press("e")
            page.evaluate("() => window.bgartCanvas.setSize(20)")
            _mouse_stroke(page, [(180, 120), (220, 130)])
            assert _alpha(page, "paint", 200, 125) == 0 and _alpha(page, "paint", 260, 140) == 255
            page.keyboard.press("b")
            assert _state(page)["undo"] == 6

            # the eyedropper takes the plate's colour where nothing is painted
            page.keyboard.press("i")
            page.mouse.click(*_at(page, 700.5, 20.5))
            plate = _plate(WIDE_W, WIDE_H, 2)[20, 700]
            picked = _state(page)["colour"]
            assert picked == "#" + "".join(f"{int(v):02x}" for v in plate), (picked, plate)
            assert _state(page)["tool"] == "brush"  # back to the brush after a pick

            # space-drag pans (and paints nothing); the wheel zooms; 0 fits again
            before = _at(page, 0, 0)
            page.keyboard.down(" ")
            page.mouse.move(*_at(page, 400, 250))
            page.mouse.down()
            page.mouse.move(*_at(page, 400, 250), steps=1)
            x, y = _at(page, 400, 250)
            page.mouse.move(x + 80, y + 40, steps=4)
            page.mouse.up()
            page.keyboard.up(" ")
            after = _at(page, 0, 0)
            assert (round(after[0] - before[0]), round(after[1] - before[1])) == (80, 40)
            assert _state(page)["undo"] == 6
            zoom = _state(page)["zoom"]
            page.mouse.move(x, y)
            page.mouse.wheel(0, -300)
            page.wait_for_function(f"() => window.bgartCanvas.state().zoom > {zoom * 1.2}")
            page.keyboard.press("0")
            assert _state(page)["zoom"] == pytest.approx(zoom, rel=1e-6)
            page.screenshot(path=str(tmp_path / "painted.png"))

            page.keyboard.press("f")  # saved from the full-window toolbar
            page.locator("#bgc-save").click()
            wait_status(page, "paint saved as v2")
            _wait_canvas(page, WIDE, 2)
            page.wait_for_function(  # the page's status line is shown under the canvas
                "() => document.getElementById('bgc-info').innerText.includes('paint saved as v2')"
            )
            page.keyboard.press("Escape")
            st = _state(page)
            assert not st["dirty"]["paint"] and st["undo"] == 0

            # the AI fix on the small plate: unsaved paint, then the mask on the same canvas
            _open(page, SMALL, 1)
            page.evaluate("() => window.bgartCanvas.setSize(6)")
            _mouse_stroke(page, [(10, 10), (40, 14)])
            page.keyboard.press("m")
            page.evaluate("() => window.bgartCanvas.setSize(16)")
            _mouse_stroke(page, [(70, 50), (100, 50), (100, 60), (70, 60)])
            assert _alpha(page, "mask", 85, 55) == 255 and _alpha(page, "paint", 85, 55) == 0
            page.screenshot(path=str(tmp_path / "mask-overlay.png"))
            page.locator("#fix-prompt textarea").fill("a red mailbox")
            page.locator("#fix-btn").click()
            wait_status(page, "AI fix saved as v2", timeout=60_000)
            _wait_canvas(page, SMALL, 2)
            st = _state(page)
            assert st["dirty"] == {"paint": True, "mask": False}  # the paint stroke is kept
            assert _alpha(page, "paint", 25, 12) == 255 and _alpha(page, "mask", 85, 55) == 0
        except Exception:
            _fail_shot(page, tmp_path / "failure.png")
            raise
        finally:
            browser.close()

    from bgart import plates as workflow
    from bgart.images import open_image

    with Project.open(project_dir) as project:
        painted = project.ledger.events(shot=WIDE, kinds=("human.painted",))
        assert [(ev.actor, ev.payload["base_version"]) for ev in painted] == [("alice", 1)]
        layer = np.asarray(open_image(project.blobs.get(painted[0].blobs["layer"]), mode="RGBA"))
        assert layer.shape == (WIDE_H, WIDE_W, 4)  # the plate's full size
        assert layer[140, 260, 3] == 255 and layer[20, 700, 3] == 0
        assert layer[125, 200, 3] == 0  # erased before saving
        assert 120 <= layer[300, 550, 3] <= 135  # the half-opaque stroke
        assert layer[300, 200, 3] > 0 and layer[400, 200, 3] > 0  # the pen strokes
        assert workflow.plate_figures(project, WIDE)["human_paint_share"] > 0
        fixed = project.ledger.events(shot=SMALL, kinds=("ai.inpainted",))
        assert len(fixed) == 1 and fixed[0].payload["directed_by"] == "alice"
        mask = np.asarray(open_image(project.blobs.get(fixed[0].blobs["mask"]), mode="L"))
        ys, xs = np.nonzero(mask)
        assert xs.min() >= 60 and xs.max() <= 110 and ys.min() >= 40 and ys.max() <= 70
        assert not project.ledger.events(shot=SMALL, kinds=("human.painted",))  # not saved
        verify_project(project)


def test_a_shot_switch_and_a_closed_tab_keep_the_draft_and_undo_stays_with_its_shot(
    canvas_server: tuple[str, Path], tmp_path: Path
) -> None:
    """The issue's defects: undo crossed shots, a new shot's first plate never reached the
    editor, and unsaved strokes were lost on switching shot."""
    from playwright.sync_api import sync_playwright

    url, project_dir = canvas_server
    with sync_playwright() as pw:
        browser = _browser(pw)
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        try:
            log_in(page, url, "alice", PASSWORDS["alice"])
            _open(page, WIDE)
            _check_layout(page, tmp_path / "retouch-1920x1080.png")
            version = _state(page)["version"]
            _mouse_stroke(page, [(500, 300), (600, 320)])
            assert _alpha(page, "paint", 550, 310) == 255

            _open(page, SMALL)  # switch shot with an unsaved stroke
            assert _state(page)["undo"] == 0 and _state(page)["shot"] == SMALL
            page.keyboard.press("Control+z")  # nothing of WIDE's comes onto SMALL
            st = _state(page)
            assert (st["shot"], st["width"], st["redo"]) == (SMALL, PLATE_W, 0)
            assert SMALL in page.locator("#shot-status").inner_text()
            assert page.locator("#bgart-canvas").get_attribute("data-shot") == SMALL

            _open(page, WIDE, version)  # back: the stroke is there, and its undo too
            st = _state(page)
            assert st["dirty"]["paint"] and "draft restored" in st["note"], st
            assert _alpha(page, "paint", 550, 310) == 255 and st["undo"] == 1
            page.keyboard.press("Control+z")
            assert _alpha(page, "paint", 550, 310) == 0
            page.keyboard.press("Control+Shift+z")
            assert _alpha(page, "paint", 550, 310) == 255
            page.evaluate("() => window.bgartCanvas.flushDraft()")

            page.close()  # the tab is closed without saving; a new one finds the draft
            page = context.new_page()
            page.goto(url)  # still logged in (the session cookie)
            page.wait_for_selector("#shot-gallery .thumbnail-item", timeout=30_000)
            _open(page, WIDE, version)
            assert _alpha(page, "paint", 550, 310) == 255
            assert "draft restored" in _state(page)["note"]

            # a shot with a layout only: no plate yet; its first plate reaches the canvas
            _open(page, SHOT, plate=False)
            assert _state(page)["version"] is None
            page.get_by_role("tab", name="Generate").click()
            fill_settled(page, "#prompt textarea", "quiet street at dusk")
            page.locator("#generate-btn").click()
            wait_status(page, "generated 2 variation(s)", timeout=60_000)
            page.get_by_role("tab", name="Retouch").click()
            _wait_canvas(page, SHOT, 1)
            assert (_state(page)["width"], _state(page)["height"]) == (PLATE_W, PLATE_H)
            _mouse_stroke(page, [(20, 20), (60, 40)])
            page.locator("#save-paint").click()
            wait_status(page, "paint saved as v2")

            # retake marks (the director's regions) drawn over the plate on request
            marks = '[{"x": 10, "y": 50, "w": 50, "h": 30, "comment": "sky too flat"}]'
            page.evaluate("m => window.bgartCanvas.showMarks(m)", marks)
            page.wait_for_timeout(200)
            x, y = _at(page, 10, 65)  # the mark's left edge
            red = page.evaluate(
                """([x, y]) => { const v = document.getElementById('bgc-view');
                const r = v.getBoundingClientRect(), d = window.devicePixelRatio || 1;
                return Array.from(v.getContext('2d').getImageData(
                  Math.round((x - r.left) * d), Math.round((y - r.top) * d), 1, 1).data); }""",
                [x, y],
            )
            assert red[0] > 200 and red[1] < 100 and red[2] < 100, red
            page.screenshot(path=str(tmp_path / "first-plate-painted-with-a-mark.png"))

            # a 4K plate: fitted (zoomed out), painted, and its layer sent at full size
            _open(page, UHD)
            assert _state(page)["zoom"] < 0.4
            page.evaluate("() => window.bgartCanvas.setSize(60)")
            _mouse_stroke(page, [(1000, 1000), (2000, 1200)])
            payload = json.loads(page.evaluate("() => window.bgartCanvas.payload('paint')"))
            layer = read_payload(json.dumps(payload), "paint", 64 * 1024 * 1024, expected=UHD)
            assert layer.image.size == (UHD_W, UHD_H)
            assert layer.image.getpixel((1500, 1100))[3] == 255
        except Exception:
            _fail_shot(page, tmp_path / "failure.png")
            raise
        finally:
            browser.close()
    with Project.open(project_dir) as project:
        painted = project.ledger.events(shot=SHOT, kinds=("human.painted",))
        assert [ev.actor for ev in painted] == ["alice"]
        verify_project(project)
