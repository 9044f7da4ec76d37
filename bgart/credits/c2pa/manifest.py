"""C2PA manifest definitions for exported plates: the plate's history and the JSON it becomes.

A plate's history becomes a chain of up to three signed manifests, each a real ingredient
of the next, so any C2PA viewer can walk it:

1. the **layout** (when given): ``c2pa.created`` + ``digitalCreation``, ``org.bgart.people``
   naming the layout artist. If the layout file already carries Content Credentials that validate,
   they are kept as they are instead; credentials that do not validate (or cannot be read)
   are removed from the embedded copy, which then gets bgart's own layout manifest saying
   so (:mod:`bgart.credits.c2pa.sign`).
2. the plate's **origin**, with the layout as an ``inputTo`` ingredient: the **AI plate**
   (``c2pa.created`` + ``trainedAlgorithmicMedia``, softwareAgent = the model and revision),
   or a **human base** that no AI made (:class:`HumanBase`: a hand-painted plate, a layout
   used as the plate or a blank canvas; ``c2pa.created`` + ``digitalCreation`` naming who
   imported it).
3. the **retouched plate** (only when there were edits): ``c2pa.opened`` with the signed
   origin as ``parentOf``, then, in order, each AI inpaint as ``c2pa.edited`` +
   ``compositeWithTrainedAlgorithmicMedia`` (mask bounding box in ``changes``; with its share
   of the plate, as a paint act's below, the rectangles where its pixels remain instead and
   the mask box in ``org.bgart.mask``), each paint
   session as ``c2pa.drawing`` + ``humanEdits`` naming the artist, with its share of the plate
   (``org.bgart.share``, ``org.bgart.pixels``) and, in ``changes``, rectangles covering where
   its paint remains (:mod:`bgart.credits.c2pa.regions`), each levels/colour pass as
   ``c2pa.color_adjustments``.

The action names and digital source types of these acts come from the table of event kinds
(:data:`bgart.events.EVENTS`: ``c2pa_action``, ``source_type``).

The last manifest (the one embedded as active in the exported PNG) also carries the
measured figures in the custom assertion ``org.bgart.contribution`` and the credited people
with their roles in ``org.bgart.people`` (in place of the schema.org CreativeWork C2PA 2.x
deprecates; CAWG identity assertions per person are out of c2pa-python 0.38.1's reach, see
docs/credits.md). Every assertion bgart adds, and the ingredients and thumbnails c2pa-rs adds
for it, are created assertions (:data:`bgart.credits.c2pa.native.CREATED_LABELS`).

Every action carries machine-readable ``org.bgart.*`` parameters (role, person, model...) so
:func:`bgart.credits.c2pa.text.format_credits` can print the credits from the file alone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgart import __version__
from bgart.credits.c2pa.regions import Rect, cover_rects, region
from bgart.credits.c2pa.softbinding import assertion as soft_binding_assertion
from bgart.errors import InputError
from bgart.events import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DIGITAL_CREATION,
    EVENTS,
    TRAINED_ALGORITHMIC_MEDIA,
    Kind,
)

ACTIONS_LABEL = "c2pa.actions.v2"
CONTRIBUTION_LABEL = "org.bgart.contribution"
#: Who is credited how (authors with their roles, contributors, the approver): bgart's own
#: assertion, in place of the schema.org CreativeWork that C2PA 2.x deprecates (see
#: :func:`_people`). Exports made before it carry a CreativeWork, which the reader still reads.
PEOPLE_LABEL = "org.bgart.people"
#: The CAWG metadata assertion (CAWG Metadata Assertion 1.0): the authors as Dublin Core
#: ``dc:creator``, the other people credited for the pixels as ``dc:contributor``, readable
#: by any C2PA tool that knows the standard vocabulary (roles are in ``org.bgart.people``).
CAWG_METADATA_LABEL = "cawg.metadata"
DUBLIN_CORE = "http://purl.org/dc/elements/1.1/"
CREATIVE_WORK_LABEL = "stds.schema-org.CreativeWork"

ImageSource = bytes | Path
When = dt.datetime | str | None


# --------------------------------------------------------------------------- the history


@dataclass(frozen=True)
class Credited:
    """A human act's part of the final plate: its ``share`` of the plate's pixels (its part
    of the human paint, as the report states it), the ``pixels`` it is credited on and
    rectangles (x, y, width, height) covering every one of them."""

    share: float
    pixels: int
    regions: tuple[Rect, ...] = ()

    @classmethod
    def from_mask(cls, mask: Any, share: float) -> Credited:
        """From the pixels the act is credited on in the final plate (a bool numpy array)
        and its share."""
        import numpy as np

        credited = np.asarray(mask, bool)
        return cls(
            share=float(share),
            pixels=int(np.count_nonzero(credited)),
            regions=tuple(cover_rects(credited)),
        )


@dataclass(frozen=True)
class LayoutIngredient:
    """The layout sketch the AI plate was generated from (PNG or JPEG; others become PNG)."""

    image: ImageSource
    title: str
    author: str
    when: When = None


@dataclass(frozen=True)
class AiPlate:
    """The raw AI output. ``image`` is required when the plate was retouched afterwards."""

    model: str
    revision: str
    licence: str
    image: ImageSource | None = None
    title: str = "AI plate"
    seed: int | None = None
    when: When = None
    weights: str | None = None  # do the recorded weight hashes match weights.lock?


@dataclass(frozen=True)
class Inpaint:
    """An AI inpaint over a mask a person drew; ``bbox`` = (x, y, width, height) in pixels.
    ``refine``: the model refined the whole plate to a delivery size (``ai.refined``),
    at the request of ``mask_author``."""

    model: str
    mask_author: str
    bbox: tuple[int, int, int, int]
    revision: str | None = None
    when: When = None
    refine: bool = False
    #: What of the model's pixels from this act remains in the final plate (its share of
    #: the plate's inpainted pixels); its regions replace ``bbox`` in ``changes``.
    credited: Credited | None = None


@dataclass(frozen=True)
class KeptFrom:
    """Where a variant's inherited paint was made: on ``plate`` as its version ``version``,
    kept by the variant made from version ``parent_version`` of ``parent_plate``."""

    parent_plate: str
    parent_version: int
    plate: str
    version: int


@dataclass(frozen=True)
class PaintSession:
    """A human brush session; ``bbox`` (x, y, width, height) of the strokes when known."""

    artist: str
    bbox: tuple[int, int, int, int] | None = None
    seconds: float | None = None
    when: When = None
    #: What of this session remains in the final plate; its regions replace ``bbox`` (the
    #: area the strokes touched) in the action's ``changes`` when given.
    credited: Credited | None = None
    #: A session on the parent plate of a variant, whose paint the variant kept.
    kept_from: KeptFrom | None = None


@dataclass(frozen=True)
class Adjustment:
    """Levels/colour only: a technical edit, recorded but not authorship."""

    artist: str
    when: When = None


@dataclass(frozen=True)
class HumanBase:
    """A plate that started without AI (``origin``: hand-painted, layout or blank), imported
    by ``artist``. ``image`` is required when the plate was edited afterwards."""

    artist: str
    origin: str
    image: ImageSource | None = None
    title: str = "imported plate"
    when: When = None
    #: What of the base's own paint remains in the final plate (a hand-painted base).
    credited: Credited | None = None


Edit = Inpaint | PaintSession | Adjustment


@dataclass
class PlateManifest:
    """Everything the Content Credentials of one exported plate say.

    The plate starts either from ``ai_plate`` or from a human ``base`` (exactly one).
    ``contribution`` holds the figures (``*_share`` values in 0..1, ``grade``, ``people``,
    ``raster_sha256``...) and must be JSON-serialisable. ``people`` adds credited names not
    implied by the edits (prompt author, who chose the candidate): contributors, not authors.
    ``approver`` is the person who accepted the plate, credited as approver.
    """

    title: str
    production: str
    ai_plate: AiPlate | None
    layout: LayoutIngredient | None = None
    edits: list[Edit] = field(default_factory=list)
    contribution: dict[str, Any] = field(default_factory=dict)
    people: list[str] = field(default_factory=list)
    base: HumanBase | None = None
    #: A variant plate's paint sessions of its parent plate whose paint it kept (each with
    #: ``kept_from``): stated after the variant's ``c2pa.created`` (or ``c2pa.opened``).
    inherited: list[PaintSession] = field(default_factory=list)
    #: The invisible watermark embedded in the exported pixels (hex), declared as a
    #: ``c2pa.soft-binding`` assertion of the active manifest; None when there is none.
    soft_binding: str | None = None
    approver: str | None = None

    @property
    def retouched(self) -> bool:
        return bool(self.edits)

    @property
    def origin(self) -> AiPlate | HumanBase:
        """The AI plate or the human base the plate started from."""
        if self.ai_plate is not None and self.base is None:
            return self.ai_plate
        if self.base is not None and self.ai_plate is None:
            return self.base
        raise InputError("manifest: give exactly one of ai_plate and base")

    @property
    def origin_label(self) -> str:
        """The ingredient label of the origin in the retouched plate's manifest."""
        return "ai_plate" if self.ai_plate is not None else "base"

    def credited_people(self) -> list[str]:
        """The authors: people who made pixels of the plate (layout, imported base, brush
        sessions), first appearance first, each once."""
        return list(self.author_roles())

    def author_roles(self) -> dict[str, list[str]]:
        """Each author (first appearance first) and their roles: ``layout``, ``background
        art`` (a hand-painted base), ``base`` (another imported base), ``retouch``."""
        named: list[tuple[str, str]] = []
        if self.layout is not None:
            named.append((self.layout.author, "layout"))
        if self.base is not None:
            role = "background art" if self.base.origin == "hand-painted" else "base"
            named.append((self.base.artist, role))
        sessions = [*self.inherited, *self.edits]
        named += [(e.artist, "retouch") for e in sessions if isinstance(e, PaintSession)]
        out: dict[str, list[str]] = {}
        for name, role in named:
            if name and name.strip() and role not in out.setdefault(name, []):
                out[name].append(role)
        return out

    def contributors(self) -> list[tuple[str, str]]:
        """(name, role) of everyone else named: inpaint direction, levels/colour, the
        ``people`` given, and the approver last; not authors of the pixels."""
        authors = set(self.credited_people())
        named: list[tuple[str, str]] = []
        for edit in self.edits:
            if isinstance(edit, Inpaint) and edit.mask_author != "not recorded":
                named.append(
                    (
                        edit.mask_author,
                        "AI refine request" if edit.refine else "AI inpaint direction",
                    )
                )
            elif isinstance(edit, Adjustment):
                named.append((edit.artist, "levels/colour"))
        named += [(n, "contributor") for n in self.people]
        out = [(n, r) for n, r in dict.fromkeys(named) if n and n.strip() and n not in authors]
        if self.approver and self.approver.strip():
            out.append((self.approver, "approver"))
        return out


