"""Reviews through bgart.plates.review: idempotent decisions, retake marks, the queue."""

from __future__ import annotations

import pytest
from helpers.images import generated_png, make_record, noise_plate

from bgart import plates as wf
from bgart.errors import InputError, StaleVersionError
from bgart.events import Kind
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 64, 48
SHOT = "ep02_c020"


@pytest.fixture
def proj(sqlite_project: Project) -> Project:
    sqlite_project.ledger.add_user("kei", "director", "kei-secret-1")
    sqlite_project.ledger.add_user("mei", "artist", "mei-secret-1")
    png, record = generated_png(noise_plate(W, H, 1), make_record(W, H))
    wf.record_generated(sqlite_project, SHOT, png, record, "mei")
    return sqlite_project


def _kinds(proj: Project) -> list[str]:
    return [ev.kind for ev in proj.ledger.events(shot=SHOT)]


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_a_second_click_on_a_decision_records_nothing(proj: Project, decision: str) -> None:
    first = wf.review(proj, SHOT, decision, "kei", "warmer sky", version=1)
    again = wf.review(proj, SHOT, decision, "kei", "warmer sky", version=1)
    kind = f"plate.{decision}ed"
    assert _kinds(proj).count(kind) == 1
    assert again.duplicate and again.seq == first.seq and not first.duplicate
    verify_project(proj)


def test_accept_after_reject_and_double_submit(proj: Project) -> None:
    wf.submit(proj, SHOT, "mei", "first pass", version=1)
    wf.submit(proj, SHOT, "mei", "first pass", version=1)  # double click
    wf.review(proj, SHOT, "reject", "kei", "redo the sky", version=1)
    wf.review(proj, SHOT, "accept", "kei", version=1)  # a change of mind is recorded
    assert _kinds(proj)[1:] == ["plate.submitted", "plate.rejected", "plate.accepted"]
    submitted = proj.ledger.events(shot=SHOT, kinds=(Kind.PLATE_SUBMITTED,))[0]
    assert submitted.payload["comment"] == "first pass"  # the artist's note is recorded


def test_retake_marks_are_recorded_shown_and_answered(proj: Project) -> None:
    wf.submit(proj, SHOT, "mei", version=1)
    assert wf.review_queue(proj) == [SHOT]
    regions = [
        {"shape": "rect", "points": [[4, 4], [20, 16]], "comment": "sky too cold"},
        {"shape": "polygon", "points": [[30, 30], [60, 30], [45, 47]], "comment": "no pole"},
    ]
    rec = wf.mark_retake(proj, SHOT, "kei", regions, "see marks", version=1)
    assert rec.kind == Kind.PLATE_REJECTED
    assert wf.shot_status(proj, SHOT) == "rejected" and wf.review_queue(proj) == []
    (marks,) = wf.open_retakes(proj, SHOT)
    assert marks.director == "kei" and marks.version == 1 and marks.comment == "see marks"
    assert [r.comment for r in marks.regions] == ["sky too cold", "no pole"]
    assert marks.regions[1].shape == "polygon" and len(marks.regions[1].points) == 3
    rejection = proj.ledger.events(shot=SHOT, kinds=(Kind.PLATE_REJECTED,))[-1]
    assert "1: sky too cold; 2: no pole" in rejection.payload["comment"]
    # no pixels changed: the plate still has one version
    assert [v.number for v in wf.plate_versions(proj, SHOT)] == [1]
    verify_project(proj)  # verify accepts the new kind

    # the artist resubmits: the marks are answered, the shot is back in the queue
    wf.submit(proj, SHOT, "mei", "sky warmer, pole gone", version=1)
    assert wf.open_retakes(proj, SHOT) == [] and wf.review_queue(proj) == [SHOT]
    assert len(wf.retake_marks(proj, SHOT)) == 1  # still in the history
    wf.review(proj, SHOT, "accept", "kei", version=1)
    assert wf.review_queue(proj) == [] and wf.shot_status(proj, SHOT) == "accepted"
    verify_project(proj)


@pytest.mark.parametrize(
    ("regions", "said"),
    [
        ([], "at least one region"),
        ([{"shape": "rect", "points": [[1, 1], [5, 5]], "comment": " "}], "needs a comment"),
        ([{"shape": "polygon", "points": [[1, 1], [5, 5]], "comment": "x"}], "3 or more"),
        ([{"shape": "circle", "points": [[1, 1], [5, 5]], "comment": "x"}], "shape"),
        ([{"shape": "rect", "points": [[1, 1], [500, 5]], "comment": "x"}], "outside the 64x48"),
    ],
)
def test_bad_retake_marks_are_refused_by_field(
    proj: Project, regions: list[dict[str, object]], said: str
) -> None:
    with pytest.raises(InputError, match=said):
        wf.mark_retake(proj, SHOT, "kei", regions)
    assert _kinds(proj) == ["ai.generated"]  # nothing recorded


def test_only_directors_mark_retakes_of_the_version_they_saw(proj: Project) -> None:
    region = [{"shape": "rect", "points": [[1, 1], [5, 5]], "comment": "x"}]
    with pytest.raises(InputError, match="only directors and admins"):
        wf.mark_retake(proj, SHOT, "mei", region)
    png, record = generated_png(noise_plate(W, H, 2), make_record(W, H, seeds=(2,)))
    wf.record_generated(proj, SHOT, png, record, "mei")
    wf.select_variation(proj, SHOT, 2, "mei")
    with pytest.raises(StaleVersionError, match="looking at v1"):
        wf.mark_retake(proj, SHOT, "kei", region, version=1)
    assert not wf.retake_marks(proj, SHOT)


def test_a_forged_retake_mark_on_an_old_version_is_named_by_verify(proj: Project) -> None:
    from bgart.errors import LedgerIntegrityError

    region = [{"shape": "rect", "points": [[1, 1], [5, 5]], "comment": "x"}]
    png, record = generated_png(noise_plate(W, H, 2), make_record(W, H, seeds=(2,)))
    wf.record_generated(proj, SHOT, png, record, "mei")
    wf.select_variation(proj, SHOT, 2, "mei")
    with proj.ledger.write() as tx:  # written past the act's checks
        tx.append(
            Kind.RETAKE_MARKED,
            actor="kei",
            actor_kind="human",
            shot=SHOT,
            plate=wf.PLATE,
            payload={"version": 1, "regions": region},
        )
    with pytest.raises(LedgerIntegrityError, match="not the latest"):
        verify_project(proj)


def test_a_second_director_accepting_is_recorded(proj: Project) -> None:
    proj.ledger.add_user("aya", "director", "aya-secret-1")
    wf.review(proj, SHOT, "accept", "kei", version=1)
    second = wf.review(proj, SHOT, "accept", "aya", version=1)
    assert not second.duplicate
    accepted = proj.ledger.events(shot=SHOT, kinds=(Kind.PLATE_ACCEPTED,))
    assert [ev.actor for ev in accepted] == ["kei", "aya"]
