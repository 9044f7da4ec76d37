"""A plate's history, read once: its events, its versions and the shot's layouts, with a
version's pixels and figures computed from them.

The credit report, ``ledger show`` and the UI each need several of these for a plate; a
:class:`PlateHistory` reads the ledger once for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from bgart import provenance as contrib
from bgart.errors import InputError
from bgart.events import (
    DECISION_KINDS,
    VERSION_KINDS,
    Actor,
    AiGenerated,
    AiInpainted,
    Kind,
    LayoutImported,
    ModelMade,
    Payload,
    PlateImported,
    Review,
    VersionFields,
)
from bgart.ledger import EventRow, Plate, PlateVersion, Project, Shot
from bgart.plates.pixels import PlateState, decode_blob, decode_user, load_state
from bgart.plates.versions import PLATE


def read_versions(project: Project, shot: str, plate: str = PLATE) -> list[PlateVersion]:
    """The plate's versions, oldest first."""
    with project.ledger.read() as s:
        return list(
            s.execute(
                select(PlateVersion)
                .join(Plate, Plate.id == PlateVersion.plate_id)
                .join(Shot, Shot.id == Plate.shot_id)
                .where(Shot.code == shot, Plate.name == plate)
                .order_by(PlateVersion.number)
            ).scalars()
        )