def _when(value: When) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat(timespec="seconds")
    return str(value)


def _agent(name: str, version: str | None) -> dict[str, str]:
    return {"name": name, "version": version} if version else {"name": name}


def _bgart_agent() -> dict[str, str]:
    return _agent("bgart", __version__)


def _region(bbox: Sequence[int], description: str, role: str | None = None) -> dict[str, Any]:
    x, y, w, h = (int(v) for v in bbox)
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise InputError(
            f"bbox {tuple(bbox)}: expected (x, y, width, height) with width, height > 0"
        )
    return region((x, y, w, h), description, role=role)


#: The role a region where a person's paint remains would take (C2PA 2.1 region roles). Not
#: written: c2pa-rs 0.91.3 (c2pa-python 0.38.1) cannot read a ``role`` back from the CBOR it
#: writes ("invalid type: string "c2pa.edited", expected enum Role") and refuses to sign.
EDITED_ROLE: str | None = None


def _credit_parameters(credited: Credited | None) -> dict[str, Any]:
    """``org.bgart.share`` / ``org.bgart.pixels`` of a human act (C2PA actions have no
    field for an act's share of the asset, so they are namespaced parameters)."""
    if credited is None:
        return {}
    return {"org.bgart.share": credited.share, "org.bgart.pixels": credited.pixels}


