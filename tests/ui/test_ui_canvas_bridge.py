"""What crosses between the painting surface and Python (ui/canvas/bridge.py), and the
Retouch callbacks that take it, without a browser: the paint layer reaches provenance at the
plate's full size as before, strokes over a stale plate or another shot are not recorded,
and each act tells the canvas which layers it may empty."""

from __future__ import annotations

import base64
import inspect
import io
import json
from typing import Any

import numpy as np
import pytest
from bgart.ui.canvas import page_script, payload_js, read_payload, view_json
from bgart.ui.handlers import Studio
from helpers.ui import PLATE_H, PLATE_W, SHOT, req
from PIL import Image, ImageDraw

from bgart import plates as workflow
from bgart.errors import InputError
from bgart.verify import verify_project

MB = 1024 * 1024


def _layer(box: tuple[int, int, int, int], colour=(200, 30, 30, 255), size=(PLATE_W, PLATE_H)):  # type: ignore[no-untyped-def]
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).ellipse(box, fill=colour)
    return layer


def _payload(layer: Image.Image, shot: str = SHOT, version: int | None = 1, ages=()) -> str:  # type: ignore[no-untyped-def]
    """What bgartCanvas.payload() sends: the layer as a PNG data URL."""
    buf = io.BytesIO()
    layer.save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return json.dumps({"shot": shot, "version": version, "layer": url, "ages": list(ages)})


def _app_fns(studio: Studio) -> dict[str, Any]:
    from bgart.ui.app import build_app

    return {f.fn.__name__: f.fn for f in build_app(studio).fns.values() if f.fn}


def _call(fn: Any, **given: Any) -> Any:
    """Call a callback by parameter name; inputs that other work added since (e.g. the delivery
    size) get their empty value, as an untouched field sends."""
    params = inspect.signature(fn).parameters
    return fn(
        **{
            name: given.get(name, "")
            for name, p in params.items()
            if name in given or p.default is inspect.Parameter.empty
        }
    )


def _by_elem(out: dict[Any, Any]) -> dict[str, Any]:
    return {c.elem_id: v for c, v in out.items() if getattr(c, "elem_id", None)}


def test_a_payload_is_read_back_as_the_layer_the_canvas_painted() -> None:
    layer = _layer((10, 10, 40, 30))
    got = read_payload(_payload(layer, ages=[3.5, 1.0]), "paint", MB, expected=SHOT)
    assert (got.shot, got.version) == (SHOT, 1)
    assert np.array_equal(np.asarray(got.image), np.asarray(layer))
    assert got.edit_times(100.0) == [96.5, 99.0]  # moments on the server's clock
    assert got.editor_value()["layers"][0] is got.image


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing painted: draw the paint"),
        ('{"empty": true, "shot": "X"}', "nothing painted"),
        ("{not json", "paint from the canvas: not readable"),
        ("[1, 2]", "not readable"),
        ('{"shot": "X", "layer": "data:image/jpeg;base64,AAAA"}', "field 'layer' is not a PNG"),
        ('{"shot": "X", "layer": "data:image/png;base64,@@@"}', "not valid base64"),
        ('{"shot": "X", "layer": "data:image/png;base64,AAAA"}', "paint layer from the canvas"),
    ],
)
def test_a_bad_payload_is_a_one_line_error_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        read_payload(text, "paint", MB)
    assert "\n" not in str(err.value)


def test_a_payload_of_another_shot_too_large_or_with_bad_times_is_refused() -> None:
    layer = _layer((10, 10, 40, 30))
    with pytest.raises(InputError, match="canvas shows shot EP01_C001 but shot EP09 is open"):
        read_payload(_payload(layer), "paint", MB, expected="EP09")
    with pytest.raises(InputError, match="larger than 0 MB"):
        read_payload(_payload(layer), "paint", 100)
    with pytest.raises(InputError, match="field 'ages'"):
        read_payload(_payload(layer, ages=[-1]), "paint", MB)
    with pytest.raises(InputError, match="field 'version'"):
        read_payload(_payload(layer, version="2"), "mask", MB)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="field 'shot'"):
        read_payload(_payload(layer, shot=""), "mask", MB)


