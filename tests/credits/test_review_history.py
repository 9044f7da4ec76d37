"""Retake marks and the artist's notes are listed in the credit report's review history
(JSON and HTML), with no credit role; a plate without retake marks keeps the report's old
form."""

from __future__ import annotations

from helpers.images import generated_png, make_record, noise_plate

from bgart import plates as wf
from bgart.credits import CreditReport, ModelCatalog, build_report, render_html
from bgart.ledger import Project

W, H = 64, 48


def test_review_history_lists_notes_retake_regions_and_decisions(sqlite_project: Project) -> None:
    proj = sqlite_project
    proj.ledger.add_user("kei", "director", "kei-secret-1")
    for shot in ("EP01_C001", "EP01_C002"):
        png, record = generated_png(noise_plate(W, H, 1), make_record(W, H))
        wf.record_generated(proj, shot, png, record, "mei")
    wf.submit(proj, "EP01_C002", "mei", "no marks here", version=1)
    wf.submit(proj, "EP01_C001", "mei", "first pass", version=1)
    wf.mark_retake(
        proj,
        "EP01_C001",
        "kei",
        [{"shape": "rect", "points": [[4, 4], [30, 20]], "comment": "sky too cold"}],
        version=1,
    )
    wf.submit(proj, "EP01_C001", "mei", "warmer now", version=1)
    wf.review(proj, "EP01_C001", "accept", "kei", version=1)

    report = build_report(proj, catalog=ModelCatalog(), thumbnails=False)
    c001, c002 = report.plates
    assert c002.review_history == []  # no retake marks: no history (the report's old form)
    acts = [(r.act, r.by, r.comment) for r in c001.review_history]
    assert acts == [
        ("submitted", "mei", "first pass"),
        ("retake marks", "kei", ""),
        ("rejected", "kei", "retake: 1: sky too cold"),
        ("submitted", "mei", "warmer now"),
        ("accepted", "kei", ""),
    ]
    assert c001.review_history[1].regions == ["rect 4,4 – 30,20: sky too cold"]
    # no credit role for marking a retake: kei is credited for the approval only
    (kei,) = [c for c in c001.contributors if c.name == "kei"]
    assert kei.roles == ["approval"]

    data = report.to_dict()
    assert "review_history" in data["plates"][0]
    assert "review_history" not in data["plates"][1]  # no retake marks: the old form
    again = CreditReport.from_dict(data)
    assert again.plates[0].review_history == c001.review_history
    html = render_html(report)
    assert "Review history" in html and "sky too cold" in html and "warmer now" in html
