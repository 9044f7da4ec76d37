"""The credit report's data: what it states about each plate, person and scope.

:class:`CreditReport` holds one :class:`PlateCredit` per plate (with its :class:`ModelUse`,
:class:`MaskDirection` and :class:`Contributor` entries), one :class:`ScopeSummary` per episode
and one for the production (people ranked as :class:`PersonCredit`), and the
:class:`Definition` in force. :meth:`CreditReport.to_dict` / :meth:`CreditReport.from_dict`
are its JSON form. Also the credited roles (:data:`ROLE_ORDER` and their labels) and how
plates are keyed and ordered (:func:`episode_of`, :func:`natural_key`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REPORT_VERSION = 1
GRADES = ("A", "B", "C", "D", "E", "F")
NOT_RECORDED = "not recorded"
NO_EPISODE = "no-episode"
#: The report's roles, in the order a person's roles are listed (the JSON's ``roles``).
ROLE_ORDER = (
    "layout",
    "art_board",
    "prompt",
    "selection",
    "background",
    "retouch",
    "inpaint_direction",
    "adjustment",
    "approval",
)
#: How the report's tables name a role (English).
ROLE_LABELS = {
    "layout": "layout",
    "art_board": "art board (style references)",
    "prompt": "prompt",
    "selection": "candidate choice",
    "background": "background art (hand-painted plate)",
    "retouch": "retouch",
    "inpaint_direction": "AI inpaint direction",
    "adjustment": "levels/colour",
    "approval": "approval",
}
#: The end roll's order: the art director first, then the painters, then the AI side.
ROLL_ORDER = (
    "approval",
    "art_board",
    "background",
    "retouch",
    "layout",
    "adjustment",
    "prompt",
    "selection",
    "inpaint_direction",
    "ai",
)
#: Default role headings of the end roll, as anime end credits write them; a production
#: overrides any of them in bgart.toml (``[credits.headings]`` / ``[credits.headings_en]``).
#: The approver is credited under their production role (the art director approves plates).
ROLL_HEADINGS_JA = {
    "approval": "美術監督",
    "art_board": "美術監督",  # the art board is the art director's: one heading with approval
    "background": "背景",
    "retouch": "背景レタッチ",
    "layout": "レイアウト",
    "adjustment": "背景仕上げ",
    "prompt": "AI背景プロンプト",
    "selection": "AI背景選定",
    "inpaint_direction": "AI背景修正指示",
    "ai": "AI背景生成",
}
ROLL_HEADINGS_EN = {
    "approval": "Art Director",
    "art_board": "Art Director",
    "background": "Background Art",
    "retouch": "Background Retouch",
    "layout": "Layout",
    "adjustment": "Background Finishing",
    "prompt": "AI Background Prompts",
    "selection": "AI Background Selection",
    "inpaint_direction": "AI Inpaint Direction",
    "ai": "AI Background Generation",
}


# --- the model -----------------------------------------------------------------------------


@dataclass
class ModelUse:
    """An AI model that made pixels of the plate, as weights.lock pins it."""

    name: str
    role: str  # generation | controlnet | lora | inpaint
    revision: str  # pinned revision, or why there is none
    licence: str  # licence in weights.lock, or "not recorded"
    weights: str  # do the recorded file hashes match weights.lock?

    def label(self) -> str:
        return f"{self.name} (revision {self.revision}, licence {self.licence})"


@dataclass
class MaskDirection:
    """One AI inpaint: the model filled a mask a person drew."""

    directed_by: str
    model: str
    bbox: list[int] | None  # x, y, width, height of the mask; None for an empty mask
    mask_px: int
    changed_px: int  # pixels whose colour visibly changed (they became AI inpainted)
    active_seconds: float
    at: str


@dataclass
class ReviewEntry:
    """One review act on the plate, for its history (no credit role): a submission with the
    artist's note, a director's retake marks (each region with its comment), a decision."""

    at: str
    act: str  # submitted | retake marks | accepted | rejected
    by: str
    version: int | None
    comment: str
    regions: list[str] = field(default_factory=list)  # "rect 4,4–30,20: sky too cold"


@dataclass
class Contributor:
    """One person's part in one plate."""

    name: str
    roles: list[str]
    human_paint_share: float  # of the plate's pixels (their part of the human paint)
    painted_px: float  # human_paint_share × pixels
    active_seconds: float  # all their measured editing time on the plate
    sessions: int  # paint sessions (human.painted events)
    masks: int  # inpaint masks drawn