def _credit_changes(
    credited: Credited | None, artist: str, *, text: str | None = None
) -> list[dict[str, Any]] | None:
    """The act's regions of interest: where the person's paint (or, with ``text``, what the
    region holds: a model's pixels) remains in the plate."""
    if credited is None or not credited.regions:
        return None
    text = text or f"paint by {artist} that remains in the plate"
    return [_region(r, text, EDITED_ROLE) for r in credited.regions]


def _model_changes(edit: Inpaint, whole: str) -> list[dict[str, Any]] | None:
    """An AI act's regions: where its pixels remain when its share is known, else ``whole``
    (the mask box, or the whole plate of a refinement)."""
    if edit.credited is None:
        return [_region(edit.bbox, whole)]
    return _credit_changes(
        edit.credited, edit.mask_author, text=f"pixels by {edit.model} that remain in the plate"
    )


def _mask_parameter(edit: Inpaint) -> dict[str, int] | None:
    """``org.bgart.mask``: the mask box (``x``, ``y``, ``width``, ``height``), when the
    regions are not it. A mapping: c2pa-rs writes a list of small numbers as CBOR bytes."""
    if edit.credited is None:
        return None
    return dict(zip(("x", "y", "width", "height"), (int(v) for v in edit.bbox), strict=True))


def _action(
    action: str,
    *,
    source_type: str | None = None,
    agent: dict[str, str] | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    changes: list[dict[str, Any]] | None = None,
    when: When = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action}
    for key, value in (
        ("digitalSourceType", source_type),
        ("softwareAgent", agent),
        ("description", description),
        ("parameters", {k: v for k, v in (parameters or {}).items() if v is not None}),
        ("changes", changes),
        ("when", _when(when)),
    ):
        if value:
            out[key] = value
    return out


