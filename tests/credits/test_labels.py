"""The report places each grade beside the external labels it corresponds to: the IPTC
digital source type and the AI Content Declaration (declare-ai.org 1.0.0) level."""

from __future__ import annotations

import html
import re

from helpers.credits import lock_catalog

from bgart.credits import build_report, render_html
from bgart.credits.grade import external_labels
from bgart.ledger import Project


def _plate_section(page: str, shot: str) -> str:
    sections = re.findall(r'<section class="page plate">.*?</section>', page, flags=re.S)
    (found,) = [s for s in sections if shot in s]
    return html.unescape(found)


def test_each_plate_page_names_its_labels(project: Project) -> None:
    report = build_report(project, catalog=lock_catalog(project), thumbnails=False)
    page = render_html(report)
    grades = {p.shot: p.grade for p in report.plates}
    assert grades["EP01_C001"] == "F" and grades["EP01_C002"] == "D"
    f_plate = _plate_section(page, "EP01_C001")
    assert (
        "IPTC digital source type: trainedAlgorithmicMedia · AI Content Declaration: Total"
        in f_plate
    )
    d_plate = _plate_section(page, "EP01_C002")
    assert (
        "IPTC digital source type: compositeWithTrainedAlgorithmicMedia · "
        "AI Content Declaration: Creative" in d_plate
    )
    legend = html.unescape(page)
    assert "<th>IPTC digital source type</th><th>AI Content Declaration level</th>" in legend
    assert "<td>trainedAlgorithmicMedia</td><td>Total</td>" in legend


def test_labels_that_depend_on_the_plate() -> None:
    assert external_labels("A", ai_used=False, human_paint=1.0) == ("digitalCreation", "None")
    assert external_labels("A", ai_used=True, human_paint=1.0) == ("digitalCreation", "Creative")
    assert external_labels("E", ai_used=True, human_paint=0.0) == (
        "trainedAlgorithmicMedia",
        "Total",
    )
    assert external_labels("E", ai_used=True, human_paint=0.01) == (
        "compositeWithTrainedAlgorithmicMedia",
        "Creative",
    )
