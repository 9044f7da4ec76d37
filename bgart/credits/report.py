"""Building the credit report: who made each plate, measured from the ledger, never typed in.

:func:`build_report` reads a project's ledger and returns a
:class:`~bgart.credits.model.CreditReport`:

* one :class:`~bgart.credits.model.PlateCredit` per plate (latest version): layout artist(s),
  prompt author, the AI model(s) with the revision and licence pinned in weights.lock (as the
  caller's :class:`~bgart.credits.catalog.ModelCatalog` states them), who chose the candidate,
  each retouch artist with their share of the plate's human paint and active time (split by
  :func:`~bgart.credits.lineage.replay_plate`), each AI inpaint with the person who drew its
  mask, the approver and date, and the grade A–F with the rule that gave it;
* one :class:`~bgart.credits.model.ScopeSummary` per episode and one for the whole
  production: totals, grade distribution, share of accepted plates used as generated, people
  ranked by painted pixels then time, and end-credit lines in English and Japanese that
  always name people (:mod:`bgart.credits.lines`);
* the contribution definition and grade thresholds in force (:mod:`bgart.credits.grade`).

Renderers live in :mod:`bgart.credits.render`; signed PNG / layered PSD exports in
:mod:`bgart.credits.export`.
Episode = the shot code before its first ``_`` (``EP01_C012`` → ``EP01``).

Totals, rankings and credit lines count accepted plates only; every plate is listed.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image

from bgart import plates as workflow
from bgart import provenance as contrib
from bgart.credits.catalog import ModelCatalog, lora_uses
from bgart.credits.grade import Thresholds, definition, grade, visibly_modified
from bgart.credits.lineage import Replay, generated_event, replay_plate
from bgart.credits.lines import Headings, ai_names, credit_lines, roll_roles
from bgart.credits.model import (
    GRADES,
    REPORT_VERSION,
    ROLE_ORDER,
    Contributor,
    CreditReport,
    MaskDirection,
    ModelUse,
    PersonCredit,
    PlateCredit,
    ReviewEntry,
    ScopeSummary,
    episode_of,
    natural_key,
)
from bgart.errors import InputError
from bgart.events import (
    DECISION_KINDS,
    VERSION_KINDS,
    Actor,
    AiGenerated,
    AiInpainted,
    CreditRole,
    EditKind,
    Kind,
    Payload,
    PlateImported,
    spec,
)
from bgart.ledger import EventRow, Project

THUMB_EDGE = 240
#: The report's role for a person credited by an event of the plate (the table's ``credit``
#: column). Layout, prompt, candidate choice and approval come from the plate's figures.
EVENT_ROLES: dict[CreditRole, str] = {
    CreditRole.RETOUCH: "retouch",
    CreditRole.MASK: "inpaint_direction",
    CreditRole.ADJUST: "adjustment",
}


def _shots(project: Project) -> list[str]:
    from sqlalchemy import select

    from bgart.ledger import Shot

    with project.ledger.read() as s:
        return list(s.execute(select(Shot.code)).scalars())


def credited_person(ev: EventRow) -> str | None:
    """The person an event credits: who drew the mask of an AI inpaint, else its actor when
    that is a person (None for a model's event, or a mask author not recorded)."""
    if ev.kind == Kind.AI_INPAINTED:
        return ev.typed(AiInpainted).directed_by
    return ev.actor if ev.actor_kind == Actor.HUMAN else None


def _hand_painted(root: EventRow) -> bool:
    return root.kind == Kind.PLATE_IMPORTED and root.typed(PlateImported).origin == "hand-painted"


# --- building the report --------------------------------------------------------------------


def build_plate(
    project: Project,
    shot: str,
    plate: str,
    thresholds: Thresholds,
    catalog: ModelCatalog,
) -> tuple[PlateCredit, Replay, workflow.PlateState]:
    """The credit of one plate's latest version (and the replay export builds on)."""
    history = workflow.PlateHistory.load(project, shot, plate)  # read once for all below
    figs = history.figures()
    state = history.state()
    events = history.events
    rep = replay_plate(history, state)
    gen = generated_event(events, rep.root)
    generated = gen.typed(AiGenerated) if gen is not None else None
    record: dict[str, Any] = generated.record if generated is not None else {}
    models: list[ModelUse] = []
    if gen is not None:
        models.append(catalog.use(gen.actor, "generation", record.get("model_files")))
        if record.get("controlnet"):
            models.append(
                catalog.use(record["controlnet"], "controlnet", record.get("model_files"))
            )
        models += lora_uses(catalog, record)
    masks: list[MaskDirection] = []
    for step in rep.steps:
        if step.kind is EditKind.RESAMPLE and not any(
            m.name == step.event.actor and m.role == "refine" for m in models
        ):  # ai.refined: the model that refined the plate to its delivery size
            record = step.event.payload.get("record") or {}
            models.append(catalog.use(step.event.actor, "refine", record.get("model_files")))
        if step.kind is not EditKind.INPAINT:
            continue
        ev = step.event
        inpainted = ev.typed(AiInpainted)
        if not any(m.name == ev.actor and m.role == "inpaint" for m in models):
            models.append(catalog.use(ev.actor, "inpaint", inpainted.record.get("model_files")))
        stats = inpainted.stats or {}
        masks.append(
            MaskDirection(
                directed_by=step.person,
                model=ev.actor,
                bbox=list(step.bbox) if step.bbox else None,
                mask_px=int(stats.get("mask_px", 0)),
                changed_px=int(stats.get("visible_px", 0)),
                active_seconds=float(inpainted.active_seconds or 0.0),
                at=ev.created_at,
            )
        )
    pixels = int(figs["pixels"])
    # Time per person over every event of the plate (effort counts even when reverted).
    seconds: dict[str, float] = {}
    sessions: dict[str, int] = {}
    for ev in events:
        secs = ev.typed(Payload).active_seconds
        who = credited_person(ev)
        if who:
            seconds[who] = seconds.get(who, 0.0) + secs
        if ev.kind == Kind.HUMAN_PAINTED:
            sessions[ev.actor] = sessions.get(ev.actor, 0) + 1
    roles: dict[str, set[str]] = {}

    def add(name: str | None, role: str) -> None:
        if name:
            roles.setdefault(name, set()).add(role)

    for name in figs["layout_artists"]:
        add(name, "layout")
    for name in workflow.board_artists(project, _reference_shas(record)):
        add(name, "art_board")  # whose art-board images steered the render
    prompt_author = generated.requested_by if generated is not None else None
    add(prompt_author, "prompt")
    chosen_by = rep.root.actor if spec(rep.root.kind).credit is CreditRole.CHOICE else None
    add(chosen_by, "selection")
    # Roles come from every event of the plate (work later reverted is still named, with
    # its time and a 0% share); shares come from the lineage of the final version only.
    # The painter of a hand-painted base is credited for background art, not retouch.
    painters = {s.person for s in rep.steps if s.kind in (EditKind.PAINT, EditKind.FINAL)}
    base_painter = rep.root.actor if _hand_painted(rep.root) else None
    for name in rep.weights:
        add(name, "background" if name == base_painter else "retouch")
        if name == base_painter and name in painters:
            add(name, "retouch")
    for ev in events:
        credit = spec(ev.kind).credit
        if credit is not None and credit in EVENT_ROLES:
            add(credited_person(ev), EVENT_ROLES[credit])
    adjusted_by = sorted({s.person for s in rep.steps if s.kind is EditKind.ADJUST})
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
        decision = next(ev for ev in reversed(events) if ev.kind in DECISION_KINDS)
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
        review_history=review_history(events),
    )
    return credit, rep, state


