"""A plate version's lineage replayed, to split its human paint among the artists.

The provenance raster keeps one human weight h per pixel, not who laid it.
:func:`replay_plate` recovers the split by replaying the plate's lineage (:func:`lineage`,
which follows reverts) with the very functions of :mod:`bgart.provenance`: a stroke of
opacity a takes share a of each pixel it is credited on and earlier contributors keep
(1 − a) of theirs, an AI inpaint clears the pixels it visibly changed. The split is finally
scaled per pixel so the artists' weights add up exactly to the stored raster's h, so the
artists' shares add up to the plate's ``human_paint_share``.

The :class:`Replay` also lists the lineage's edits (:class:`Step`), which the exports turn
into PSD layers and C2PA actions, and the same split per act (``Step.credited``,
``Replay.base_credited``): what of each paint act remains in the version, which the signed
PNG states as that act's share and regions. An artist's acts add up to their weight.

The model's acts on the plate (an AI inpaint, a refinement) are split the same way: each
takes the pixels it visibly changed, later acts take them over as they take a painter's,
and the split is scaled to the stored raster's inpainted weight, (1 − h) where the class is
``AI_INPAINT``: the model's acts add up to the plate's ``ai_inpaint_share`` (less any weight
no act in the lineage explains).

A whole final's returns to earlier versions (definition v2,
:func:`bgart.provenance.restore_earlier`): a pixel the final handed back to an earlier
version's value took that version's raster entry, so it takes that version's splits too,
per artist and per act (the painters whose value is visible again there, not the one who
imported the final). :func:`_returns` recomputes from the event's blobs which pixels
returned to which version (:func:`bgart.provenance.returned_to`, the act's own decision);
the replay keeps the splits of those versions at those pixels only (:class:`_Snapshot`)
and puts them back at the final.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bgart import plates as workflow
from bgart import provenance as contrib
from bgart.credits.model import NOT_RECORDED
from bgart.errors import LedgerIntegrityError
from bgart.events import (
    ORIGIN_KINDS,
    VERSION_KINDS,
    AiGenerated,
    AiInpainted,
    AiVariant,
    EditKind,
    Kind,
    PlateImported,
    PlateReverted,
    VariationSelected,
    VersionFields,
    spec,
)
from bgart.images import open_image
from bgart.ledger import EventRow, Project


@dataclass(frozen=True)
class ActShare:
    """What of one act remains in a version: its ``share`` of the plate's pixels (the same
    number the report gives an artist with this one act) and the pixels it is credited on."""

    share: float
    mask: np.ndarray  # bool, True where the act keeps some weight


@dataclass
class Step:
    """One pixel-changing edit in a plate's lineage (after the plate's AI or imported base)."""

    event: EventRow
    kind: EditKind  # PAINT | FINAL | INPAINT | ADJUST
    person: str  # painter, mask author or adjuster
    model: str | None  # inpaint model
    base_version: int
    version: int
    bbox: tuple[int, int, int, int] | None  # x, y, width, height of the credited/masked area
    #: A paint act's part of the version's human paint (split like the artists' weights: an
    #: artist's acts add up to their share); an inpaint's or refinement's part of its
    #: inpainted pixels (the model's acts add up to ``ai_inpaint_share``); None for an
    #: adjustment.
    credited: ActShare | None = None


@dataclass
class InheritedAct:
    """A paint act a variant plate inherited: made on ``plate`` (the variant's parent, or
    that plate's own parent) as its version ``version``, its paint kept where the model left
    the parent's pixels as they were. ``credited``: what of it remains in this version."""

    event: EventRow  # human.painted, or the plate.imported of a hand-painted base
    person: str
    plate: str
    version: int
    credited: ActShare | None = None


@dataclass
class Replay:
    """A plate version's lineage: its root event, the edits on it, the per-artist split."""

    root: EventRow
    steps: list[Step]
    weights: dict[str, np.ndarray]  # artist -> per-pixel weight, summing to the raster's h
    unattributed: float  # mean of h no artist explains
    history: workflow.PlateHistory  # the plate's history it was read from
    #: What remains of a hand-painted base's own paint (as above); else None.
    base_credited: ActShare | None = None
    #: A variant's paint acts of its parent plate whose paint it kept (each one's share, as
    #: a paint step's: with the steps', an artist's acts add up to their weight).
    inherited: list[InheritedAct] = field(default_factory=list)


def lineage(events: Sequence[EventRow], version: int) -> list[EventRow]:
    """The version-making events that built ``version``, oldest first, following reverts."""
    by_version = {
        number: ev
        for ev in events
        if ev.kind in VERSION_KINDS and (number := ev.typed(VersionFields).version) is not None
    }
    out: list[EventRow] = []
    number: int | None = version
    seen: set[int] = set()
    while number is not None:
        if number in seen or number not in by_version:
            raise LedgerIntegrityError(f"plate version {number}: lineage cannot be followed")
        seen.add(number)
        ev = by_version[number]
        if ev.kind == Kind.PLATE_REVERTED:
            number = ev.typed(PlateReverted).to_version
            continue
        out.append(ev)
        if ev.kind in ORIGIN_KINDS:
            break
        number = ev.typed(VersionFields).base_version
    if not out or out[-1].kind not in ORIGIN_KINDS:
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
    history: workflow.PlateHistory,
    state: workflow.PlateState,
    planes: dict[int, np.ndarray] | None = None,
) -> Replay:
    """Replay the lineage of ``state`` (a version of the plate ``history`` holds) to split
    its human paint among artists. ``planes``, when given, receives each paint act's
    per-pixel weight (keys: -1 the hand-painted base, a step's index, -2 - j the ``j``-th
    inherited act): what a variant made from this version inherits."""
    project = history.project
    chain = lineage(history.events, state.number)
    root, edits = chain[0], chain[1:]
    h, w = _root_size(history, root, state)  # a refinement changes it on the way
    returns = _returns(history, chain)
    wanted = _wanted(returns)
    snapshots: dict[int, _Snapshot] = {}
    weights: dict[str, np.ndarray] = {}
    # the same split per act (the hand-painted base, then each paint step by its index),
    # and per act of the model (each inpaint or refinement step by its index)
    acts: dict[int, np.ndarray] = {}
    ai_acts: dict[int, np.ndarray] = {}
    if root.kind == Kind.PLATE_IMPORTED and root.typed(PlateImported).origin == "hand-painted":
        weights[root.actor] = np.ones((h, w), np.float32)
        acts[-1] = np.ones((h, w), np.float32)
    inherited: list[InheritedAct] = []
    if root.kind == Kind.AI_VARIANT:  # the parent's paint the model left stays its painters'
        kept, kept_acts = _inherited(history, root)
        weights.update(kept)
        for j, (act, plane) in enumerate(kept_acts):
            inherited.append(act)
            acts[-2 - j] = plane
    zero = contrib.Raster.filled(w, h, contrib.AI_GEN, 0.0)
    one = contrib.Raster.filled(w, h, contrib.AI_GEN, 1.0)
    steps: list[Step] = []
    _snapshot(snapshots, wanted, _version(root), weights, acts, ai_acts)
    for ev in edits:
        if steps:  # the version the previous step made, as the lineage had it split
            _snapshot(snapshots, wanted, steps[-1].version, weights, acts, ai_acts)
        if spec(ev.kind).edit(ev.payload) is EditKind.RESAMPLE:
            # ai.refined: every split carried to the new size, cleared where the model
            # visibly changed the plain resample (bgart.provenance.resample)
            fields = ev.typed(VersionFields)
            if fields.base_version is None or fields.version is None:
                raise LedgerIntegrityError(f"{ev.label}: an edit without its version numbers")
            before = history.state(fields.base_version).image
            result = _blob(project, ev, "result", "RGB")
            refined = contrib.resample(before, contrib.Raster.filled(w, h, 1, 1.0), result)
            cleared = refined.raster.human == 0
            h, w = result.shape[:2]
            weights = {k: _carried(v, cleared) for k, v in weights.items()}
            acts = {k: _carried(v, cleared) for k, v in acts.items()}
            ai_acts = {k: _carried(v, cleared) for k, v in ai_acts.items()}
            ai_acts[len(steps)] = cleared.astype(np.float32)
            zero = contrib.Raster.filled(w, h, contrib.AI_GEN, 0.0)
            one = contrib.Raster.filled(w, h, contrib.AI_GEN, 1.0)
            requested = ev.payload.get("requested_by") or NOT_RECORDED
            box = (0, 0, w, h)
            steps.append(
                Step(
                    ev,
                    EditKind.RESAMPLE,
                    requested,
                    ev.actor,
                    fields.base_version,
                    fields.version,
                    box,
                )
            )
            continue
        fields = ev.typed(VersionFields)
        edit = spec(ev.kind).edit(fields)
        if fields.base_version is None or fields.version is None:
            raise LedgerIntegrityError(f"{ev.label}: an edit without its version numbers")
        base, version = fields.base_version, fields.version
        before = history.state(base).image
        bbox: tuple[int, int, int, int] | None = None
        if edit in (EditKind.PAINT, EditKind.FINAL):
            if edit is EditKind.FINAL:
                a = contrib.final(before, zero, _blob(project, ev, "final", "RGB")).raster.human
            else:
                a = contrib.paint(before, zero, _blob(project, ev, "layer", "RGBA")).raster.human
            keep = np.float32(1.0) - a
            for arr in (*weights.values(), *acts.values(), *ai_acts.values()):
                arr *= keep
            weights.setdefault(ev.actor, np.zeros((h, w), np.float32))
            weights[ev.actor] += a
            acts[len(steps)] = a.astype(np.float32, copy=True)
            for number, idx in returns.get(ev.seq, {}).items():  # back to earlier splits
                snapshots[number].restore(idx, weights, acts, ai_acts)
            bbox = _bbox(acts[len(steps)] > 0)
            steps.append(Step(ev, edit, ev.actor, None, base, version, bbox))
        elif edit is EditKind.INPAINT:
            payload = ev.typed(AiInpainted)
            mask = contrib.mask_from_image(_blob(project, ev, "mask", "L"))
            result = _blob(project, ev, "result", "RGB")
            cleared = contrib.inpaint(before, one, result, mask).raster.human == 0
            for arr in (*weights.values(), *acts.values(), *ai_acts.values()):
                arr[cleared] = 0.0
            ai_acts[len(steps)] = cleared.astype(np.float32)
            box = payload.mask_bbox
            if box:
                bbox = (int(box[0]), int(box[1]), int(box[2] - box[0]), int(box[3] - box[1]))
            person = payload.directed_by or NOT_RECORDED
            steps.append(Step(ev, edit, person, ev.actor, base, version, bbox))
        elif edit is EditKind.ADJUST:
            steps.append(Step(ev, edit, ev.actor, None, base, version, None))
        else:
            raise LedgerIntegrityError(f"{ev.label}: unexpected in a plate lineage")
    # Scale the split so it adds up exactly to the stored raster's h (float rounding only).
    target = state.raster.human.astype(np.float64)
    unattributed = 0.0
    shares: dict[int, ActShare] = {}
    if weights:
        total = np.zeros((h, w), np.float64)
        for arr in weights.values():
            total += arr
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(total > 0, target / total, 0.0)
        for name in list(weights):
            weights[name] = weights[name] * scale
        for index in list(acts):  # one float64 plane at a time; a bool mask is kept
            scaled = acts.pop(index) * scale
            shares[index] = ActShare(float(scaled.sum() / scaled.size), scaled > 0)
            if planes is not None:
                planes[index] = scaled.astype(np.float32)
        unattributed = float(target[total <= 0].sum() / target.size)
    else:
        unattributed = float(target.sum() / target.size)
    shares |= _ai_shares(state.raster, ai_acts)
    for index, step in enumerate(steps):
        step.credited = shares.get(index)
    for j, act in enumerate(inherited):
        act.credited = shares.get(-2 - j)
    return Replay(root, steps, weights, unattributed, history, shares.get(-1), inherited)