def test_the_view_names_the_layers_to_empty_and_the_page_script_ships_with_its_css() -> None:
    one, two = (json.loads(view_json("k", SHOT, 3, (8, 6), ("paint",))) for _ in range(2))
    assert one["clear"] == ["paint"] and (one["width"], one["height"]) == (8, 6)
    assert one["nonce"] != two["nonce"]  # every view is a change the page hears
    with pytest.raises(ValueError, match="unknown canvas layers"):
        view_json("k", SHOT, 3, (8, 6), ("sky",))
    script = page_script()
    assert script.startswith("() => {") and "window.bgartCanvas" in script
    assert "#bgart-canvas .bgc-stage" in script  # the CSS rides along
    assert "payload('mask')" in payload_js(1, "mask") and "args[1]" in payload_js(1, "mask")
    with pytest.raises(ValueError):
        payload_js(1, "sky")


def test_save_and_fix_from_the_canvas_record_and_say_which_layer_to_empty(
    studio: Studio,
) -> None:
    """Generating keeps the canvas's strokes (and brings a shot's first plate); Save records
    the paint layer and empties only it; an AI fix uses the mask and keeps the paint."""
    alice = req("alice")
    fns = _app_fns(studio)
    out = _by_elem(
        _call(
            fns["on_generate"],
            code=SHOT,
            preset_name="street",
            text="quiet street",
            seed_value=7,
            n=1,
            heat_on=False,
            filter_value="all",
            request=alice,
        )
    )
    view = json.loads(out["canvas-view"])
    assert (view["shot"], view["version"], view["clear"]) == (SHOT, 1, [])  # the first plate
    assert out["canvas-plate"] is not None

    studio.clock = lambda: 1000.0
    paint = _layer((30, 20, 70, 60))
    saved = _by_elem(fns["on_save"](SHOT, _payload(paint, ages=[30.0, 5.0]), False, "all", alice))
    assert "paint saved as v2" in saved["status-line"], saved["status-line"]
    assert json.loads(saved["canvas-view"])["clear"] == ["paint"]
    ev = studio.project.ledger.events(shot=SHOT, kinds=("human.painted",))[-1]
    assert ev.actor == "alice" and ev.payload["active_seconds"] == 30.0
    layer = np.asarray(Image.open(io.BytesIO(studio.project.blobs.get(ev.blobs["layer"]))))
    assert np.array_equal(layer, np.asarray(paint))  # the same contract as the old editor

    mask = _layer((80, 30, 120, 80), (255, 0, 255, 255))
    fixed = _by_elem(
        fns["on_fix"](
            SHOT, _payload(mask, version=2), "a red mailbox", 3, "street", False, "all", alice
        )
    )
    assert "AI fix saved as v3" in fixed["status-line"], fixed["status-line"]
    assert json.loads(fixed["canvas-view"])["clear"] == ["mask"]
    inp = studio.project.ledger.events(shot=SHOT, kinds=("ai.inpainted",))[-1]
    assert inp.payload["directed_by"] == "alice"
    verify_project(studio.project)


def test_strokes_over_a_stale_plate_or_another_shot_are_not_recorded(studio: Studio) -> None:
    alice = req("alice")
    studio.generate(alice, SHOT, "street", "quiet street", 7, 1)  # its first plate: v1
    workflow.record_paint(studio.project, SHOT, np.asarray(_layer((0, 0, 9, 9))), "bob")  # v2
    before = len(studio.project.ledger.events(shot=SHOT))
    fns = _app_fns(studio)
    with pytest.warns(UserWarning, match="your canvas shows v1 of EP01_C001, but v2 was saved"):
        out = _by_elem(fns["on_save"](SHOT, _payload(_layer((5, 5, 40, 40))), False, "all", alice))
    assert out["status-line"].startswith("⚠")
    view = json.loads(out["canvas-view"])
    assert (view["version"], view["clear"]) == (2, [])  # the new plate, under the strokes
    with pytest.warns(UserWarning, match="canvas shows shot EP01_C001 but shot EP09_C001"):
        workflow.record_layout(studio.project, "EP09_C001", _png(), "layout-san")
        out = _by_elem(
            fns["on_save"]("EP09_C001", _payload(_layer((5, 5, 40, 40))), False, "all", alice)
        )
    assert len(studio.project.ledger.events(shot=SHOT)) == before  # nothing recorded


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (64, 40), 255).save(buf, "PNG")
    return buf.getvalue()
