"""Issue 22 in the Studio (no browser): a plain `bgart ui` shows the batch's recipe and
variations, the review queue, retake marks from a drawn stroke to the artist's overlay, the
artist's note, and Accept clicked twice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.ui import SHOT, req
from PIL import Image

from bgart import plates as workflow
from bgart.errors import InputError
from bgart.events import Kind


@pytest.fixture
def plated(studio):  # type: ignore[no-untyped-def]
    """The studio with two recorded variations of the shot (the first is the plate)."""
    studio.generate(req("alice"), SHOT, "street", "quiet street at dusk", 7, 2)
    return studio


def test_a_plain_ui_shows_the_batch_recipe_and_its_variations(plated) -> None:  # type: ignore[no-untyped-def]
    from bgart.ui.handlers import Studio
    from bgart.ui.recipe import candidate_gallery

    fresh = Studio(plated.project)  # `bgart ui` without --shots: no shot list in memory
    view = fresh.open_shot(SHOT)
    assert view.prompt == "quiet street at dusk"  # the artist's words, not the preset's
    assert (view.preset, view.seed, view.variations) == ("street", 7, 2)
    items, numbers = candidate_gallery(fresh.project, SHOT)
    assert numbers == [1, 2]
    assert [caption for _img, caption in items] == [
        "#1 · seed 7 · ★ current plate",
        "#2 · seed 8",
    ]
    fresh.choose(req("alice"), SHOT, 2)  # picked from the gallery: the plate changes
    assert "★" in candidate_gallery(fresh.project, SHOT)[0][1][1]


def test_queue_steps_wrap_and_start_at_either_end() -> None:
    from bgart.ui.review import queue_step, queue_text

    q = ["C1", "C2", "C3"]
    assert queue_step(q, "C1", 1) == "C2" and queue_step(q, "C3", 1) == "C1"
    assert queue_step(q, "C1", -1) == "C3" and queue_step(q, None, -1) == "C3"
    assert queue_step(q, "X", 1) == "C1" and queue_step([], "C1", 1) is None
    assert "**▶ C2**" in queue_text(q, "C2") and "nothing submitted" in queue_text([], None)


def _stroke(w: int, h: int, box: tuple[int, int, int, int]) -> Image.Image:
    layer = np.zeros((h, w, 4), np.uint8)
    x0, y0, x1, y1 = box
    layer[y0:y1, x0:x1] = (255, 59, 48, 255)
    return Image.fromarray(layer, "RGBA")


def test_a_drawn_region_needs_a_stroke_and_a_comment() -> None:
    from bgart.ui.review import stroke_region

    value = {"background": None, "layers": [_stroke(40, 30, (5, 6, 12, 20))], "composite": None}
    assert stroke_region(value, " warmer ") == {
        "shape": "rect",
        "points": [[5, 6], [12, 20]],
        "comment": "warmer",
    }
    with pytest.raises(InputError, match="comment"):
        stroke_region(value, "  ")
    with pytest.raises(InputError, match="draw around the area"):
        stroke_region({"layers": []}, "x")
    with pytest.raises(InputError, match="shape 'circle'"):
        stroke_region(value, "x", "circle")


def test_an_outline_region_is_the_polygon_around_the_stroke() -> None:
    from bgart.ui.review import stroke_region

    # a diagonal stroke: its outline is a thin polygon, not the whole box
    layer = np.zeros((40, 40, 4), np.uint8)
    for i in range(30):
        layer[5 + i, 5 + i] = (255, 59, 48, 255)
    value = {"layers": [Image.fromarray(layer, "RGBA")]}
    region = stroke_region(value, "the rail", "outline")
    assert region["shape"] == "polygon" and len(region["points"]) >= 3
    xs = [x for x, _y in region["points"]]
    ys = [y for _x, y in region["points"]]
    assert (min(xs), min(ys), max(xs), max(ys)) == (5, 5, 35, 35)  # pixel edges
    from PIL import ImageDraw

    mask = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in region["points"]], fill=255)
    covered = np.asarray(mask) > 0
    assert covered[20, 20] and not covered[5, 34]  # on the stroke yes, the far corner no


def test_retake_from_the_director_reaches_the_artist_and_is_answered(plated) -> None:  # type: ignore[no-untyped-def]
    from bgart.ui.review import RetakeNotes, marks_for_canvas, marks_overlay, send_retake

    studio = plated
    view = studio.open_shot(SHOT)
    rec = studio.submit(req("alice"), SHOT, "sky done, check the poles", version=view.version)
    note = studio.project.ledger.events(shot=SHOT, kinds=(Kind.PLATE_SUBMITTED,))[-1]
    assert note.payload["comment"] == "sky done, check the poles" and rec.version == 1
    assert workflow.review_queue(studio.project) == [SHOT]

    with pytest.raises(InputError, match="only directors"):
        send_retake(
            studio,
            req("alice"),
            SHOT,
            [{"shape": "rect", "points": [[1, 1], [9, 9]], "comment": "x"}],
            "",
            1,
        )
    regions = [
        {"shape": "rect", "points": [[4, 4], [30, 20]], "comment": "sky too cold"},
        {"shape": "rect", "points": [[60, 40], [90, 80]], "comment": "remove the pole"},
    ]
    send_retake(studio, req("dora"), SHOT, regions, "two things", 1)
    assert workflow.shot_status(studio.project, SHOT) == "rejected"
    (marks,) = workflow.open_retakes(studio.project, SHOT)
    plate = Image.fromarray(np.array(workflow.plate_state(studio.project, SHOT).image))
    overlay = np.asarray(marks_overlay(plate, marks.regions))
    assert overlay.shape == np.asarray(plate).shape
    assert tuple(overlay[4, 27]) == (255, 59, 48)  # the first region's top edge is drawn
    assert np.array_equal(overlay[50:55, 40:50], np.asarray(plate)[50:55, 40:50])  # elsewhere not
    drawn = json.loads(marks_for_canvas(marks.regions))
    assert drawn[0]["points"] == [[4, 4], [30, 4], [30, 20], [4, 20], [4, 4]]
    assert drawn[1]["comment"] == "remove the pole"

    notes = RetakeNotes.__new__(RetakeNotes)  # the views, without a page around them
    notes.marks_md, notes.marks_img, notes.marks_json, notes.note = "md", "img", "json", "note"  # type: ignore[assignment]
    shown = notes.views(studio, studio.open_shot(SHOT))
    assert "1. sky too cold" in shown["md"] and "2. remove the pole" in shown["md"]
    assert "dora on v1" in shown["md"] and shown["img"] is not None

    studio.submit(req("alice"), SHOT, "fixed both", version=1)  # resubmitted
    assert workflow.open_retakes(studio.project, SHOT) == []
    studio.review(req("dora"), SHOT, "accept", version=1)
    again = studio.review(req("dora"), SHOT, "accept", version=1)  # a second click
    assert again.duplicate
    kinds = [ev.kind for ev in studio.project.ledger.events(shot=SHOT)]
    assert kinds.count("plate.accepted") == 1 and kinds.count("plate.retake_marked") == 1
    assert workflow.review_queue(studio.project) == []