Returns = dict[int, dict[int, np.ndarray]]
"""Per final event (its seq): per earlier version of its lineage, the flat indices of the
pixels the final returned to that version."""


@dataclass
class _Snapshot:
    """The replay's splits at a version, kept only at the pixels a later final returns to
    it (``idx``, flat and sorted): per artist, per paint act, per act of the model."""

    idx: np.ndarray
    weights: dict[str, np.ndarray]
    acts: dict[int, np.ndarray]
    ai_acts: dict[int, np.ndarray]

    def restore(
        self,
        idx: np.ndarray,
        weights: dict[str, np.ndarray],
        acts: dict[int, np.ndarray],
        ai_acts: dict[int, np.ndarray],
    ) -> None:
        """Put the kept splits back at ``idx`` (a subset of the kept pixels): an artist or
        act with nothing there at this version (a later one) gets nothing."""
        pos = np.searchsorted(self.idx, idx)
        for name, plane in weights.items():
            np.put(plane, idx, self.weights[name][pos] if name in self.weights else 0.0)
        for index, plane in acts.items():
            np.put(plane, idx, self.acts[index][pos] if index in self.acts else 0.0)
        for index, plane in ai_acts.items():
            np.put(plane, idx, self.ai_acts[index][pos] if index in self.ai_acts else 0.0)


