"""The credit report: who made each accepted plate, measured from the ledger, never typed in.

:func:`build_report` reads a project's ledger and returns a :class:`CreditReport`:

* one :class:`PlateCredit` per plate (latest version): layout artist(s), prompt author, the
  AI model(s) with the revision and licence pinned in weights.lock, who chose the candidate,
  each retouch artist with their share of the plate's human paint and active time, each AI
  inpaint with the person who drew its mask, the approver and date, and the grade A–F with
  the rule that gave it;
* one :class:`ScopeSummary` per episode and one for the whole production: totals, grade
  distribution, share of accepted plates used as generated, people ranked by painted pixels
  then time, and end-credit lines in English and Japanese that always name people;
* the contribution definition and grade thresholds in force (:class:`Definition`).

Renderers live in :mod:`bgart.credits.render`; signed PNG / layered PSD exports in
:mod:`bgart.credits.export`.
Episode = the shot code before its first ``_`` (``EP01_C012`` → ``EP01``).

Per-artist shares. The provenance raster keeps one human weight h per pixel, not who laid
it. :func:`replay_plate` recovers the split by replaying the plate's lineage (following
reverts) with the very functions of :mod:`bgart.provenance.raster`: a stroke of opacity a takes
share a of each pixel it is credited on and earlier contributors keep (1 − a) of theirs, an
AI inpaint clears the pixels it visibly changed. The split is finally scaled per pixel so the
artists' weights add up exactly to the stored raster's h, so the artists' shares add up to
the plate's ``human_paint_share``.

Totals, rankings and credit lines count accepted plates only; every plate is listed.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bgart import plates as workflow
from bgart import provenance as contrib
from bgart.errors import InputError, LedgerIntegrityError
from bgart.images import open_image
from bgart.ledger import EventRow, Project
from bgart.settings import Settings

REPORT_VERSION = 1
GRADES = ("A", "B", "C", "D", "E", "F")
NOT_RECORDED = "not recorded"
NO_EPISODE = "no-episode"
ROLE_ORDER = (
    "layout",
    "prompt",
    "selection",
    "retouch",
    "inpaint_direction",
    "adjustment",
    "approval",
)
ROLE_LABELS = {
    "layout": "layout",
    "prompt": "prompt",
    "selection": "candidate choice",
    "retouch": "retouch",
    "inpaint_direction": "AI inpaint direction",
    "adjustment": "levels/colour",
    "approval": "approval",
}
ROLE_LABELS_JA = {
    "layout": "レイアウト：",
    "prompt": "プロンプト：",
    "selection": "候補選択：",
    "retouch": "レタッチ：",
    "inpaint_direction": "AI修正指示：",
    "adjustment": "色調整：",
    "approval": "承認：",
}
THUMB_EDGE = 240


# --- the model -----------------------------------------------------------------------------


@dataclass
class ModelUse:
    """An AI model that made pixels of the plate, as weights.lock pins it."""

    name: str
    role: str  # generation | controlnet | inpaint
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

    @property
    def key(self) -> str:
        return f"{self.shot}/{self.plate}"

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    def retouchers(self) -> list[Contributor]:
        """Retouch artists, largest share first."""
        return sorted(
            (c for c in self.contributors if "retouch" in c.roles),
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
    # Not serialised: PNG heat-map and JPEG plate thumbnails by plate key (HTML/PDF only).
    thumbnails: dict[str, tuple[bytes, bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("thumbnails")
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
        (ScopeSummary, "people"): PersonCredit,
    }
)


# --- grades and the definition ---------------------------------------------------------------


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


def pct(share: float | None, digits: int = 1) -> str:
    """A share in 0..1 as a percentage; never rounds a non-zero share down to 0."""
    if share is None:
        return "–"
    value = share * 100
    if 0 < value < 10**-digits:
        return f"<{10**-digits:g}%"
    return f"{value:.{digits}f}%"


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
    if root.kind == "plate.imported":
        return True
    return any(
        float(figs[key]) > 0.0
        for key in ("ai_inpaint_share", "adjust_share", "human_touched_share")
    )


def definition(t: Thresholds) -> Definition:
    th = contrib.DELTA_E_THRESHOLD
    return Definition(
        version=contrib.DEFINITION_VERSION,
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
            f"Definition version {contrib.DEFINITION_VERSION}. Grade thresholds come from the "
            "project settings grade_b, grade_c and grade_d.",
        ],
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


def _shots(project: Project) -> list[str]:
    from sqlalchemy import select

    from bgart.ledger import Shot

    with project.ledger.read() as s:
        return list(s.execute(select(Shot.code)).scalars())


# --- weights.lock ---------------------------------------------------------------------------


class _Lock:
    """Model revision/licence lookups in the project's weights.lock (read once)."""

    def __init__(self, path: Path | None) -> None:
        from bgart.errors import WeightsError
        from bgart.generation import WeightsLock

        self.path = path
        self.lock: WeightsLock | None = None
        if path is not None and Path(path).is_file():
            try:
                self.lock = WeightsLock.load(Path(path))
            except WeightsError:
                self.lock = None

    def use(self, name: str, role: str, files: Mapping[str, str] | None) -> ModelUse:
        entry = self.lock.models.get(name) if self.lock else None
        if entry is None:
            return ModelUse(name, role, "not in weights.lock", NOT_RECORDED, "not in weights.lock")
        revision = entry.revision or "not pinned in weights.lock"
        licence = entry.license or NOT_RECORDED
        mine = {k.split("/", 1)[1]: v for k, v in (files or {}).items() if k.startswith(f"{name}/")}
        pinned = {f.path: f.sha256 for f in entry.files if f.sha256}
        if not mine:
            weights = "no file hashes recorded"
        elif not pinned:
            weights = "weights.lock pins no hashes"
        else:
            bad = sorted(p for p, sha in mine.items() if p in pinned and pinned[p] != sha)
            weights = (
                "match weights.lock" if not bad else f"differ from weights.lock: {', '.join(bad)}"
            )
        return ModelUse(name, role, revision, licence, weights)


