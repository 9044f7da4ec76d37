"""Grades A–F and the contribution definition a report states.

:class:`Thresholds` are the project's grade_b/grade_c/grade_d settings; :func:`grade` gives a
plate's letter and the rule that gave it; :func:`definition` is the text and thresholds a
report carries (:class:`~bgart.credits.model.Definition`). :func:`pct` writes a share as the
report's percentages do.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bgart import provenance as contrib
from bgart.credits.model import Definition
from bgart.errors import InputError
from bgart.events import Kind
from bgart.ledger import EventRow
from bgart.provenance import pct  # re-exported: the reports' modules take it from here
from bgart.settings import Settings


@dataclass(frozen=True)
class Thresholds:
    b: float = 0.90
    c: float = 0.50
    d: float = 0.20

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        t = cls(float(settings.grade_b), float(settings.grade_c), float(settings.grade_d))
        if not 0.0 < t.d <= t.c <= t.b <= 1.0:
            raise InputError(
                f"settings grade_b/grade_c/grade_d: need 0 < grade_d ≤ grade_c ≤ grade_b ≤ 1 "
                f"(got {t.b}, {t.c}, {t.d})"
            )
        return t


def grade_rules(t: Thresholds) -> dict[str, str]:
    return {
        "A": "no pixel of the final plate carries AI weight (AI generated + AI inpainted = 0%)",
        "B": f"human paint ≥ {pct(t.b, 0)}",
        "C": f"human paint ≥ {pct(t.c, 0)}",
        "D": f"human paint ≥ {pct(t.d, 0)}",
        "E": "human paint > 0%, or AI output visibly changed only under human direction "
        "(inpaint masks, levels/colour) with no human paint",
        "F": "unmodified AI output: the generated candidate used as it came out "
        f"(no pixel visibly changed, ΔE76 ≤ {contrib.DELTA_E_THRESHOLD})",
    }


#: The external labels each grade corresponds to: the IPTC Digital Source Type term (IPTC
#: NewsCodes digitalsourcetype, 2024; the term C2PA ``digitalSourceType`` takes) and the level
#: of the AI Content Declaration 1.0.0 (declare-ai.org: None, Non-Creative, Creative, Total).
#: A and E depend on the plate: A is "None" when no AI was used at all and "Creative" for an
#: AI plate repainted over every pixel (its composition came from the model); E is a
#: composite when a human painted pixels, and all AI pixels (made under human direction:
#: prompt, masks, levels) when nobody did.
EXTERNAL_LABELS: dict[str, tuple[str, str]] = {
    "A": ("digitalCreation", "None (no AI used) / Creative (AI plate fully repainted)"),
    "B": ("compositeWithTrainedAlgorithmicMedia", "Creative"),
    "C": ("compositeWithTrainedAlgorithmicMedia", "Creative"),
    "D": ("compositeWithTrainedAlgorithmicMedia", "Creative"),
    "E": (
        "compositeWithTrainedAlgorithmicMedia (human paint > 0%) / trainedAlgorithmicMedia "
        "(direction only)",
        "Creative (human paint > 0%) / Total (direction only)",
    ),
    "F": ("trainedAlgorithmicMedia", "Total"),
}


def external_labels(letter: str, *, ai_used: bool, human_paint: float) -> tuple[str, str]:
    """The IPTC digital source type term and the AI Content Declaration level of one plate
    with grade ``letter`` (see :data:`EXTERNAL_LABELS`)."""
    if letter == "A":
        return "digitalCreation", ("Creative" if ai_used else "None")
    if letter == "E" and human_paint <= 0.0:
        return "trainedAlgorithmicMedia", "Total"
    if letter == "E":
        return "compositeWithTrainedAlgorithmicMedia", "Creative"
    return EXTERNAL_LABELS.get(letter, ("–", "–"))


def grade(figs: Mapping[str, Any], t: Thresholds, *, modified: bool) -> tuple[str, str]:
    """The grade A–F of a plate's figures and the rule that gave it.

    ``modified``: the final pixels visibly differ from the AI image the plate started from
    (see :func:`visibly_modified`).
    """
    p = float(figs["human_paint_share"])
    ai = float(figs["ai_gen_share"]) + float(figs["ai_inpaint_share"])
    if ai <= 0.0:
        return "A", f"no AI pixels (human paint {pct(p)})"
    if p >= t.b:
        return "B", f"human paint {pct(p)} ≥ {pct(t.b, 0)}"
    if p >= t.c:
        return "C", f"human paint {pct(p)} ≥ {pct(t.c, 0)}"
    if p >= t.d:
        return "D", f"human paint {pct(p)} ≥ {pct(t.d, 0)}"
    if p > 0.0:
        return "E", f"human paint {pct(p)} < {pct(t.d, 0)}"
    if modified:
        return "E", "no human paint; AI output visibly changed under human direction"
    return "F", "unmodified AI output"


def visibly_modified(figs: Mapping[str, Any], root: EventRow) -> bool:
    """Whether the plate is not the AI output it started from, by the visible-change test.

    An AI plate counts as modified only when the final raster shows a visible change
    (ΔE76 above the threshold): AI-inpainted pixels, adjusted pixels or pixels a human painted.
    An edit that changes bytes but no visible colour (``visible_px`` 0) leaves it unmodified.
    """
    if root.kind == Kind.PLATE_IMPORTED:
        return True
    return any(
        float(figs[key]) > 0.0
        for key in ("ai_inpaint_share", "adjust_share", "human_touched_share")
    )


def definition(t: Thresholds, made_under: Collection[int] = ()) -> Definition:
    """The definition the report's figures follow. ``made_under``: the contribution
    definition versions the reported plates were recorded under (a ledger's plates keep the
    version they were made with; the report states the newest, and names every one)."""
    th = contrib.DELTA_E_THRESHOLD
    versions = sorted(set(made_under)) or [contrib.DEFINITION_VERSION]
    if len(versions) == 1:
        version_text = f"Definition version {versions[0]}."
    else:
        named = ", ".join(str(v) for v in versions[:-1]) + f" and {versions[-1]}"
        version_text = (
            f"Definition versions {named}: each plate's figures follow the version its "
            "events were recorded under."
        )
    return Definition(
        version=versions[-1],
        delta_e=th,
        grade_b=t.b,
        grade_c=t.c,
        grade_d=t.d,
        grade_rules=grade_rules(t),
        text=[
            "Every plate keeps a provenance raster that bgart computes from the layers it saw "
            "(one class and one human weight h per pixel); nobody types in a share.",
            "Human paint share = the mean of h over the final plate's pixels. A brush stroke "
            f"of opacity a that visibly changes a pixel (CIELAB ΔE76 > {th}) and is not "
            "explained by a global levels/colour curve sets h := a + (1 − a)·h. An AI inpaint "
            "that visibly changes a pixel inside its mask resets h := 0 there.",
            "AI generated / AI inpainted / human base share = the mean of (1 − h) over pixels "
            "whose base is the AI plate / an AI inpaint / a human-made canvas. With the human "
            "paint share they add up to 100%.",
            "Each retouch artist's share splits h among the strokes that built it: a stroke of "
            "opacity a takes share a of the pixel, earlier strokes keep (1 − a) of theirs.",
            "Layout, prompt, candidate choice, inpaint masks and approval are credited by name "
            "but earn no pixel share. Levels/colour passes are technical edits, recorded as "
            "the adjust share, not authorship.",
            "Active time: editing seconds measured by the paint UI or given when outside work "
            "is imported. GPU time: seconds the models ran.",
            "Totals, rankings and credit lines count accepted plates only. A percentage in a "
            "credit line is that person's painted pixels over all accepted pixels in scope.",
            f"{version_text} Grade thresholds come from the project settings grade_b, "
            "grade_c and grade_d.",
        ],
    )