def _snapshot(
    snapshots: dict[int, _Snapshot],
    wanted: dict[int, np.ndarray],
    version: int,
    weights: dict[str, np.ndarray],
    acts: dict[int, np.ndarray],
    ai_acts: dict[int, np.ndarray],
) -> None:
    """Keep the splits at ``version`` where a later final returns to it (else nothing)."""
    idx = wanted.get(version)
    if idx is None:
        return
    snapshots[version] = _Snapshot(
        idx,
        {k: np.take(v, idx) for k, v in weights.items()},
        {k: np.take(v, idx) for k, v in acts.items()},
        {k: np.take(v, idx) for k, v in ai_acts.items()},
    )


def _wanted(returns: Returns) -> dict[int, np.ndarray]:
    """Per earlier version, the pixels any final of the lineage returns to it."""
    out: dict[int, np.ndarray] = {}
    for per_version in returns.values():
        for number, idx in per_version.items():
            out[number] = np.union1d(out[number], idx) if number in out else idx
    return out


def _returns(history: workflow.PlateHistory, chain: list[EventRow]) -> Returns:
    """Which pixels each whole final of the lineage (an event with payload ``restore_from``
    and stat ``returned_px`` > 0) returned to which earlier version, recomputed from its
    blobs by :func:`bgart.provenance.returned_to` as the act decided. A version the final
    returned to that is a revert counts as the version it reverted to. Versions off the
    lineage (undone by a revert before the final) are left out: their pixels keep the
    final's split (see docs/contribution.md, limits)."""
    out: Returns = {}
    on_lineage = {_version(ev) for ev in chain}
    alias = {
        _version(ev): ev.typed(PlateReverted).to_version
        for ev in history.events
        if ev.kind == Kind.PLATE_REVERTED
    }
    known = {pv.number for pv in history.versions}
    for ev in chain[1:]:
        consulted = ev.payload.get("restore_from")
        stats = ev.payload.get("stats")
        returned = stats.get("returned_px", 0) if isinstance(stats, dict) else 0
        if not isinstance(consulted, list) or not returned:
            continue
        if spec(ev.kind).edit(ev.payload) is not EditKind.FINAL:
            continue
        fields = ev.typed(VersionFields)
        if fields.base_version is None:
            raise LedgerIntegrityError(f"{ev.label}: an edit without its version numbers")
        project = history.project
        earlier = [_earlier(history, n) for n in consulted if isinstance(n, int) and n in known]
        floor = ev.payload.get("noise_floor")
        ref = _blob(project, ev, "ref_before", "RGB") if "ref_before" in ev.blobs else None
        rendered = None
        if "restore_ref" in ev.payload and "ref_restore" in ev.blobs:
            number = ev.payload["restore_ref"]
            image = _blob(project, ev, "ref_restore", "RGB")
            rendered = (number if isinstance(number, int) else -1, image)
        try:
            owner = contrib.returned_to(
                history.state(fields.base_version).image,
                _blob(project, ev, "final", "RGB"),
                earlier,
                floor=floor if isinstance(floor, int | float) else None,
                ref_before=ref,
                rendered=rendered,
                before_png=_png(history, fields.base_version),
            ).reshape(-1)
        except ValueError as exc:
            raise LedgerIntegrityError(
                f"{ev.label}: its returns cannot be replayed ({exc})"
            ) from None
        per_version: dict[int, np.ndarray] = {}
        for number in np.unique(owner[owner >= 0]).tolist():
            target = number
            seen: set[int] = set()
            while target in alias and target not in seen:
                seen.add(target)
                target = alias[target]
            if target not in on_lineage:
                continue
            idx = np.flatnonzero(owner == number)
            if target in per_version:
                idx = np.union1d(per_version[target], idx)
            per_version[target] = idx
        if per_version:
            out[ev.seq] = per_version
    return out