@dataclass
class PlateCredit:
    """Everything the report states about one plate (its latest version)."""

    episode: str
    shot: str
    plate: str
    version: int
    status: str  # accepted | rejected | open
    width: int
    height: int
    pixels: int
    image_sha256: str  # the plate's pixels (PNG in the blob store)
    raster_sha256: str  # its provenance raster
    layout_sha256: str | None
    layout_artists: list[str]
    prompt_author: str | None  # requested_by on the chosen ai.generated; None = not recorded
    prompt: str | None
    chosen_by: str | None
    candidates: int
    chosen_candidate: int | None
    models: list[ModelUse]
    human_paint_share: float
    ai_gen_share: float
    ai_inpaint_share: float
    human_base_share: float
    human_touched_share: float
    adjust_share: float
    unattributed_share: float  # human paint no replayed artist explains (0 unless damaged)
    masks: list[MaskDirection]
    adjusted_by: list[str]
    contributors: list[Contributor]
    active_seconds: float
    gpu_seconds: float
    approver: str | None
    approved_at: str | None
    review_comment: str | None
    grade: str
    grade_reason: str
    events: int
    last_event_hash: str
    reuses: str | None = None  # 兼用: "<shot>/<plate>" whose accepted plate (and credits) it takes
    review_history: list[ReviewEntry] = field(default_factory=list)  # no credit role

    @property
    def key(self) -> str:
        return f"{self.shot}/{self.plate}"

    @property
    def source(self) -> tuple[str, str]:
        """(shot, plate) whose ledger history made the pixels: its own, or the reused one."""
        if self.reuses:
            shot, _, plate = self.reuses.partition("/")
            return shot, plate
        return self.shot, self.plate

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    def retouchers(self) -> list[Contributor]:
        """The painters (retouch artists and the painter of a hand-painted base), largest
        share first."""
        return sorted(
            (c for c in self.contributors if {"retouch", "background"} & set(c.roles)),
            key=lambda c: (-round(c.painted_px, 6), -c.active_seconds, c.name),
        )


@dataclass
class PersonCredit:
    """One person over a scope (episode or production), accepted plates only."""

    rank: int  # by painted pixels, then active time, then name
    name: str
    roles: list[str]
    plates: int
    painted_px: float
    human_paint_share: float  # painted_px over all accepted pixels of the scope
    active_seconds: float
    layouts: int
    prompts: int
    sessions: int
    masks: int
    approvals: int
    rank_by_time: int


@dataclass
class ScopeSummary:
    """Totals for an episode or the whole production."""

    scope: str  # episode | production
    name: str
    plates: int
    accepted: int
    open: int
    rejected: int
    pixels: int  # accepted plates
    human_paint_share: float  # pixel-weighted over accepted plates
    ai_gen_share: float
    ai_inpaint_share: float
    human_base_share: float
    grade_distribution: dict[str, int]
    unmodified: int  # accepted plates graded F: used exactly as the AI made them
    unmodified_share: float
    candidates: int
    masks: int
    active_seconds: float
    gpu_seconds: float
    models: list[str]
    people: list[PersonCredit]
    credit_en: str
    credit_ja: str
    credit_line: str  # bilingual, the form an end roll uses


@dataclass
class Definition:
    """The contribution definition and grade thresholds the report was built with."""

    version: int
    delta_e: float
    grade_b: float
    grade_c: float
    grade_d: float
    grade_rules: dict[str, str]
    text: list[str]


@dataclass
class CreditReport:
    report_version: int
    generated_at: str
    production: str
    episode_filter: str | None
    ledger_events: int
    ledger_head: str
    definition: Definition
    plates: list[PlateCredit]
    episodes: list[ScopeSummary]
    production_summary: ScopeSummary
    # The end roll's role headings in force ({"ja": {role: heading}, "en": {...}}).
    headings: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"ja": dict(ROLL_HEADINGS_JA), "en": dict(ROLL_HEADINGS_EN)}
    )
    # Not serialised: PNG heat-map and JPEG plate thumbnails by plate key (HTML/PDF only).
    thumbnails: dict[str, tuple[bytes, bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("thumbnails")
        for plate in data["plates"]:  # reports without reused plates keep their form
            if plate.get("reuses") is None:
                plate.pop("reuses", None)
            if not plate.get("review_history"):  # nor do plates without retake marks
                plate.pop("review_history", None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CreditReport:
        return _from_dict(cls, data)

    def summaries(self) -> list[ScopeSummary]:
        """The summaries a reader needs: each episode, plus the production when it has more
        than one episode (or when the report was not limited to one episode)."""
        if self.episode_filter is not None or len(self.episodes) <= 1:
            return list(self.episodes) or [self.production_summary]
        return [self.production_summary, *self.episodes]


_NESTED: dict[tuple[type, str], type] = {}


def _from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild nested dataclasses from :meth:`CreditReport.to_dict` output."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        sub = _NESTED.get((cls, f.name))
        if sub is not None and isinstance(value, list):
            value = [_from_dict(sub, v) for v in value]
        elif sub is not None and isinstance(value, Mapping):
            value = _from_dict(sub, value)
        kwargs[f.name] = value
    return cls(**kwargs)


_NESTED.update(
    {
        (CreditReport, "definition"): Definition,
        (CreditReport, "plates"): PlateCredit,
        (CreditReport, "episodes"): ScopeSummary,
        (CreditReport, "production_summary"): ScopeSummary,
        (PlateCredit, "models"): ModelUse,
        (PlateCredit, "masks"): MaskDirection,
        (PlateCredit, "contributors"): Contributor,
        (PlateCredit, "review_history"): ReviewEntry,
        (ScopeSummary, "people"): PersonCredit,
    }
)


# --- episodes and ordering -----------------------------------------------------------------


def episode_of(shot: str) -> str:
    """The episode of a shot code: the part before the first ``_`` (``EP01_C012`` → ``EP01``);
    a code without ``_`` belongs to no episode (:data:`NO_EPISODE`)."""
    head, sep, _ = shot.partition("_")
    return head if sep and head else NO_EPISODE


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key with numbers compared as numbers (C2 before C10)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    )