# --- replaying a plate ----------------------------------------------------------------------


@dataclass
class Step:
    """One pixel-changing edit in a plate's lineage (after the plate's AI or imported base)."""

    event: EventRow
    kind: str  # paint | final | inpaint | adjust
    person: str  # painter, mask author or adjuster
    model: str | None  # inpaint model
    base_version: int
    version: int
    bbox: tuple[int, int, int, int] | None  # x, y, width, height of the credited/masked area


@dataclass
class Replay:
    """A plate version's lineage: its root event, the edits on it, the per-artist split."""

    root: EventRow
    steps: list[Step]
    weights: dict[str, np.ndarray]  # artist -> per-pixel weight, summing to the raster's h
    unattributed: float  # mean of h no artist explains


def lineage(events: Sequence[EventRow], version: int) -> list[EventRow]:
    """The version-making events that built ``version``, oldest first, following reverts."""
    by_version = {
        int(ev.payload["version"]): ev
        for ev in events
        if ev.kind in workflow.VERSION_KINDS and ev.payload.get("version") is not None
    }
    out: list[EventRow] = []
    number: int | None = version
    seen: set[int] = set()
    while number is not None:
        if number in seen or number not in by_version:
            raise LedgerIntegrityError(f"plate version {number}: lineage cannot be followed")
        seen.add(number)
        ev = by_version[number]
        if ev.kind == "plate.reverted":
            number = int(ev.payload["to_version"])
            continue
        out.append(ev)
        if ev.kind in ("ai.generated", "variation.selected", "plate.imported"):
            break
        number = ev.payload.get("base_version")
    if not out or out[-1].kind not in ("ai.generated", "variation.selected", "plate.imported"):
        raise LedgerIntegrityError(f"plate version {version}: lineage has no starting image")
    return out[::-1]


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if not xs.size:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)


def _blob(project: Project, ev: EventRow, role: str, mode: str) -> np.ndarray:
    sha = ev.blobs.get(role)
    if not sha:
        raise LedgerIntegrityError(f"{ev.label}: no {role} blob")
    return np.asarray(open_image(project.blobs.get(sha), mode=mode, name=f"{ev.label} {role}"))