def _earlier(history: workflow.PlateHistory, number: int) -> contrib.Earlier:
    return contrib.Earlier(
        number,
        lambda: history.state(number).image,
        lambda: history.state(number).raster,
        _png(history, number),
    )


def _png(history: workflow.PlateHistory, number: int) -> Callable[[], bytes]:
    """A reader of version ``number``'s image PNG as stored."""
    return lambda: history.project.blobs.get(history.version(number).image_sha)


def _ai_shares(raster: contrib.Raster, acts: dict[int, np.ndarray]) -> dict[int, ActShare]:
    """The model's acts' split scaled per pixel to the raster's inpainted weight,
    (1 − h) where the class is ``AI_INPAINT`` (what ``ai_inpaint_share`` averages)."""
    if not acts:
        return {}
    target = np.where(raster.cls == contrib.AI_INPAINT, 1.0 - raster.human.astype(np.float64), 0.0)
    total = np.zeros(target.shape, np.float64)
    for arr in acts.values():
        total += arr
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(total > 0, target / total, 0.0)
    out = {}
    for index in list(acts):
        scaled = acts.pop(index) * scale
        out[index] = ActShare(float(scaled.sum() / scaled.size), scaled > 0)
    return out


def _carried(split: np.ndarray, cleared: np.ndarray) -> np.ndarray:
    """A per-pixel split carried to the size of ``cleared`` (each pixel its nearest source
    pixel's, as the raster is) and cleared where the refinement repainted."""
    height, width = cleared.shape
    plane = contrib.Raster.filled(split.shape[1], split.shape[0], contrib.AI_GEN)
    plane.human = split.astype(np.float32)
    moved = contrib.carry(plane, width, height).human
    moved[cleared] = 0.0
    return moved


