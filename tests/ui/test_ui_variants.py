"""The room's time-of-day variant (ui/variants.py): the open shot's accepted plate becomes a
linked night plate, asked for by the user logged in; without an accepted plate it says so."""

from __future__ import annotations

import pytest
from bgart.ui.handlers import Studio
from bgart.ui.variants import make_variant
from helpers.ui import SHOT, req

from bgart import plates as workflow
from bgart.errors import InputError
from bgart.verify import verify_project


def test_the_variant_button_makes_a_linked_night_plate(studio: Studio) -> None:
    studio.generate(req("alice"), SHOT, "street", "station square", 3, 1)
    with pytest.raises(InputError, match="plate 'main' has not been accepted"):
        make_variant(studio, req("alice"), SHOT, "night")
    studio.review(req("dora"), SHOT, "accept")
    made = make_variant(studio, req("alice"), SHOT, "night")
    assert made.kind == "ai.variant" and made.version == 1
    ev = studio.project.ledger.events(shot=SHOT, plate="night")[0]
    assert ev.payload["requested_by"] == "alice" and ev.payload["parent_version"] == 1
    assert ev.payload["record"]["preset"] == "time/night"  # bgart's own time presets
    assert sorted(workflow.plate_names(studio.project, SHOT)) == ["main", "night"]
    verify_project(studio.project)


def test_an_unknown_time_is_refused_before_the_model(studio: Studio) -> None:
    with pytest.raises(
        InputError, match="time of day 'dusk': not one of morning, day, evening, night"
    ):
        make_variant(studio, req("alice"), SHOT, "dusk")


def test_the_review_tab_button_reports_in_the_status_line(studio: Studio) -> None:
    from bgart.ui.app import build_app

    fns = {f.fn.__name__: f.fn for f in build_app(studio).fns.values() if f.fn}
    on_variant = fns["on_variant"]
    quiet = lambda *_a, **_k: None  # noqa: E731 (no Gradio request: no progress bar)
    with pytest.warns(UserWarning, match="has not been accepted"):  # gr.Warning: a toast
        refused = on_variant(SHOT, "night", req("alice"), quiet)
    assert list(refused.values()) == [
        f"⚠ shot {SHOT}: plate 'main' has not been accepted; a variant is made from the "
        "accepted plate (accept it first, or name a version with --version)"
    ]
    studio.generate(req("alice"), SHOT, "street", "station square", 3, 1)
    studio.review(req("dora"), SHOT, "accept")
    done = on_variant(SHOT, "evening", req("alice"), quiet)
    assert list(done.values()) == [f"✓ {SHOT}: evening variant recorded as plate 'evening'"]
    assert "evening" in workflow.plate_names(studio.project, SHOT)