def replay_plate(
    project: Project,
    shot: str,
    plate: str,
    state: workflow.PlateState,
    events: Sequence[EventRow],
) -> Replay:
    """Replay the lineage of ``state`` to split its human paint among artists."""
    chain = lineage(events, state.number)
    root, edits = chain[0], chain[1:]
    h, w = state.image.shape[:2]
    weights: dict[str, np.ndarray] = {}
    if root.kind == "plate.imported" and root.payload.get("origin") == "hand-painted":
        weights[root.actor] = np.ones((h, w), np.float32)
    zero = contrib.Raster.filled(w, h, contrib.AI_GEN, 0.0)
    one = contrib.Raster.filled(w, h, contrib.AI_GEN, 1.0)
    steps: list[Step] = []
    for ev in edits:
        base = int(ev.payload["base_version"])
        before = workflow.plate_state(project, shot, plate=plate, version=base).image
        bbox: tuple[int, int, int, int] | None = None
        if ev.kind == "human.painted":
            final = ev.payload.get("source") == "final"
            if final:
                a = contrib.final(before, zero, _blob(project, ev, "final", "RGB")).raster.human
            else:
                a = contrib.paint(before, zero, _blob(project, ev, "layer", "RGBA")).raster.human
            keep = np.float32(1.0) - a
            for arr in weights.values():
                arr *= keep
            weights.setdefault(ev.actor, np.zeros((h, w), np.float32))
            weights[ev.actor] += a
            bbox = _bbox(a > 0)
            steps.append(
                Step(
                    ev,
                    "final" if final else "paint",
                    ev.actor,
                    None,
                    base,
                    int(ev.payload["version"]),
                    bbox,
                )
            )
        elif ev.kind == "ai.inpainted":
            mask = contrib.mask_from_image(_blob(project, ev, "mask", "L"))
            result = _blob(project, ev, "result", "RGB")
            cleared = contrib.inpaint(before, one, result, mask).raster.human == 0
            for arr in weights.values():
                arr[cleared] = 0.0
            box = ev.payload.get("mask_bbox")
            if box:
                bbox = (int(box[0]), int(box[1]), int(box[2] - box[0]), int(box[3] - box[1]))
            person = ev.payload.get("directed_by") or NOT_RECORDED
            steps.append(
                Step(ev, "inpaint", person, ev.actor, base, int(ev.payload["version"]), bbox)
            )
        elif ev.kind == "human.adjusted":
            steps.append(Step(ev, "adjust", ev.actor, None, base, int(ev.payload["version"]), None))
        else:
            raise LedgerIntegrityError(f"{ev.label}: unexpected in a plate lineage")
    # Scale the split so it adds up exactly to the stored raster's h (float rounding only).
    target = state.raster.human.astype(np.float64)
    unattributed = 0.0
    if weights:
        total = np.zeros((h, w), np.float64)
        for arr in weights.values():
            total += arr
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(total > 0, target / total, 0.0)
        for name in list(weights):
            weights[name] = weights[name] * scale
        unattributed = float(target[total <= 0].sum() / target.size)
    else:
        unattributed = float(target.sum() / target.size)
    return Replay(root, steps, weights, unattributed)


def generation_event(events: Sequence[EventRow], root: EventRow) -> EventRow | None:
    """The ai.generated event of the candidate a plate started from (None: no AI base)."""
    if root.kind == "ai.generated":
        return root
    if root.kind == "variation.selected":
        n = root.payload.get("candidate")
        for ev in events:
            if ev.kind == "ai.generated" and ev.payload.get("candidate") == n:
                return ev
    return None


# --- building the report --------------------------------------------------------------------