def _root_size(
    history: workflow.PlateHistory, root: EventRow, state: workflow.PlateState
) -> tuple[int, int]:
    """(height, width) of the lineage's first version (the version's own, without a
    refinement on the way)."""
    number = root.typed(VersionFields).version
    if number is None or number == state.number:
        return int(state.image.shape[0]), int(state.image.shape[1])
    image = history.state(number).image
    return int(image.shape[0]), int(image.shape[1])


def _inherited(
    history: workflow.PlateHistory, root: EventRow
) -> tuple[dict[str, np.ndarray], list[tuple[InheritedAct, np.ndarray]]]:
    """A variant plate's start: the artists' split of its parent version (that plate's own
    lineage, replayed), cleared where the model visibly changed the parent's pixels; and
    the same per paint act of the parent that has weight there."""
    variant = root.typed(AiVariant)
    parent = workflow.PlateHistory.load(history.project, history.shot, variant.parent_plate)
    state = parent.state(variant.parent_version)
    planes: dict[int, np.ndarray] = {}
    parent_replay = replay_plate(parent, state, planes)
    h, w = state.image.shape[:2]
    one = contrib.Raster.filled(w, h, contrib.AI_GEN, 1.0)
    result = _blob(history.project, root, "result", "RGB")
    cleared = contrib.variant(state.image, one, result).raster.human == 0
    out = {}
    for name, arr in parent_replay.weights.items():
        kept = arr.astype(np.float32, copy=True)
        kept[cleared] = 0.0
        out[name] = kept
    plate = variant.parent_plate
    acts: dict[int, InheritedAct] = {}
    if -1 in planes:  # the parent's hand-painted base
        base = parent_replay.root
        acts[-1] = InheritedAct(base, base.actor, plate, _version(base))
    for index, step in enumerate(parent_replay.steps):
        acts[index] = InheritedAct(step.event, step.person, plate, step.version)
    for j, act in enumerate(parent_replay.inherited):  # a variant of a variant
        acts[-2 - j] = InheritedAct(act.event, act.person, act.plate, act.version)
    kept_acts = []
    for key, plane in planes.items():
        if key in acts and plane.any():  # paint the variant could keep
            kept = plane.astype(np.float32, copy=True)
            kept[cleared] = 0.0
            kept_acts.append((acts[key], kept))
    return out, kept_acts


def _version(ev: EventRow) -> int:
    number = ev.typed(VersionFields).version
    if number is None:
        raise LedgerIntegrityError(f"{ev.label}: a version-making event without its number")
    return number


def generated_event(events: Sequence[EventRow], root: EventRow) -> EventRow | None:
    """The ai.generated event of the candidate a plate started from (None: no AI base)."""
    if root.kind in (Kind.AI_GENERATED, Kind.AI_VARIANT):  # a variant: its own record
        return root
    if root.kind == Kind.VARIATION_SELECTED:
        n = root.typed(VariationSelected).candidate
        for ev in events:
            if ev.kind == Kind.AI_GENERATED and ev.typed(AiGenerated).candidate == n:
                return ev
    return None
