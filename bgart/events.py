"""The table of event kinds: every act bgart records is declared here, once.

Each :class:`EventSpec` states, for one kind of ledger event:

* ``actor``: who acts (a person, or a model);
* ``makes_version``: whether it can make a new plate version (``ai.generated`` makes one
  only when the plate has none yet: its payload says so with ``version``);
* ``edit``: its provenance edit, a function of the payload (:class:`EditKind`; the
  functions themselves are in :mod:`bgart.provenance.edits`, keyed by that value);
* ``payload``: its payload type (validated when the event is written, parsed when read);
* ``c2pa_action`` / ``source_type``: how the Content Credentials state it;
* ``credit``: the role it earns in the credit report;
* ``psd``: what it puts in the layered PSD;
* ``review``: a review of a version (submit, accept, reject).

The ledger, the acts, replay/verify, credits, C2PA and the PSD read this table; no other
module spells an event kind. Adding an act: see docs/contributing.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator


class Kind(StrEnum):
    """Event kinds, as the ledger spells them (the values are part of the file format)."""

    LAYOUT_IMPORTED = "layout.imported"
    AI_GENERATED = "ai.generated"
    VARIATION_SELECTED = "variation.selected"
    AI_INPAINTED = "ai.inpainted"
    HUMAN_PAINTED = "human.painted"
    HUMAN_ADJUSTED = "human.adjusted"
    PLATE_IMPORTED = "plate.imported"
    PLATE_REVERTED = "plate.reverted"
    PLATE_SUBMITTED = "plate.submitted"
    PLATE_ACCEPTED = "plate.accepted"
    PLATE_REJECTED = "plate.rejected"
    USER_ADDED = "user.added"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_PASSWORD_CHANGED = "user.password_changed"
    USERS_ADOPTED = "users.adopted"
    AI_VARIANT = "ai.variant"  # a time-of-day variant: a new plate made from another one
    RETAKE_MARKED = "plate.retake_marked"
    ARTBOARD_IMPORTED = "artboard.imported"  # a reference image on an art board (美術ボード)
    PLATE_REUSED = "plate.reused"  # 兼用: the shot takes another cut's accepted plate
    AI_REFINED = "ai.refined"  # the plate refined/upscaled to a delivery size by the model


class Actor(StrEnum):
    HUMAN = "human"
    AI = "ai"


class EditKind(StrEnum):
    """What an event does to a plate's pixels and provenance raster."""

    NONE = "none"  # no new pixels (layout, reviews, a candidate that is not the plate)
    GENERATED = "generated"  # the image is an AI plate: every pixel AI_GEN
    IMPORTED = "imported"  # a first version without AI (hand-painted, layout, blank)
    PAINT = "paint"  # an RGBA layer over the plate
    FINAL = "final"  # a whole repainted plate (an opaque layer over every pixel)
    INPAINT = "inpaint"  # the AI redid a masked area
    ADJUST = "adjust"  # a technical levels/colour edit: no authorship
    COPY = "copy"  # an exact copy of an older version (revert)
    RESAMPLE = "resample"  # the plate refined to a new size: raster carried, AI changes on top


class CreditRole(StrEnum):
    """The role an event earns in the credit report (None in the table: no credit)."""

    LAYOUT = "layout"
    CHOICE = "candidate choice"
    BASE = "base"  # the person who brought in a hand-painted or layout base
    RETOUCH = "retouch"
    MASK = "inpaint direction"
    ADJUST = "levels/colour"
    SUBMISSION = "submission"
    APPROVAL = "approval"
    MODEL = "AI model"
    ART_BOARD = "art board"  # the art director whose board images steered the render


class PsdLayer(StrEnum):
    """What an event contributes to the layered PSD export."""

    NONE = "none"
    ORIGIN = "origin"  # the bottom layer: the AI plate or the human base
    INPAINT = "inpaint"  # the inpainted pixels on their own layer, named for model and mask author
    RETOUCH = "retouch"  # the changed pixels on a layer named for the artist
    ADJUST = "adjust"  # the changed pixels on a "Levels/colour – artist" layer
    REFINE = "refine"  # the layers below resampled to the new size, the model's changes above


IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC + "compositeWithTrainedAlgorithmicMedia"
DIGITAL_CREATION = IPTC + "digitalCreation"
HUMAN_EDITS = IPTC + "humanEdits"


# --- payloads ---------------------------------------------------------------------------------