def build_plate(
    project: Project,
    shot: str,
    plate: str,
    thresholds: Thresholds,
    lock: _Lock,
) -> tuple[PlateCredit, Replay, workflow.PlateState]:
    """The credit of one plate's latest version (and the replay export builds on)."""
    figs = workflow.plate_figures(project, shot, plate=plate)
    state = workflow.plate_state(project, shot, plate=plate)
    events = project.ledger.events(shot=shot, plate=plate)
    rep = replay_plate(project, shot, plate, state, events)
    gen = generation_event(events, rep.root)
    record = gen.payload.get("record", {}) if gen else {}
    models: list[ModelUse] = []
    if gen is not None:
        models.append(lock.use(gen.actor, "generation", record.get("model_files")))
        if record.get("controlnet"):
            models.append(lock.use(record["controlnet"], "controlnet", record.get("model_files")))
    masks: list[MaskDirection] = []
    for step in rep.steps:
        if step.kind != "inpaint":
            continue
        ev = step.event
        irec = ev.payload.get("record", {})
        if not any(m.name == ev.actor and m.role == "inpaint" for m in models):
            models.append(lock.use(ev.actor, "inpaint", irec.get("model_files")))
        stats = ev.payload.get("stats", {})
        masks.append(
            MaskDirection(
                directed_by=step.person,
                model=ev.actor,
                bbox=list(step.bbox) if step.bbox else None,
                mask_px=int(stats.get("mask_px", 0)),
                changed_px=int(stats.get("visible_px", 0)),
                active_seconds=float(ev.payload.get("active_seconds") or 0.0),
                at=ev.created_at,
            )
        )
    pixels = int(figs["pixels"])
    # Time per person over every event of the plate (effort counts even when reverted).
    seconds: dict[str, float] = {}
    sessions: dict[str, int] = {}
    for ev in events:
        secs = float(ev.payload.get("active_seconds") or 0.0)
        if ev.kind == "ai.inpainted":
            who = ev.payload.get("directed_by")
        elif ev.actor_kind == "human":
            who = ev.actor
        else:
            who = None
        if who:
            seconds[who] = seconds.get(who, 0.0) + secs
        if ev.kind == "human.painted":
            sessions[ev.actor] = sessions.get(ev.actor, 0) + 1
    roles: dict[str, set[str]] = {}

    def add(name: str | None, role: str) -> None:
        if name:
            roles.setdefault(name, set()).add(role)

    for name in figs["layout_artists"]:
        add(name, "layout")
    prompt_author = gen.payload.get("requested_by") if gen else None
    add(prompt_author, "prompt")
    chosen_by = rep.root.actor if rep.root.kind == "variation.selected" else None
    add(chosen_by, "selection")
    # Roles come from every event of the plate (work later reverted is still named, with
    # its time and a 0% share); shares come from the lineage of the final version only.
    for name in set(rep.weights) | {ev.actor for ev in events if ev.kind == "human.painted"}:
        add(name, "retouch")
    for ev in events:
        if ev.kind == "ai.inpainted":
            add(ev.payload.get("directed_by"), "inpaint_direction")
    adjusted_by = sorted({s.person for s in rep.steps if s.kind == "adjust"})
    for name in {ev.actor for ev in events if ev.kind == "human.adjusted"}:
        add(name, "adjustment")
    approver = figs["approver"] if figs["status"] == "accepted" else None
    add(approver, "approval")
    contributors = []
    for name in sorted(roles, key=natural_key):
        share = float(rep.weights[name].sum() / pixels) if name in rep.weights else 0.0
        contributors.append(
            Contributor(
                name=name,
                roles=[r for r in ROLE_ORDER if r in roles[name]],
                human_paint_share=float(share),
                painted_px=float(share * pixels),
                active_seconds=round(seconds.get(name, 0.0), 3),
                sessions=sessions.get(name, 0),
                masks=sum(1 for m in masks if m.directed_by == name),
            )
        )
    decision = None
    if figs["status"] != "open":
        decision = next(
            ev for ev in reversed(events) if ev.kind in ("plate.accepted", "plate.rejected")
        )
    letter, reason = grade(figs, thresholds, modified=visibly_modified(figs, rep.root))
    credit = PlateCredit(
        episode=episode_of(shot),
        shot=shot,
        plate=plate,
        version=state.number,
        status=figs["status"],
        width=int(figs["width"]),
        height=int(figs["height"]),
        pixels=pixels,
        image_sha256=state.image_sha,
        raster_sha256=state.raster_sha,
        layout_sha256=figs["layout_sha256"],
        layout_artists=list(figs["layout_artists"]),
        prompt_author=prompt_author or None,
        prompt=record.get("prompt"),
        chosen_by=chosen_by,
        candidates=int(figs["candidates"]),
        chosen_candidate=figs["chosen_candidate"],
        models=models,
        human_paint_share=float(figs["human_paint_share"]),
        ai_gen_share=float(figs["ai_gen_share"]),
        ai_inpaint_share=float(figs["ai_inpaint_share"]),
        human_base_share=float(figs["human_base_share"]),
        human_touched_share=float(figs["human_touched_share"]),
        adjust_share=float(figs["adjust_share"]),
        unattributed_share=float(rep.unattributed),
        masks=masks,
        adjusted_by=adjusted_by,
        contributors=contributors,
        active_seconds=float(figs["active_seconds"]),
        gpu_seconds=float(figs["gpu_seconds"]),
        approver=approver,
        approved_at=decision.created_at if approver and decision else None,
        review_comment=figs["review_comment"] or None,
        grade=letter,
        grade_reason=reason,
        events=int(figs["events"]),
        last_event_hash=events[-1].hash,
    )
    return credit, rep, state