@dataclass(frozen=True)
class PlateHistory:
    """Everything the ledger holds about one plate, read in one go."""

    project: Project
    shot: str
    plate: str
    events: list[EventRow]  # the plate's events, in chain order
    versions: list[PlateVersion]  # oldest first
    layouts: list[EventRow]  # the shot's layout.imported events

    @classmethod
    def load(cls, project: Project, shot: str, plate: str = PLATE) -> PlateHistory:
        return cls(
            project,
            shot,
            plate,
            events=project.ledger.events(shot=shot, plate=plate),
            versions=read_versions(project, shot, plate),
            layouts=project.ledger.events(shot=shot, kinds=(Kind.LAYOUT_IMPORTED,)),
        )

    def version(self, number: int | None = None) -> PlateVersion:
        """Version ``number`` (the latest when None); a missing one is refused by name."""
        if not self.versions:
            raise InputError(f"shot {self.shot}: plate '{self.plate}' has no versions")
        if number is None:
            return self.versions[-1]
        for pv in self.versions:
            if pv.number == number:
                return pv
        raise InputError(
            f"shot {self.shot}: no version {number} (latest is {self.versions[-1].number})"
        )

    def state(self, number: int | None = None) -> PlateState:
        """The pixels and raster of a version (the latest unless ``number``)."""
        return load_state(self.project, self.version(number))

    def figures(self, number: int | None = None) -> dict[str, Any]:
        """All contribution figures of a version (the latest unless ``number``).

        Raster shares come from the version's raster; effort figures (candidates, masks,
        seconds) sum every event of the plate up to that version.
        """
        state = self.state(number)
        events = self.events
        upto = next(
            (
                ev.seq
                for ev in events
                if ev.kind in VERSION_KINDS and ev.typed(VersionFields).version == state.number
            ),
            None,
        )
        relevant = (
            events if number is None or upto is None else [e for e in events if e.seq <= upto]
        )
        figs: dict[str, Any] = {"shot": self.shot, "plate": self.plate, "version": state.number}
        figs.update(contrib.figures(state.raster))
        candidates = [ev for ev in relevant if ev.kind == Kind.AI_GENERATED]
        inpaints = [ev for ev in relevant if ev.kind == Kind.AI_INPAINTED]
        # A record's seconds are per image (the engine splits a batched call's time over its
        # images), so the plate's GPU time is their sum over every candidate and inpaint.
        gpu_seconds = sum(ev.typed(ModelMade).gpu_seconds for ev in candidates + inpaints)
        current = self.version(state.number)
        layout_artists, layout_sha = self.used_layout(current.source_candidate)
        decisions = [ev for ev in relevant if ev.kind in DECISION_KINDS]
        last = decisions[-1] if decisions else None
        review = last.typed(Review) if last is not None else None
        if last is None or review is None or review.version != state.number:
            status, approver, comment = "open", None, None
        else:
            status = "accepted" if last.kind == Kind.PLATE_ACCEPTED else "rejected"
            approver, comment = last.actor, review.comment
        painters = sorted(
            {
                ev.actor
                for ev in relevant
                if ev.kind == Kind.HUMAN_PAINTED
                or (ev.kind == Kind.PLATE_IMPORTED and ev.typed(PlateImported).hand_painted)
            }
        )
        figs.update(
            {
                "candidates": len(candidates),
                "selections": sum(1 for ev in relevant if ev.kind == Kind.VARIATION_SELECTED),
                "chosen_candidate": current.source_candidate,
                "masks": len(inpaints),
                "mask_area_px": sum(
                    int((ev.typed(AiInpainted).stats or {}).get("mask_px", 0)) for ev in inpaints
                ),
                "active_seconds": round(
                    sum(
                        float(getattr(ev.typed(Payload), "active_seconds", None) or 0.0)
                        for ev in relevant
                        if ev.actor_kind == Actor.HUMAN or ev.kind == Kind.AI_INPAINTED
                    ),
                    3,
                ),
                "gpu_seconds": round(gpu_seconds, 3),
                "status": status,
                "approver": approver,
                "review_comment": comment,
                "painters": painters,
                "mask_authors": sorted({ev.typed(AiInpainted).directed_by for ev in inpaints}),
                "layout_artists": layout_artists,
                "layout_sha256": layout_sha,
                "models": sorted({ev.actor for ev in candidates + inpaints}),
                "events": len(relevant),
                # the definition the version was made under (a v1 ledger's plates say 1)
                "contribution_definition": max(
                    (
                        contrib.definition_version(ev.payload)
                        for ev in relevant
                        if ev.kind in VERSION_KINDS
                    ),
                    default=contrib.DEFINITION_VERSION,
                ),
            }
        )
        figs["mask_area_share"] = figs["mask_area_px"] / figs["pixels"] if figs["pixels"] else 0.0
        return figs

    def used_layout(self, source_candidate: int | None) -> tuple[list[str], str | None]:
        """(artists, sha256) of the layout a plate version was made from; ([], None) when none.

        ``source_candidate``: the version's candidate (None for a plate started by
        ``plate.imported``). Only ``layout.imported`` events of that very layout are credited,
        never another layout of the shot imported before or after.

        * An AI plate used the layout its generation record names (``layout_sha256``). A
          record that names none (written before records kept it) but was made from a layout
          used the shot's latest layout imported before it; a text or photo generation used
          no layout.
        * A plate imported with origin ``layout`` *is* a layout: credited to the artist(s) of
          a recorded layout with the same pixels, else to the person who imported it as the
          plate. Hand-painted and blank imports name no layout (nothing links them to one).
        """
        variant = next((ev for ev in self.events if ev.kind == Kind.AI_VARIANT), None)
        if source_candidate is None and variant is not None:  # the layout its record names
            sha = variant.typed(AiGenerated).record.get("layout_sha256")
            return (_layout_artist(self.layouts, sha), sha) if isinstance(sha, str) else ([], None)
        if source_candidate is None:
            return self._imported_layout()
        gen = next(
            (
                ev
                for ev in self.events
                if ev.kind == Kind.AI_GENERATED
                and ev.typed(AiGenerated).candidate == source_candidate
            ),
            None,
        )
        record = gen.typed(AiGenerated).record if gen is not None else {}
        sha = record.get("layout_sha256")
        if gen is not None and not sha and "layout" in str(record.get("mode", "")).split("+"):
            earlier = [ev for ev in self.layouts if ev.seq < gen.seq]
            sha = earlier[-1].blobs.get("layout") if earlier else None
        if not sha:
            return [], None
        return _layout_artist(self.layouts, sha), sha

    def _imported_layout(self) -> tuple[list[str], str | None]:
        root = next((ev for ev in self.events if ev.kind == Kind.PLATE_IMPORTED), None)
        if root is None or root.typed(PlateImported).origin != "layout":
            return [], None
        blobs = self.project.blobs
        image = decode_blob(blobs.get(root.blobs["image"]), "RGB", f"{root.label} image")
        h, w = image.shape[:2]
        for ev in reversed(self.layouts):
            layout = ev.typed(LayoutImported)
            if (layout.width, layout.height) != (w, h):
                continue
            sha = ev.blobs["layout"]
            if np.array_equal(decode_user(blobs.get(sha), "RGB", f"{ev.label} layout"), image):
                return _layout_artist(self.layouts, sha), sha
        return [root.actor], None


def _layout_artist(layouts: Sequence[EventRow], sha: str) -> list[str]:
    """The artist of layout ``sha``: who imported it last (a corrected name replaces the
    one recorded before, see :func:`bgart.plates.acts.record_layout`)."""
    return [ev.actor for ev in layouts if ev.blobs.get("layout") == sha][-1:]