def _event_action(
    kind: Kind,
    *,
    agent: dict[str, str] | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    changes: list[dict[str, Any]] | None = None,
    when: When = None,
) -> dict[str, Any]:
    """The action recording an event of ``kind``: its C2PA action name and digital source
    type as the table of event kinds states them."""
    spec = EVENTS[kind]
    if spec.c2pa_action is None:
        raise ValueError(f"{kind} has no C2PA action")
    return _action(
        spec.c2pa_action,
        source_type=spec.source_type,
        agent=agent,
        description=description,
        parameters=parameters,
        changes=changes,
        when=when,
    )


def _people(
    authors: dict[str, list[str]], others: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """``org.bgart.people``: the authors with their roles, and everyone else with theirs
    (``AI inpaint direction``, ``levels/colour``, ``contributor``, ``approver``), so the
    approver is credited as approver, not as an author.

    C2PA 2.x deprecates ``stds.schema-org.CreativeWork`` for authorship in favour of CAWG
    identity assertions, which c2pa-python 0.38.1 cannot make per person (docs/credits.md,
    "Who is named how"); the names here are stated by bgart's signer, as the actions'
    ``org.bgart.person`` are.
    """
    data: dict[str, Any] = {
        "authors": [{"name": n, "roles": roles} for n, roles in authors.items()],
        "contributors": [{"name": n, "role": role} for n, role in others],
    }
    out = [{"label": PEOPLE_LABEL, "created": True, "data": data}]
    # the approver accepted the plate: neither its creator nor a contributor to its pixels
    helped = list(dict.fromkeys(n for n, role in others if role != "approver"))
    metadata: dict[str, Any] = {"@context": {"dc": DUBLIN_CORE}}
    if authors:
        metadata["dc:creator"] = list(authors)
    if helped:
        metadata["dc:contributor"] = helped
    if len(metadata) > 1:
        out.append({"label": CAWG_METADATA_LABEL, "created": True, "data": metadata})
    return out


def _definition(title: str, actions: list[dict[str, Any]], extra: list[dict[str, Any]]) -> dict:
    return {
        "claim_generator_info": [_bgart_agent()],
        "title": title,
        # bgart makes these assertions itself: created assertions (C2PA 2.x claim field
        # created_assertions), not gathered ones (assertions taken from elsewhere)
        "assertions": [
            {"label": ACTIONS_LABEL, "created": True, "data": {"actions": actions}},
            *extra,
        ],
    }


def layout_definition(layout: LayoutIngredient, *, dropped: str | None = None) -> dict[str, Any]:
    """Manifest definition for the layout sketch on its own; ``dropped`` says why the file's
    own Content Credentials were removed (they did not validate)."""
    description = f"Layout drawn by {layout.author}"
    if dropped:
        description += f"; the file's own Content Credentials were removed ({dropped})"
    action = _event_action(
        Kind.LAYOUT_IMPORTED,
        description=description,
        parameters={
            "org.bgart.role": "layout",
            "org.bgart.person": layout.author,
            "org.bgart.dropped_credentials": dropped,
        },
        when=layout.when,
    )
    return _definition(layout.title, [action], _people({layout.author: ["layout"]}, []))


_BASE_TEXT = {
    "hand-painted": "Hand-painted plate imported by {artist}",
    "layout": "Layout used as the plate, imported by {artist}",
    "blank": "Blank canvas started by {artist}",
}


def origin_actions(m: PlateManifest, *, final: bool = False) -> list[dict[str, Any]]:
    """The ``c2pa.created`` action of the plate's origin: the AI plate or the human base.
    ``final`` (the origin is the exported plate itself): a human base's action also states
    its share and regions."""
    origin = m.origin
    if isinstance(origin, AiPlate):
        return ai_plate_actions(m) + (inherited_actions(m) if final else [])
    text = _BASE_TEXT.get(origin.origin, "Plate imported by {artist}").format(artist=origin.artist)
    credited = origin.credited if final else None
    return [
        _event_action(
            Kind.PLATE_IMPORTED,
            description=f"{text}; no AI involved",
            parameters={
                "ingredientIds": ["layout"] if m.layout is not None else None,
                "org.bgart.role": "human_base",
                "org.bgart.person": origin.artist,
                "org.bgart.origin": origin.origin,
                **_credit_parameters(credited),
            },
            changes=_credit_changes(credited, origin.artist),
            when=origin.when,
        )
    ]


def ai_plate_actions(m: PlateManifest) -> list[dict[str, Any]]:
    plate = m.ai_plate
    assert plate is not None
    described = f"Generated by {plate.model} (revision {plate.revision}, licence {plate.licence})"
    if m.layout is not None:
        described += f" from the layout by {m.layout.author}"
    return [
        _event_action(
            Kind.AI_GENERATED,
            agent=_agent(plate.model, plate.revision),
            description=described,
            parameters={
                "ingredientIds": ["layout"] if m.layout is not None else None,
                "org.bgart.role": "ai_plate",
                "org.bgart.model": plate.model,
                "org.bgart.revision": plate.revision,
                "org.bgart.licence": plate.licence,
                "org.bgart.weights": plate.weights,
                "org.bgart.seed": plate.seed,
            },
            when=plate.when,
        )
    ]


def inherited_actions(m: PlateManifest) -> list[dict[str, Any]]:
    """A variant's paint kept from its parent plate: a ``c2pa.drawing`` per session, naming
    the painter, the plate and version it was painted on and the parent the variant was
    made from, with what of it remains in the final plate (share and regions)."""
    return [_paint_action(session) for session in m.inherited]


def _paint_action(edit: PaintSession) -> dict[str, Any]:
    """The ``c2pa.drawing`` action of a paint session (``kept_from``: inherited by a variant)."""
    if edit.credited is not None:
        changes = _credit_changes(edit.credited, edit.artist)
    else:
        changes = [_region(edit.bbox, f"painted by {edit.artist}")] if edit.bbox else None
    kept = edit.kept_from
    described = f"Painted by {edit.artist}"
    where: dict[str, Any] = {}
    if kept is not None:
        described += (
            f" on plate '{kept.plate}' (version {kept.version}); kept by this variant of "
            f"plate '{kept.parent_plate}' version {kept.parent_version}"
        )
        where = {
            "org.bgart.parent_plate": kept.parent_plate,
            "org.bgart.parent_version": kept.parent_version,
            "org.bgart.painted_plate": kept.plate,
            "org.bgart.painted_version": kept.version,
        }
    return _event_action(
        Kind.HUMAN_PAINTED,
        agent=_bgart_agent(),
        description=described,
        parameters={
            "org.bgart.role": "paint",
            "org.bgart.person": edit.artist,
            "org.bgart.active_seconds": edit.seconds,
            **where,
            **_credit_parameters(edit.credited),
        },
        changes=changes,
        when=edit.when,
    )


def _share(m: PlateManifest, *keys: str) -> float | None:
    values = [m.contribution.get(k) for k in keys]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
        return None
    return float(sum(values))  # type: ignore[arg-type]


def plate_source_type(m: PlateManifest) -> str:
    """The IPTC digital source type of the plate as a whole (C2PA 2.1 actions,
    ``digitalSourceType``): AI pixels and human pixels both in the final plate →
    compositeWithTrainedAlgorithmicMedia; AI pixels only → trainedAlgorithmicMedia; no AI
    pixel → digitalCreation. From the measured figures when the manifest has them, else
    from the acts (a paint session over an AI plate, an inpaint over a human one)."""
    ai = _share(m, "ai_gen_share", "ai_inpaint_share")
    human = _share(m, "human_paint_share", "human_base_share")
    if ai is None or human is None:
        ai_origin = isinstance(m.origin, AiPlate)
        ai = float(ai_origin or any(isinstance(e, Inpaint) for e in m.edits))
        human = float(not ai_origin or any(isinstance(e, PaintSession) for e in m.edits))
    if ai > 0 and human > 0:
        return COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    if ai > 0:
        return TRAINED_ALGORITHMIC_MEDIA
    return DIGITAL_CREATION


def edit_actions(m: PlateManifest) -> list[dict[str, Any]]:
    """``c2pa.opened`` (the origin as parent, carrying the plate's digital source type as a
    whole: :func:`plate_source_type`) then one action per edit, in order."""
    origin = m.origin
    opened = (
        f"Opened the AI plate from {origin.model} for retouching"
        if isinstance(origin, AiPlate)
        else f"Opened the plate imported by {origin.artist} for retouching"
    )
    base = origin.credited if isinstance(origin, HumanBase) else None
    base_artist = origin.artist if isinstance(origin, HumanBase) else ""
    actions = [
        _action(
            "c2pa.opened",
            source_type=plate_source_type(m),
            agent=_bgart_agent(),
            description=opened,
            parameters={
                "ingredientIds": [m.origin_label],
                "org.bgart.role": "opened",
                **({"org.bgart.person": base_artist} if base else {}),
                **_credit_parameters(base),
            },
            changes=_credit_changes(base, base_artist),
        ),
        *inherited_actions(m),
    ]
    for edit in m.edits:
        if isinstance(edit, Inpaint) and edit.refine:
            size = f"{edit.bbox[2]}x{edit.bbox[3]}"
            actions.append(
                _event_action(
                    Kind.AI_REFINED,
                    agent=_agent(edit.model, edit.revision),
                    description=f"AI refine to {size} by {edit.model}, "
                    f"requested by {edit.mask_author}",
                    parameters={
                        "org.bgart.role": "refine",
                        "org.bgart.person": edit.mask_author,
                        "org.bgart.model": edit.model,
                        "org.bgart.revision": edit.revision,
                        **_credit_parameters(edit.credited),
                    },
                    changes=_model_changes(edit, f"refined to {size}"),
                    when=edit.when,
                )
            )
        elif isinstance(edit, Inpaint):
            text = f"AI inpaint by {edit.model}, mask drawn by {edit.mask_author}"
            actions.append(
                _event_action(
                    Kind.AI_INPAINTED,
                    agent=_agent(edit.model, edit.revision),
                    description=text,
                    parameters={
                        "org.bgart.role": "inpaint",
                        "org.bgart.person": edit.mask_author,
                        "org.bgart.model": edit.model,
                        "org.bgart.revision": edit.revision,
                        "org.bgart.mask": _mask_parameter(edit),
                        **_credit_parameters(edit.credited),
                    },
                    changes=_model_changes(edit, f"inpainted area, mask by {edit.mask_author}"),
                    when=edit.when,
                )
            )
        elif isinstance(edit, PaintSession):
            actions.append(_paint_action(edit))
        elif isinstance(edit, Adjustment):
            actions.append(
                _event_action(
                    Kind.HUMAN_ADJUSTED,
                    agent=_bgart_agent(),
                    description=f"Levels/colour adjusted by {edit.artist}",
                    parameters={"org.bgart.role": "adjust", "org.bgart.person": edit.artist},
                    when=edit.when,
                )
            )
        else:  # pragma: no cover - guarded by the type
            raise InputError(f"unknown edit type {type(edit).__name__}")
    return actions


def _final_extras(m: PlateManifest) -> list[dict[str, Any]]:
    figures = {"production": m.production, **m.contribution}
    try:
        json.dumps(figures, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"contribution figures: not JSON-serialisable ({exc})") from None
    extras = [{"label": CONTRIBUTION_LABEL, "created": True, "data": figures}]
    authors, others = m.author_roles(), m.contributors()
    if authors or others:
        extras += _people(authors, others)
    if m.soft_binding is not None:
        extras.append(soft_binding_assertion(m.soft_binding))
    return extras


def origin_definition(m: PlateManifest, *, final: bool) -> dict[str, Any]:
    """Manifest definition for the plate's origin (AI plate or human base); ``final`` adds
    figures and credited people."""
    return _definition(
        m.origin.title, origin_actions(m, final=final), _final_extras(m) if final else []
    )


def plate_definition(m: PlateManifest) -> dict[str, Any]:
    """The active manifest of the exported PNG (before ingredients are attached)."""
    if not m.retouched:
        definition = origin_definition(m, final=True)
        definition["title"] = m.title
        return definition
    return _definition(m.title, edit_actions(m), _final_extras(m))