def _summary(scope: str, name: str, plates: Sequence[PlateCredit]) -> ScopeSummary:
    acc = [p for p in plates if p.accepted]
    pixels = sum(p.pixels for p in acc)

    def weighted(attr: str) -> float:
        return float(sum(getattr(p, attr) * p.pixels for p in acc) / pixels) if pixels else 0.0

    dist = {g: sum(1 for p in acc if p.grade == g) for g in GRADES}
    people: dict[str, dict[str, Any]] = {}
    for p in acc:
        for c in p.contributors:
            d = people.setdefault(
                c.name,
                {
                    "roles": set(),
                    "plates": 0,
                    "px": 0.0,
                    "secs": 0.0,
                    "sessions": 0,
                    "masks": 0,
                    "layouts": 0,
                    "prompts": 0,
                    "approvals": 0,
                },
            )
            d["roles"].update(c.roles)
            d["plates"] += 1
            d["px"] += c.painted_px
            d["secs"] += c.active_seconds
            d["sessions"] += c.sessions
            d["masks"] += c.masks
            d["layouts"] += "layout" in c.roles
            d["prompts"] += "prompt" in c.roles
            d["approvals"] += "approval" in c.roles
    by_px = sorted(
        people, key=lambda n: (-round(people[n]["px"], 6), -people[n]["secs"], natural_key(n))
    )
    by_time = sorted(
        people,
        key=lambda n: (-round(people[n]["secs"], 6), -round(people[n]["px"], 6), natural_key(n)),
    )
    ranked = [
        PersonCredit(
            rank=i + 1,
            name=n,
            roles=[r for r in ROLE_ORDER if r in people[n]["roles"]],
            plates=people[n]["plates"],
            painted_px=float(people[n]["px"]),
            human_paint_share=float(people[n]["px"] / pixels) if pixels else 0.0,
            active_seconds=round(people[n]["secs"], 3),
            layouts=people[n]["layouts"],
            prompts=people[n]["prompts"],
            sessions=people[n]["sessions"],
            masks=people[n]["masks"],
            approvals=people[n]["approvals"],
            rank_by_time=by_time.index(n) + 1,
        )
        for i, n in enumerate(by_px)
    ]
    models = sorted(
        {m.name for p in acc for m in p.models if m.role != "controlnet"}, key=natural_key
    )
    en, ja, both = credit_lines(ranked, models)
    return ScopeSummary(
        scope=scope,
        name=name,
        plates=len(plates),
        accepted=len(acc),
        open=sum(1 for p in plates if p.status == "open"),
        rejected=sum(1 for p in plates if p.status == "rejected"),
        pixels=pixels,
        human_paint_share=weighted("human_paint_share"),
        ai_gen_share=weighted("ai_gen_share"),
        ai_inpaint_share=weighted("ai_inpaint_share"),
        human_base_share=weighted("human_base_share"),
        grade_distribution=dist,
        unmodified=dist["F"],
        unmodified_share=float(dist["F"] / len(acc)) if acc else 0.0,
        candidates=sum(p.candidates for p in acc),
        masks=sum(len(p.masks) for p in acc),
        active_seconds=round(sum(p.active_seconds for p in acc), 3),
        gpu_seconds=round(sum(p.gpu_seconds for p in acc), 3),
        models=models,
        people=ranked,
        credit_en=en,
        credit_ja=ja,
        credit_line=both,
    )


# --- end-credit lines -----------------------------------------------------------------------


def _credit_pct(share: float) -> str:
    if share <= 0:
        return "0%"
    if share < 0.005:
        return "<1%"
    return f"{round(share * 100):d}%"


def credit_lines(
    people: Sequence[PersonCredit | Contributor], models: Sequence[str]
) -> tuple[str, str, str]:
    """(English, Japanese, bilingual) end-credit lines. Every role of :data:`ROLE_ORDER`
    names its people (candidate choice, levels/colour and approval too); a role nobody held
    is left out; AI is named by model, never as an anonymous "AI (+Human)"."""
    retouch = sorted(
        (p for p in people if "retouch" in p.roles),
        key=lambda p: (-round(p.painted_px, 6), -p.active_seconds, natural_key(p.name)),
    )
    # (English label, Japanese label, English names, Japanese names); empty roles left out
    roles: list[tuple[str, str, list[str], list[str]]] = []
    for role in ROLE_ORDER:
        if role == "retouch":
            en_names = [f"{p.name} ({_credit_pct(p.human_paint_share)})" for p in retouch]
            ja_names = [f"{p.name}（{_credit_pct(p.human_paint_share)}）" for p in retouch]
        else:
            en_names = ja_names = [p.name for p in people if role in p.roles]
        roles.append((f"{ROLE_LABELS[role]} ", ROLE_LABELS_JA[role], en_names, ja_names))
    en = [en_label + ", ".join(n) for en_label, _, n, _ in roles if n]
    ja = [ja_label + "、".join(n) for _, ja_label, _, n in roles if n]
    ai = ", ".join(models)  # model names are joined the same way in both languages
    if ai:
        en.append(f"AI: {ai}")
        ja.append(f"AI：{ai}")
    if not any(n for _, _, n, _ in roles):
        en.append("no human contributor recorded")
        ja.append("人の参加の記録なし")
    en_text = "; ".join(en)
    return (
        f"Background art: {en_text}",
        "背景　" + "／".join(ja),
        f"背景 / Background art: {en_text}",
    )