_REVIEW_ACTS = {
    Kind.PLATE_SUBMITTED: "submitted",
    Kind.RETAKE_MARKED: "retake marks",
    Kind.PLATE_ACCEPTED: "accepted",
    Kind.PLATE_REJECTED: "rejected",
}


def review_history(events: Sequence[EventRow]) -> list[ReviewEntry]:
    """The plate's review acts in order: submissions with their notes, retake marks with
    each region's comment, decisions (listed for the record; they earn no credit role
    beyond the approval named above). Only for a plate that had retake marks: the reports
    of every other plate (and of ledgers written before retake marks) keep their form."""
    if not any(ev.kind == Kind.RETAKE_MARKED for ev in events):
        return []
    out = []
    for ev in events:
        act = _REVIEW_ACTS.get(Kind(ev.kind)) if ev.kind in _REVIEW_ACTS else None
        if act is None:
            continue
        p = ev.payload
        regions = []
        for r in p.get("regions") or []:
            corners = " – ".join(f"{x:g},{y:g}" for x, y in r.get("points") or [])
            regions.append(f"{r.get('shape')} {corners}: {r.get('comment', '')}")
        out.append(
            ReviewEntry(
                at=ev.created_at,
                act=act,
                by=ev.actor,
                version=p.get("version"),
                comment=str(p.get("comment") or ""),
                regions=regions,
            )
        )
    return out