class Payload(BaseModel):
    """Base of every payload. Unknown fields are kept (a ledger written by a later version
    still reads), and the fields a version of bgart wrote are never renamed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    active_seconds: float = 0.0  # editing time the UI measured for the act (0: unknown)

    def to_dict(self) -> dict[str, Any]:
        """The dict stored in the ledger: exactly the fields the act set."""
        return self.model_dump(mode="json", exclude_unset=True)


class VersionFields(Payload):
    """Fields of every event that may make a plate version (set by the acts' common path)."""

    version: int | None = None
    base_version: int | None = None
    contribution: int | None = None  # the contribution definition version
    stats: dict[str, int] | None = None


class LayoutImported(Payload):
    filename: str | None = None
    width: int
    height: int


class ModelMade(VersionFields):
    """An act of a model: its generation record (what made the pixels, and in how long)."""

    record: dict[str, Any]  # bgart.generation.record.GenerationRecord.to_dict()

    @property
    def gpu_seconds(self) -> float:
        return float(self.record.get("seconds") or 0.0)


class AiGenerated(ModelMade):
    requested_by: str | None = None
    candidate: int


class VariationSelected(VersionFields):
    candidate: int
    candidates: int


class PlateImported(VersionFields):
    origin: str  # "hand-painted" | "layout" | "blank"

    @property
    def hand_painted(self) -> bool:
        """A plate painted by hand: every pixel the importer's work."""
        return self.origin == "hand-painted"

    filename: str | None = None


class HumanPainted(VersionFields):
    source: str  # "brush" | "layer" | "final" | "psd" (a layer of a layered PSD final)
    filename: str | None = None


class AiVariant(AiGenerated):
    """A variant plate (time of day, colour) the model made from another plate of the shot:
    ``parent_plate`` at ``parent_version``. Its raster starts from the parent's; pixels the
    model visibly changed become AI (the edit of an inpaint over the whole plate), the rest
    keep their author. ``candidate`` is 1: a variant is its plate's one candidate."""

    parent_plate: str
    parent_version: int
    time: str | None = None


class AiRefined(ModelMade):
    """The plate refined (upscaled) by the model to ``record``'s width x height, from
    ``base_version``; ``keep_human_paint``: human-credited pixels were put back from the
    plain resample after the model ran (bgart.provenance.resample)."""

    requested_by: str | None = None
    keep_human_paint: bool = True


class AiInpainted(ModelMade):
    directed_by: str
    mask_bbox: list[int] | None = None


class HumanAdjusted(VersionFields):
    operation: dict[str, Any] = {}


class PlateReverted(VersionFields):
    to_version: int


class Review(Payload):
    """Submit, accept, reject: the version reviewed and a comment."""

    version: int | None = None
    comment: str = ""


class RetakeRegion(BaseModel):
    """One marked region of a retake: a rectangle (two corners) or a polygon (three or more
    points), in plate pixels, with what the director wants changed there."""

    model_config = ConfigDict(extra="allow", frozen=True)

    shape: Literal["rect", "polygon"]
    points: list[tuple[float, float]]
    comment: str

    @model_validator(mode="after")
    def _enough_points(self) -> RetakeRegion:
        need = 2 if self.shape == "rect" else 3
        if len(self.points) < need or (self.shape == "rect" and len(self.points) != 2):
            raise ValueError(f"a {self.shape} takes {'2' if need == 2 else '3 or more'} points")
        if not self.comment.strip():
            raise ValueError("each marked region needs a comment")
        return self


class RetakeMarked(Payload):
    """Retake marks: regions a director drew on a version, a comment each (no pixel changes;
    shown to the artist, listed in the credits' review history, no credit role)."""

    version: int | None = None
    regions: list[RetakeRegion]
    comment: str = ""


class ArtboardImported(Payload):
    """A reference image put on an art board (美術ボード): a location's or a preset's. On no
    shot and no plate: a plate rendered with it names its sha256 in its generation record
    (``extra["references"]``), and the credits name this event's actor (the art director)
    on that plate, as a layout's artist is named."""

    board: str  # "location" | "preset"
    name: str  # the location or preset name
    filename: str | None = None
    width: int
    height: int


class PlateReused(Payload):
    """兼用: the shot's layout is another cut's (perceptual hash within the production's
    distance), and the shot takes that cut's accepted plate as it is. It paints no pixels:
    the shot's credits are the source plate's."""

    plate: str = "main"
    source_shot: str
    source_plate: str
    source_version: int
    distance: int  # bits of 64 in which the two layouts' dHashes differ


class UserFields(Payload):
    """An event about one user (who may log in, with which role): on no plate. ``password``
    is the sha256 of the stored password hash (None: no password), never the hash itself."""

    user: str


class UserAdded(UserFields):
    role: str
    password: str | None = None


class UserRoleChanged(UserFields):
    role: str
    previous: str


class UserPasswordChanged(UserFields):
    password: str | None = None


class UsersAdopted(Payload):
    """The users a ledger written before users were chained already had, put on the chain
    as they stood (each: ``user``, ``role``, ``password`` as in :class:`UserAdded`)."""

    users: list[dict[str, Any]]


# --- the table --------------------------------------------------------------------------------


PayloadLike = Payload | Mapping[str, Any]
"""A typed payload, or the dict the ledger stores (verify reads thousands: no parsing)."""


def _fixed(edit: EditKind) -> Callable[[PayloadLike], EditKind]:
    return lambda _payload: edit


def _painted_edit(payload: PayloadLike) -> EditKind:
    source = (
        payload.get("source") if isinstance(payload, Mapping) else getattr(payload, "source", None)
    )
    return EditKind.FINAL if source == "final" else EditKind.PAINT


@dataclass(frozen=True)
class EventSpec:
    kind: Kind
    actor: Actor
    makes_version: bool
    edit_of: Callable[[PayloadLike], EditKind]
    payload: type[Payload]
    c2pa_action: str | None
    source_type: str | None
    credit: CreditRole | None
    psd: PsdLayer
    review: bool = False
    figures: bool = False  # the act records the edit's pixel figures (payload ``stats``)

    def edit(self, payload: PayloadLike) -> EditKind:
        """The provenance edit an event of this kind with ``payload`` makes."""
        return self.edit_of(payload)


EVENTS: Mapping[Kind, EventSpec] = {
    spec.kind: spec
    for spec in (
        EventSpec(
            Kind.LAYOUT_IMPORTED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            LayoutImported,
            "c2pa.created",
            DIGITAL_CREATION,
            CreditRole.LAYOUT,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.AI_GENERATED,
            Actor.AI,
            True,
            _fixed(EditKind.GENERATED),
            AiGenerated,
            "c2pa.created",
            TRAINED_ALGORITHMIC_MEDIA,
            CreditRole.MODEL,
            PsdLayer.ORIGIN,
        ),
        EventSpec(
            Kind.VARIATION_SELECTED,
            Actor.HUMAN,
            True,
            _fixed(EditKind.GENERATED),
            VariationSelected,
            "c2pa.created",
            TRAINED_ALGORITHMIC_MEDIA,
            CreditRole.CHOICE,
            PsdLayer.ORIGIN,
        ),
        EventSpec(
            Kind.PLATE_IMPORTED,
            Actor.HUMAN,
            True,
            _fixed(EditKind.IMPORTED),
            PlateImported,
            "c2pa.created",
            DIGITAL_CREATION,
            CreditRole.BASE,
            PsdLayer.ORIGIN,
        ),
        EventSpec(
            Kind.HUMAN_PAINTED,
            Actor.HUMAN,
            True,
            _painted_edit,
            HumanPainted,
            "c2pa.drawing",
            HUMAN_EDITS,
            CreditRole.RETOUCH,
            PsdLayer.RETOUCH,
            figures=True,
        ),
        EventSpec(
            Kind.AI_INPAINTED,
            Actor.AI,
            True,
            _fixed(EditKind.INPAINT),
            AiInpainted,
            "c2pa.edited",
            COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
            CreditRole.MASK,
            PsdLayer.INPAINT,
            figures=True,
        ),
        EventSpec(
            Kind.AI_REFINED,
            Actor.AI,
            True,
            _fixed(EditKind.RESAMPLE),
            AiRefined,
            "c2pa.edited",
            COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
            CreditRole.MODEL,
            PsdLayer.REFINE,
            figures=True,
        ),
        EventSpec(
            Kind.AI_VARIANT,
            Actor.AI,
            True,
            _fixed(EditKind.INPAINT),  # over the whole parent plate (mask blob: all on)
            AiVariant,
            "c2pa.edited",
            COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
            CreditRole.MODEL,
            PsdLayer.ORIGIN,
            figures=True,
        ),
        EventSpec(
            Kind.HUMAN_ADJUSTED,
            Actor.HUMAN,
            True,
            _fixed(EditKind.ADJUST),
            HumanAdjusted,
            "c2pa.color_adjustments",
            None,
            CreditRole.ADJUST,
            PsdLayer.ADJUST,
            figures=True,
        ),
        EventSpec(
            Kind.PLATE_REVERTED,
            Actor.HUMAN,
            True,
            _fixed(EditKind.COPY),
            PlateReverted,
            None,
            None,
            None,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.PLATE_SUBMITTED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            Review,
            None,
            None,
            CreditRole.SUBMISSION,
            PsdLayer.NONE,
            review=True,
        ),
        EventSpec(
            Kind.PLATE_ACCEPTED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            Review,
            None,
            None,
            CreditRole.APPROVAL,
            PsdLayer.NONE,
            review=True,
        ),
        EventSpec(
            Kind.PLATE_REJECTED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            Review,
            None,
            None,
            CreditRole.APPROVAL,
            PsdLayer.NONE,
            review=True,
        ),
        EventSpec(
            Kind.USER_ADDED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            UserAdded,
            None,
            None,
            None,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.USER_ROLE_CHANGED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            UserRoleChanged,
            None,
            None,
            None,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.USER_PASSWORD_CHANGED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            UserPasswordChanged,
            None,
            None,
            None,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.USERS_ADOPTED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            UsersAdopted,
            None,
            None,
            None,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.RETAKE_MARKED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            RetakeMarked,
            None,
            None,
            None,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.ARTBOARD_IMPORTED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            ArtboardImported,
            None,
            None,
            CreditRole.ART_BOARD,
            PsdLayer.NONE,
        ),
        EventSpec(
            Kind.PLATE_REUSED,
            Actor.HUMAN,
            False,
            _fixed(EditKind.NONE),
            PlateReused,
            None,
            None,
            None,  # the credit is the source plate's
            PsdLayer.NONE,
        ),
    )
}

EVENT_KINDS: tuple[str, ...] = tuple(kind.value for kind in EVENTS)
AI_KINDS = frozenset(k for k, s in EVENTS.items() if s.actor is Actor.AI)
HUMAN_KINDS = frozenset(k for k, s in EVENTS.items() if s.actor is Actor.HUMAN)
VERSION_KINDS = frozenset(k for k, s in EVENTS.items() if s.makes_version)
REVIEW_KINDS = frozenset(k for k, s in EVENTS.items() if s.review)
DECISION_KINDS = frozenset({Kind.PLATE_ACCEPTED, Kind.PLATE_REJECTED})
FIGURE_KINDS = frozenset(k for k, s in EVENTS.items() if s.figures)
"""Kinds whose act records the edit's pixel figures (``stats``) in the payload."""
ORIGIN_KINDS = frozenset(k for k, s in EVENTS.items() if s.psd is PsdLayer.ORIGIN)
"""Kinds that start a plate's lineage: an AI plate (generated, chosen) or a human base."""
USER_KINDS = frozenset(
    k for k, s in EVENTS.items() if issubclass(s.payload, (UserFields, UsersAdopted))
)
"""Kinds that add a user or change a role or password (on no plate; see bgart.ledger.users)."""


def spec(kind: str) -> EventSpec:
    """The table entry of ``kind``; an unknown kind is refused by name."""
    try:
        return EVENTS[Kind(kind)]
    except ValueError:
        raise ValueError(f"unknown event kind '{kind}'") from None


def actor_kind_problem(kind: str, actor_kind: str) -> str | None:
    """Why this kind of event cannot be by this kind of actor (None: it can). Credits count
    a human actor's time and name: a model recorded as a person (or a person's paint
    recorded as a model's) would be credited wrongly."""
    try:
        expected = spec(kind).actor
    except ValueError as exc:
        return str(exc)
    if actor_kind != expected:
        who = "a model" if expected is Actor.AI else "a person"
        return f"{kind} is an act of {who} (actor kind '{expected}'), not '{actor_kind}'"
    return None


P = TypeVar("P", bound=Payload)


class PayloadError(ValueError):
    """A payload that does not fit its kind's type (the message names the field)."""


def parse(kind: str, payload: Mapping[str, Any], as_type: type[P] | None = None) -> P:
    """The typed payload of an event of ``kind`` (``as_type``: the type the caller expects,
    checked against the table)."""
    expected = spec(kind).payload
    if as_type is not None and not issubclass(expected, as_type):
        raise PayloadError(f"a {kind} payload is a {expected.__name__}, not {as_type.__name__}")
    try:
        return expected.model_validate(dict(payload))  # type: ignore[return-value]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "payload"
        raise PayloadError(f"{kind} payload field '{field}': {first['msg']}") from None


def kinds_where(pred: Callable[[EventSpec], bool]) -> frozenset[Kind]:
    return frozenset(k for k, s in EVENTS.items() if pred(s))


def is_kind(kind: str, kinds: Iterable[Kind]) -> bool:
    return kind in {k.value for k in kinds}