def plate_credit_lines(p: PlateCredit) -> tuple[str, str, str]:
    models = [m.name for m in p.models if m.role != "controlnet"]
    return credit_lines(p.contributors, models)


# --- thumbnails -----------------------------------------------------------------------------


def _thumbs(p: PlateCredit, state: workflow.PlateState) -> tuple[bytes, bytes]:
    """(heat map PNG, plate JPEG), at most :data:`THUMB_EDGE` pixels on the long edge.

    The heat map is drawn without the plate's luminance: flat provenance colours read
    better at thumbnail size and compress to a few kB."""
    heat = contrib.heatmap(state.raster, None, legend=False)
    scale = min(1.0, THUMB_EDGE / max(heat.size))
    size = (max(1, round(heat.width * scale)), max(1, round(heat.height * scale)))
    buf = io.BytesIO()
    heat.resize(size, Image.Resampling.BOX).save(buf, "PNG", compress_level=9)
    plate_buf = io.BytesIO()
    Image.fromarray(np.asarray(state.image), "RGB").resize(size, Image.Resampling.BOX).save(
        plate_buf, "JPEG", quality=82
    )
    return buf.getvalue(), plate_buf.getvalue()


# --- the entry point --------------------------------------------------------------------------


def build_report(
    project: Project,
    *,
    episode: str | None = None,
    thumbnails: bool = True,
    weights_lock: Path | None = None,
    now: datetime | None = None,
) -> CreditReport:
    """The credit report of ``project`` (optionally one episode), from its ledger alone.

    The ledger's hash chain is checked first; a damaged ledger raises
    :class:`LedgerIntegrityError` instead of producing credits.
    """
    events, head = project.ledger.verify_chain()
    thresholds = Thresholds.from_settings(project.settings)
    lock = _Lock(weights_lock or project.settings.weights_lock)
    found: list[tuple[str, str]] = []
    for shot in _shots(project):
        for plate in workflow.plate_names(project, shot):
            if workflow.plate_versions(project, shot, plate=plate):
                found.append((shot, plate))
    all_episodes = sorted({episode_of(s) for s, _ in found}, key=natural_key)
    if episode is not None:
        found = [(s, p) for s, p in found if episode_of(s) == episode]
        if not found:
            known = ", ".join(all_episodes) or "none"
            raise InputError(f"episode '{episode}': no plates in this project (episodes: {known})")
    found.sort(
        key=lambda sp: (
            natural_key(episode_of(sp[0])),
            natural_key(sp[0]),
            sp[1] != workflow.PLATE,
            natural_key(sp[1]),
        )
    )
    plates: list[PlateCredit] = []
    thumbs: dict[str, tuple[bytes, bytes]] = {}
    for shot, plate in found:
        credit, _rep, state = build_plate(project, shot, plate, thresholds, lock)
        plates.append(credit)
        if thumbnails:
            thumbs[credit.key] = _thumbs(credit, state)
    episodes = [
        _summary("episode", ep, [p for p in plates if p.episode == ep])
        for ep in sorted({p.episode for p in plates}, key=natural_key)
    ]
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return CreditReport(
        report_version=REPORT_VERSION,
        generated_at=stamp.replace("+00:00", "Z"),
        production=project.settings.production,
        episode_filter=episode,
        ledger_events=events,
        ledger_head=head,
        definition=definition(thresholds),
        plates=plates,
        episodes=episodes,
        production_summary=_summary("production", project.settings.production, plates),
        thumbnails=thumbs,
    )


def people_in(plates: Iterable[PlateCredit]) -> list[str]:
    """Every person named anywhere in ``plates`` (sorted)."""
    return sorted({c.name for p in plates for c in p.contributors}, key=natural_key)