def _summary(
    scope: str, name: str, plates: Sequence[PlateCredit], headings: Headings
) -> ScopeSummary:
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
    models = sorted({n for p in acc for n in ai_names(p.models)}, key=natural_key)
    credited: dict[str, set[str]] = {}
    for p in acc:
        for person, roles in roll_roles(p).items():
            credited.setdefault(person, set()).update(roles)
    en, ja, both = credit_lines(ranked, models, credited, headings)
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
    catalog: ModelCatalog,
    episode: str | None = None,
    thumbnails: bool = True,
    now: datetime | None = None,
) -> CreditReport:
    """The credit report of ``project`` (optionally one episode), from its ledger alone.

    ``catalog``: what the project's weights.lock pins for each model (the caller reads the
    lock; an empty catalog reports every model as not in weights.lock).
    The ledger's hash chain is checked first; a damaged ledger raises
    :class:`LedgerIntegrityError` instead of producing credits.
    """
    events, head = project.ledger.verify_chain()
    thresholds = Thresholds.from_settings(project.settings)
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
    made_under: set[int] = set()
    for shot, plate in found + _reused(project, found, episode):
        credit, rep, state = build_plate(
            project, *_source(project, shot, plate), thresholds, catalog
        )
        credit = _as_reused(credit, shot, plate)
        plates.append(credit)
        made_under.update(
            contrib.definition_version(ev.payload)
            for ev in rep.history.events
            if ev.kind in VERSION_KINDS
        )
        if thumbnails:
            thumbs[credit.key] = _thumbs(credit, state)
    headings = Headings.from_settings(project.settings)
    episodes = [
        _summary("episode", ep, [p for p in plates if p.episode == ep], headings)
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
        definition=definition(thresholds, made_under),
        plates=plates,
        episodes=episodes,
        production_summary=_summary("production", project.settings.production, plates, headings),
        headings={"ja": dict(headings.ja), "en": dict(headings.en)},
        thumbnails=thumbs,
    )


def _reference_shas(record: dict[str, Any]) -> list[str]:
    """The art-board images a generation record names (bgart.generation.adapters), and its
    regions' own references (``extra["regions"]["references"]``: ``[colour, sha256]``),
    credited alike to whoever put the same image on an art board."""
    extra = record.get("extra") or {}
    refs = extra.get("references") or {}
    images = refs.get("images") if isinstance(refs, dict) else None
    shas = [i["sha256"] for i in images or [] if isinstance(i, dict) and "sha256" in i]
    regions = extra.get("regions")
    regional = regions.get("references") if isinstance(regions, dict) else None
    return shas + [r[1] for r in regional or [] if isinstance(r, list) and len(r) == 2]


def _reused(
    project: Project, found: list[tuple[str, str]], episode: str | None
) -> list[tuple[str, str]]:
    """Cuts that took another cut's accepted plate (兼用) and have no plate of their own."""
    own = {shot for shot, _plate in found}
    return [
        (shot, reuse.plate)
        for shot, reuse in sorted(workflow.reused_shots(project).items())
        if shot not in own and (episode is None or episode_of(shot) == episode)
    ]


def _source(project: Project, shot: str, plate: str) -> tuple[str, str]:
    """The plate a cut's credits are built from: its own, or the one it reuses."""
    reuse = workflow.reuse_of(project, shot)
    if reuse is None or workflow.plate_versions(project, shot, plate=plate):
        return shot, plate
    return reuse.source_shot, reuse.source_plate


def _as_reused(credit: PlateCredit, shot: str, plate: str) -> PlateCredit:
    """A reused plate's credit: the source plate's, named for the cut that reuses it."""
    if (credit.shot, credit.plate) == (shot, plate):
        return credit
    return dataclasses.replace(
        credit, shot=shot, plate=plate, episode=episode_of(shot), reuses=credit.key
    )


def people_in(plates: Iterable[PlateCredit]) -> list[str]:
    """Every person named anywhere in ``plates`` (sorted)."""
    return sorted({c.name for p in plates for c in p.contributors}, key=natural_key)
