"""C2PA Content Credentials for exported plates: build, sign, read back, verify, print.

A plate's history becomes a chain of up to three signed manifests, each a real ingredient
of the next, so any C2PA viewer can walk it:

1. the **layout** (when given): ``c2pa.created`` + ``digitalCreation``, a CreativeWork naming
   the layout artist. If the layout file already carries Content Credentials that validate,
   they are kept as they are instead; credentials that do not validate (or cannot be read)
   are removed from the embedded copy, which then gets bgart's own layout manifest saying
   so, and :func:`sign_png` returns a note about it.
2. the plate's **origin**, with the layout as an ``inputTo`` ingredient: the **AI plate**
   (``c2pa.created`` + ``trainedAlgorithmicMedia``, softwareAgent = the model and revision),
   or a **human base** that no AI made (:class:`HumanBase`: a hand-painted plate, a layout
   used as the plate or a blank canvas; ``c2pa.created`` + ``digitalCreation`` naming who
   imported it).
3. the **retouched plate** (only when there were edits): ``c2pa.opened`` with the signed
   origin as ``parentOf``, then, in order, each AI inpaint as ``c2pa.edited`` +
   ``compositeWithTrainedAlgorithmicMedia`` (mask bounding box in ``changes``), each paint
   session as ``c2pa.drawing`` + ``humanEdits`` naming the artist, each levels/colour pass as
   ``c2pa.color_adjustments``.

The last manifest (the one embedded as active in the exported PNG) also carries the
measured figures in the custom assertion ``org.bgart.contribution`` and a schema.org
CreativeWork listing the credited people. (c2pa 2.x marks CreativeWork as deprecated in favour
of CAWG identity assertions, which need a separate identity credential; c2pa-rs 0.91 still
writes and validates it.)

Every action carries machine-readable ``org.bgart.*`` parameters (role, person, model...) so
:func:`format_credits` can print the credits from the file alone.

Signing is offline (no time-stamp authority unless ``tsa_url`` is given). Without a
time-stamp, validators check the signer certificate against the current time, so signatures
stop validating once the leaf certificate expires (:func:`verify_png` reports that apart from
damage: ``VerifyResult.expired``); a signature time-stamped while the certificate was valid
stays valid after it expires. Re-saving a PNG with Pillow drops the manifest: sign last.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgart import __version__
from bgart.credits.c2pa.signing import LoadedSigner, load_signer
from bgart.errors import BgartError, InputError
from bgart.fsutil import atomic_write_bytes

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC + "compositeWithTrainedAlgorithmicMedia"
HUMAN_EDITS = IPTC + "humanEdits"
DIGITAL_CREATION = IPTC + "digitalCreation"

ACTIONS_LABEL = "c2pa.actions.v2"
CONTRIBUTION_LABEL = "org.bgart.contribution"
CREATIVE_WORK_LABEL = "stds.schema-org.CreativeWork"

#: Validation codes that mean "intact, but the signer is not on a trust list we were given".
UNTRUSTED_CODES = frozenset({"signingCredential.untrusted"})
#: The signer certificate has expired (and no trusted time-stamp says the signature was made
#: while it was valid): not damage, but C2PA no longer calls the manifest valid.
EXPIRED_CODES = frozenset({"signingCredential.expired"})

#: What ``verify`` says when the only failure is the signer certificate's expiry.
EXPIRED_TEXT = (
    "the signing certificate has expired and the manifest carries no trusted time-stamp "
    "(signingCredential.expired); the signature and content hashes are intact (not altered)"
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

ImageSource = bytes | Path
When = dt.datetime | str | None


class TimeStampError(BgartError):
    """The time-stamp authority (setting ``tsa_url``) gave no time-stamp; nothing was signed."""


# --------------------------------------------------------------------------- the history


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
    """An AI inpaint over a mask a person drew; ``bbox`` = (x, y, width, height) in pixels."""

    model: str
    mask_author: str
    bbox: tuple[int, int, int, int]
    revision: str | None = None
    when: When = None


@dataclass(frozen=True)
class PaintSession:
    """A human brush session; ``bbox`` (x, y, width, height) of the strokes when known."""

    artist: str
    bbox: tuple[int, int, int, int] | None = None
    seconds: float | None = None
    when: When = None


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


Edit = Inpaint | PaintSession | Adjustment


@dataclass
class PlateManifest:
    """Everything the Content Credentials of one exported plate say.

    The plate starts either from ``ai_plate`` or from a human ``base`` (exactly one).
    ``contribution`` holds the figures (``*_share`` values in 0..1, ``grade``, ``people``,
    ``raster_sha256``...) and must be JSON-serialisable. ``people`` adds credited names not
    implied by the edits (art director, approver).
    """

    title: str
    production: str
    ai_plate: AiPlate | None
    layout: LayoutIngredient | None = None
    edits: list[Edit] = field(default_factory=list)
    contribution: dict[str, Any] = field(default_factory=dict)
    people: list[str] = field(default_factory=list)
    base: HumanBase | None = None

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
        """Named people, first appearance first, each once."""
        names: list[str] = []
        if self.layout is not None:
            names.append(self.layout.author)
        if self.base is not None:
            names.append(self.base.artist)
        for edit in self.edits:
            names.append(edit.mask_author if isinstance(edit, Inpaint) else edit.artist)
        names.extend(self.people)
        return list(dict.fromkeys(n for n in names if n and n.strip()))


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


def _region(bbox: Sequence[int], description: str) -> dict[str, Any]:
    x, y, w, h = (int(v) for v in bbox)
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise InputError(
            f"bbox {tuple(bbox)}: expected (x, y, width, height) with width, height > 0"
        )
    return {
        "region": [
            {
                "type": "spatial",
                "shape": {
                    "type": "rectangle",
                    "unit": "pixel",
                    "origin": {"x": x, "y": y},
                    "width": w,
                    "height": h,
                },
            }
        ],
        "description": description,
    }


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


def _creative_work(names: Sequence[str]) -> dict[str, Any]:
    return {
        "label": CREATIVE_WORK_LABEL,
        "data": {
            "@context": "https://schema.org",
            "@type": "CreativeWork",
            "author": [{"@type": "Person", "name": n} for n in names],
        },
    }


def _definition(title: str, actions: list[dict[str, Any]], extra: list[dict[str, Any]]) -> dict:
    return {
        "claim_generator_info": [_bgart_agent()],
        "title": title,
        "assertions": [{"label": ACTIONS_LABEL, "data": {"actions": actions}}, *extra],
    }


def layout_definition(layout: LayoutIngredient, *, dropped: str | None = None) -> dict[str, Any]:
    """Manifest definition for the layout sketch on its own; ``dropped`` says why the file's
    own Content Credentials were removed (they did not validate)."""
    description = f"Layout drawn by {layout.author}"
    if dropped:
        description += f"; the file's own Content Credentials were removed ({dropped})"
    action = _action(
        "c2pa.created",
        source_type=DIGITAL_CREATION,
        description=description,
        parameters={
            "org.bgart.role": "layout",
            "org.bgart.person": layout.author,
            "org.bgart.dropped_credentials": dropped,
        },
        when=layout.when,
    )
    return _definition(layout.title, [action], [_creative_work([layout.author])])


_BASE_TEXT = {
    "hand-painted": "Hand-painted plate imported by {artist}",
    "layout": "Layout used as the plate, imported by {artist}",
    "blank": "Blank canvas started by {artist}",
}


def origin_actions(m: PlateManifest) -> list[dict[str, Any]]:
    """The ``c2pa.created`` action of the plate's origin: the AI plate or the human base."""
    origin = m.origin
    if isinstance(origin, AiPlate):
        return ai_plate_actions(m)
    text = _BASE_TEXT.get(origin.origin, "Plate imported by {artist}").format(artist=origin.artist)
    return [
        _action(
            "c2pa.created",
            source_type=DIGITAL_CREATION,
            description=f"{text}; no AI involved",
            parameters={
                "ingredientIds": ["layout"] if m.layout is not None else None,
                "org.bgart.role": "human_base",
                "org.bgart.person": origin.artist,
                "org.bgart.origin": origin.origin,
            },
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
        _action(
            "c2pa.created",
            source_type=TRAINED_ALGORITHMIC_MEDIA,
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


def edit_actions(m: PlateManifest) -> list[dict[str, Any]]:
    """``c2pa.opened`` (the origin as parent) then one action per edit, in order."""
    origin = m.origin
    opened = (
        f"Opened the AI plate from {origin.model} for retouching"
        if isinstance(origin, AiPlate)
        else f"Opened the plate imported by {origin.artist} for retouching"
    )
    actions = [
        _action(
            "c2pa.opened",
            agent=_bgart_agent(),
            description=opened,
            parameters={"ingredientIds": [m.origin_label], "org.bgart.role": "opened"},
        )
    ]
    for edit in m.edits:
        if isinstance(edit, Inpaint):
            text = f"AI inpaint by {edit.model}, mask drawn by {edit.mask_author}"
            actions.append(
                _action(
                    "c2pa.edited",
                    source_type=COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
                    agent=_agent(edit.model, edit.revision),
                    description=text,
                    parameters={
                        "org.bgart.role": "inpaint",
                        "org.bgart.person": edit.mask_author,
                        "org.bgart.model": edit.model,
                        "org.bgart.revision": edit.revision,
                    },
                    changes=[_region(edit.bbox, f"inpainted area, mask by {edit.mask_author}")],
                    when=edit.when,
                )
            )
        elif isinstance(edit, PaintSession):
            actions.append(
                _action(
                    "c2pa.drawing",
                    source_type=HUMAN_EDITS,
                    agent=_bgart_agent(),
                    description=f"Painted by {edit.artist}",
                    parameters={
                        "org.bgart.role": "paint",
                        "org.bgart.person": edit.artist,
                        "org.bgart.active_seconds": edit.seconds,
                    },
                    changes=(
                        [_region(edit.bbox, f"painted by {edit.artist}")] if edit.bbox else None
                    ),
                    when=edit.when,
                )
            )
        elif isinstance(edit, Adjustment):
            actions.append(
                _action(
                    "c2pa.color_adjustments",
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
    extras = [{"label": CONTRIBUTION_LABEL, "data": figures}]
    people = m.credited_people()
    if people:
        extras.append(_creative_work(people))
    return extras


def origin_definition(m: PlateManifest, *, final: bool) -> dict[str, Any]:
    """Manifest definition for the plate's origin (AI plate or human base); ``final`` adds
    figures and credited people."""
    return _definition(m.origin.title, origin_actions(m), _final_extras(m) if final else [])


def plate_definition(m: PlateManifest) -> dict[str, Any]:
    """The active manifest of the exported PNG (before ingredients are attached)."""
    if not m.retouched:
        definition = origin_definition(m, final=True)
        definition["title"] = m.title
        return definition
    return _definition(m.title, edit_actions(m), _final_extras(m))


# --------------------------------------------------------------------------- signing


def _c2pa() -> Any:
    import c2pa  # native library: import only when used

    return c2pa


def _read_source(src: ImageSource, what: str) -> bytes:
    if isinstance(src, bytes | bytearray):
        data = bytes(src)
    else:
        try:
            data = Path(src).read_bytes()
        except FileNotFoundError:
            raise InputError(f"{src}: no such {what} file") from None
        except OSError as exc:
            raise InputError(f"{src}: cannot read {what} ({exc.strerror})") from None
    if not data:
        raise InputError(f"{_label(src, what)}: empty file")
    return data


def _label(src: ImageSource, what: str) -> str:
    return str(src) if not isinstance(src, bytes | bytearray) else what


def _require_png(data: bytes, src: ImageSource, what: str) -> bytes:
    if not data.startswith(PNG_MAGIC):
        raise InputError(f"{_label(src, what)}: not a PNG file")
    return data


def _context(trust_anchors: bytes | None = None, thumbnail_edge: int | None = None) -> Any:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False}}
    if thumbnail_edge:
        # c2pa-rs scales every thumbnail to ``long_edge`` (1024 by default), even up: a 64 px
        # test image got a 200 kB thumbnail, five times over along the ingredient chain.
        settings["builder"] = {"thumbnail": {"long_edge": thumbnail_edge}}
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors.decode("ascii")}
    return _c2pa().Context.from_dict(settings)


THUMBNAIL_EDGE = 512


def _thumb_edge(data: bytes) -> int:
    """Thumbnail long edge: at most :data:`THUMBNAIL_EDGE`, never larger than the image."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return max(16, min(THUMBNAIL_EDGE, max(img.size)))
    except OSError:
        return THUMBNAIL_EDGE


def _sign_to(
    definition: dict[str, Any],
    source: bytes,
    fmt: str,
    dest: Any,
    material: LoadedSigner,
    ingredients: Sequence[tuple[dict[str, Any], bytes, str]] = (),
    tsa_url: str | None = None,
) -> None:
    c2pa = _c2pa()
    info = c2pa.C2paSignerInfo(
        alg="es256", sign_cert=material.cert_chain_pem, private_key=material.key_pem, ta_url=tsa_url
    )
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition, context=_context(thumbnail_edge=_thumb_edge(source))) as builder,
    ):
        for ingredient, data, ing_fmt in ingredients:
            builder.add_ingredient(ingredient, ing_fmt, io.BytesIO(data))
        builder.sign(signer, fmt, io.BytesIO(source), dest)


def check_tsa_url(tsa_url: str | None) -> str | None:
    """``tsa_url`` when it is an http(s) URL with a host (None stays None), else InputError."""
    from bgart.settings import tsa_url_problem

    if tsa_url is None:
        return None
    if problem := tsa_url_problem(tsa_url):
        raise InputError(f"tsa_url {tsa_url!r}: {problem}")
    return str(tsa_url).strip()


def _tsa_problem(exc: Exception, tsa_url: str) -> str:
    """One line saying what went wrong with the time-stamp authority (c2pa calls it a
    ``Signature: internal error``)."""
    text = str(exc)
    status = re.search(r"status = (\d+)", text)
    if status:
        why = f"answered HTTP {status.group(1)}"
    elif "error sending request" in text or "dns error" in text or "connect" in text:
        why = "could not be reached"
    elif "decode error" in text:
        why = "answered with something that is not an RFC 3161 time-stamp"
    else:
        detail = re.sub(r"^.*?internal error\s*", "", text).strip(" ()") or text
        why = f"gave no time-stamp ({detail})"
    return f"time-stamp authority {tsa_url} (setting tsa_url) {why}"


def _sign_bytes(
    definition: dict[str, Any],
    source: bytes,
    fmt: str,
    material: LoadedSigner,
    ingredients: Sequence[tuple[dict[str, Any], bytes, str]] = (),
    tsa_url: str | None = None,
) -> bytes:
    out = io.BytesIO()
    _sign_to(definition, source, fmt, out, material, ingredients, tsa_url)
    return out.getvalue()


def _manifest_failures(data: bytes, fmt: str) -> list[str] | None:
    """None when ``data`` carries no C2PA manifest; else why it does not validate (codes,
    the file's own and its ingredients'; an unknown signer is fine): [] when it does."""
    c2pa = _c2pa()
    try:
        reader = c2pa.Reader.try_create(fmt, io.BytesIO(data), None, _context())
    except c2pa.C2paError as exc:
        return [f"unreadable: {exc}"]
    if reader is None:
        return None
    with reader:
        try:
            store = json.loads(reader.json())
        except (c2pa.C2paError, ValueError) as exc:
            return [f"unreadable: {exc}"]
    creds = _credentials(store)
    codes = [
        (f"ingredient '{_text(f.get('ingredient'))}': " if "ingredient" in f else "")
        + _text(f.get("code"))
        for f in (*creds["validation"]["failure"], *creds["validation"]["ingredient_failures"])
        if f.get("code") not in UNTRUSTED_CODES
    ]
    state = creds["validation_state"]
    if not codes and state not in ("Valid", "Trusted"):
        codes.append(f"validation state {state}")
    return list(dict.fromkeys(codes))


def _png_without_c2pa(data: bytes) -> bytes:
    """The PNG without its ``caBX`` (C2PA) chunks; every other byte as it was."""
    out, pos = bytearray(data[:8]), 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if data[pos + 4 : pos + 8] != b"caBX":
            out += data[pos:end]
        pos = end
    return bytes(out)


def _jpeg_without_c2pa(data: bytes) -> bytes:
    """The JPEG without its APP11 JUMBF (C2PA) segments; the image data as it was."""
    out, pos = bytearray(data[:2]), 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if not (marker == 0xEB and data[pos + 4 : pos + 6] == b"JP"):
            out += data[pos:end]
        pos = end
    return bytes(out + data[pos:])


def _without_manifest(data: bytes, fmt: str, name: str) -> tuple[bytes, str]:
    """``data`` with its C2PA manifest removed (pixels untouched); when some remains
    readable, a PNG rendering of the pixels instead."""
    stripped = _png_without_c2pa(data) if fmt == "image/png" else _jpeg_without_c2pa(data)
    if _manifest_failures(stripped, fmt) is None:
        return stripped, fmt
    from bgart.images import open_image

    buf = io.BytesIO()
    open_image(data, mode="RGB", name=name).save(buf, "PNG")
    return buf.getvalue(), "image/png"


def _layout_asset(
    layout: LayoutIngredient, material: LoadedSigner, tsa_url: str | None
) -> tuple[bytes, str, str | None]:
    """The layout as a signed asset and a note: its own credentials if they validate, else
    ours (the note then says the file's own were dropped, and why)."""
    data = _read_source(layout.image, "layout")
    if data.startswith(PNG_MAGIC):
        fmt = "image/png"
    elif data.startswith(JPEG_MAGIC):
        fmt = "image/jpeg"
    else:  # TIFF, WebP, ... : embed a PNG rendering (C2PA signing covers PNG and JPEG here)
        from bgart.images import open_image

        buf = io.BytesIO()
        open_image(data, mode="RGB", name=_label(layout.image, "layout")).save(buf, "PNG")
        data, fmt = buf.getvalue(), "image/png"
    failures = _manifest_failures(data, fmt)
    if failures == []:
        return data, fmt, None
    note = dropped = None
    if failures is not None:  # signed, but it does not validate: not passed off as valid
        data, fmt = _without_manifest(data, fmt, _label(layout.image, "layout"))
        dropped = "did not validate: " + ", ".join(failures)
        note = (
            f"layout {layout.title}: its own Content Credentials do not validate "
            f"({', '.join(failures)}); they were dropped and the layout is embedded with "
            f"bgart's record of it (layout by {layout.author})"
        )
    definition = layout_definition(layout, dropped=dropped)
    return _sign_bytes(definition, data, fmt, material, tsa_url=tsa_url), fmt, note


def sign_png(
    src_png: Path | bytes,
    dst: Path,
    manifest: PlateManifest,
    cert_chain: Path,
    key: Path,
    *,
    tsa_url: str | None = None,
) -> list[str]:
    """Embed signed Content Credentials for ``manifest`` into a copy of ``src_png`` at ``dst``;
    return notes for the user (a layout whose own credentials did not validate and were
    dropped).

    ``dst`` is written through a temporary file in its folder and renamed into place, so a
    reader never sees half a file. Errors name the file or field at fault. With ``tsa_url``
    (an RFC 3161 time-stamp authority) every signature is time-stamped, so it stays valid
    after the certificate expires; a TSA that fails is named and nothing is written.
    """
    tsa_url = check_tsa_url(tsa_url)
    material = load_signer(cert_chain, key)
    src = _require_png(_read_source(src_png, "plate PNG"), src_png, "plate PNG")
    origin, label = manifest.origin, manifest.origin_label
    fields = (
        (
            ("ai_plate.model", origin.model),
            ("ai_plate.revision", origin.revision),
            ("ai_plate.licence", origin.licence),
        )
        if isinstance(origin, AiPlate)
        else (("base.artist", origin.artist), ("base.origin", origin.origin))
    )
    for name, value in (("title", manifest.title), *fields):
        if not str(value).strip():
            raise InputError(f"manifest {name}: must not be empty")
    definition = plate_definition(manifest)  # validates figures and bboxes before any signing
    origin_png = None
    if manifest.retouched:
        what = "AI plate" if isinstance(origin, AiPlate) else "imported plate"
        if origin.image is None:
            raise InputError(
                f"manifest {label}.image: needed for a retouched plate (it becomes the "
                "parentOf ingredient)"
            )
        origin_png = _require_png(_read_source(origin.image, what), origin.image, what)
    c2pa = _c2pa()
    dst = Path(dst)
    notes: list[str] = []
    try:
        ingredients: list[tuple[dict[str, Any], bytes, str]] = []
        if manifest.layout is not None:
            data, fmt, note = _layout_asset(manifest.layout, material, tsa_url)
            notes += [note] if note else []
            ref = {"title": manifest.layout.title, "relationship": "inputTo", "label": "layout"}
            ingredients.append((ref, data, fmt))
        if origin_png is not None:  # retouched: the signed origin becomes the parent
            origin_def = origin_definition(manifest, final=False)
            origin_signed = _sign_bytes(
                origin_def, origin_png, "image/png", material, ingredients, tsa_url
            )
            ref = {"title": origin.title, "relationship": "parentOf", "label": label}
            ingredients = [(ref, origin_signed, "image/png")]
        signed = _sign_bytes(definition, src, "image/png", material, ingredients, tsa_url)
    except c2pa.C2paError as exc:
        if tsa_url is not None and isinstance(exc, c2pa.C2paError.Signature):
            raise TimeStampError(
                f"{dst}: not signed: {_tsa_problem(exc, tsa_url)}; nothing was written"
            ) from None
        raise BgartError(f"{dst}: C2PA signing failed: {exc}") from None
    try:
        atomic_write_bytes(dst, signed)
    except OSError as exc:
        raise InputError(f"{dst}: cannot write ({exc.strerror})") from None
    return notes


def check_time_stamp_authority(cert_chain: Path, key: Path, tsa_url: str) -> None:
    """Time-stamp one tiny signature with ``tsa_url`` (nothing is written), so an export
    can stop before it writes anything when the authority cannot time-stamp."""
    tsa_url = check_tsa_url(tsa_url) or ""
    material = load_signer(cert_chain, key)
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    definition = _definition(
        "time-stamp check", [_action("c2pa.created", source_type=DIGITAL_CREATION)], []
    )
    c2pa = _c2pa()
    try:
        _sign_bytes(definition, buf.getvalue(), "image/png", material, tsa_url=tsa_url)
    except c2pa.C2paError as exc:
        if isinstance(exc, c2pa.C2paError.Signature):
            raise TimeStampError(_tsa_problem(exc, tsa_url)) from None
        raise BgartError(f"time-stamp check with {tsa_url}: C2PA signing failed: {exc}") from None


# --------------------------------------------------------------------------- reading


@dataclass
class VerifyResult:
    """``ok``: manifest present, signature and hashes valid (trust is reported apart).

    ``expired``: not ok only because the signing certificate has expired (no trusted
    time-stamp); the signature and content hashes are intact, nothing was altered.
    """

    ok: bool
    problems: list[str]
    credentials: dict[str, Any]
    trusted: bool = False
    notes: list[str] = field(default_factory=list)
    expired: bool = False


def _anchors(trust_anchors: Path | bytes | str | None) -> bytes | None:
    """PEM text of the extra trust anchors, checked here so a bad file is named as such."""
    if trust_anchors is None:
        return None
    if isinstance(trust_anchors, bytes):
        pem, label = trust_anchors, "trust anchors"
    elif isinstance(trust_anchors, str) and "-----BEGIN" in trust_anchors:
        pem, label = trust_anchors.encode("ascii"), "trust anchors"
    else:
        pem = _read_source(Path(trust_anchors), "trust anchor")
        label = str(trust_anchors)
    from cryptography import x509

    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise InputError(f"{label}: not PEM certificates") from None
    return pem


def _assertion(manifest: dict[str, Any], label: str) -> Any:
    for item in manifest.get("assertions", []):
        if item.get("label") == label or str(item.get("label", "")).startswith(label + "."):
            return item.get("data")
    return None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    data = _assertion(manifest, ACTIONS_LABEL) or _assertion(manifest, "c2pa.actions")
    actions = data.get("actions") if isinstance(data, dict) else None
    return [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []


def _authors(manifest: dict[str, Any]) -> list[str]:
    data = _assertion(manifest, CREATIVE_WORK_LABEL)
    authors = data.get("author", []) if isinstance(data, dict) else []
    if not isinstance(authors, list):
        authors = [authors]
    return [_text(a.get("name", "")) if isinstance(a, dict) else _text(a) for a in authors]


def _history(store: dict[str, Any], label: str, seen: set[str]) -> list[dict[str, Any]]:
    """Manifests reachable from ``label`` through ingredients, oldest first."""
    manifest = store.get("manifests", {}).get(label)
    if manifest is None or label in seen:
        return []
    seen.add(label)
    older: list[dict[str, Any]] = []
    for ing in manifest.get("ingredients", []):
        if ing.get("active_manifest"):
            older.extend(_history(store, ing["active_manifest"], seen))
    entry = {
        "label": label,
        "title": manifest.get("title"),
        "actions": _actions(manifest),
        "authors": _authors(manifest),
        "signer": manifest.get("signature_info", {}),
    }
    return [*older, entry]


def _codes(results: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list((results.get("activeManifest") or {}).get(kind, []))


def _read_store(png: Path | bytes, trust_anchors: Path | bytes | str | None) -> dict | None:
    data = _read_source(png, "PNG")
    c2pa = _c2pa()
    reader = c2pa.Reader.try_create(
        "image/png", io.BytesIO(data), None, _context(_anchors(trust_anchors))
    )
    if reader is None:
        return None
    with reader:
        return json.loads(reader.json())


#: How C2PA success (and skipped-check) codes end, for the 1.x ``validation_status`` list.
_SUCCESS_ENDINGS = (
    ".match",
    ".validated",
    ".insideValidity",
    ".trusted",
    ".notRevoked",
    ".accessible",
    ".skipped",
)


def _delta_failures(results: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(ingredient assertion URI, failure) of ``ingredientDeltas`` in validation results."""
    return [
        (d.get("ingredientAssertionURI"), f)
        for d in _items(_mapping(results).get("ingredientDeltas"))
        if isinstance(d, dict)
        for f in _items(_mapping(d.get("validationDeltas")).get("failure"))
        if isinstance(f, dict)
    ]


def _ingredient_failures(store: dict[str, Any]) -> list[dict[str, Any]]:
    """Failures of ingredients, named by title: what the file's validation found for them
    now (``ingredientDeltas``) and what each ingredient's own manifest failed when it was
    added (its recorded validation results), for every manifest in the store."""
    manifests = _mapping(store.get("manifests"))
    titles: dict[str, str] = {}
    found: list[dict[str, Any]] = []
    for label, manifest in manifests.items():
        for ing in _items(_mapping(manifest).get("ingredients")):
            if not isinstance(ing, dict):
                continue
            title = _text(ing.get("title") or "untitled ingredient")
            titles[f"{label}/c2pa.assertions/{ing.get('label')}"] = title
            own = _mapping(ing.get("validation_results"))
            recorded = [
                f
                for f in _items(_mapping(own.get("activeManifest")).get("failure"))
                if isinstance(f, dict)
            ]
            recorded += [f for _, f in _delta_failures(own)]
            recorded += [
                f
                for f in _items(ing.get("validation_status"))  # C2PA 1.x
                if isinstance(f, dict)
                and not f.get("success")
                and not str(f.get("code", "")).endswith(_SUCCESS_ENDINGS)
            ]
            within = _text(_mapping(manifest).get("title") or label)
            found += [{"ingredient": title, "within": within, **f} for f in recorded]
    for uri, f in _delta_failures(store.get("validation_results")):
        title = next((t for key, t in titles.items() if str(uri).endswith(key)), _text(uri))
        found.append({"ingredient": title, **f})
    unique: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in found:
        unique.setdefault((f["ingredient"], _text(f.get("code")), _text(f.get("url"))), f)
    return list(unique.values())


def _credentials(store: dict[str, Any]) -> dict[str, Any]:
    active = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(active, {})
    results = store.get("validation_results") or {}
    failures = _codes(results, "failure")
    deltas = _ingredient_failures(store)
    return {
        "active_manifest": active,
        "title": manifest.get("title"),
        "claim_generator": manifest.get("claim_generator_info", []),
        "actions": _actions(manifest),
        "ingredients": [
            {
                "title": ing.get("title"),
                "relationship": ing.get("relationship"),
                "format": ing.get("format"),
                "active_manifest": ing.get("active_manifest"),
            }
            for ing in manifest.get("ingredients", [])
        ],
        "contribution": _assertion(manifest, CONTRIBUTION_LABEL),
        "authors": _authors(manifest),
        "signer": manifest.get("signature_info", {}),
        "history": _history(store, active, set()) if active else [],
        "validation_state": store.get("validation_state"),
        "validation": {
            "success": [c.get("code") for c in _codes(results, "success")],
            "informational": [c.get("code") for c in _codes(results, "informational")],
            "failure": failures,
            "ingredient_failures": deltas,
        },
        "trusted": store.get("validation_state") == "Trusted",
    }


def read_credentials(
    png: Path | bytes, *, trust_anchors: Path | bytes | str | None = None
) -> dict[str, Any]:
    """The active manifest's actions, ingredients, figures, people, signer and validation.

    ``trust_anchors`` (PEM path or text, e.g. the project's ``signing/root_ca.pem``) is
    trusted in addition to nothing: c2pa-rs ships no trust list by default, so without it
    every signer reads as untrusted. Raises :class:`InputError` when there is no manifest.
    """
    c2pa = _c2pa()
    try:
        store = _read_store(png, trust_anchors)
    except c2pa.C2paError as exc:
        raise InputError(f"{_label(png, 'PNG')}: unreadable C2PA manifest ({exc})") from None
    if store is None:
        raise InputError(f"{_label(png, 'PNG')}: no C2PA manifest")
    return _credentials(store)


def verify_png(
    png: Path | bytes, *, trust_anchors: Path | bytes | str | None = None
) -> VerifyResult:
    """Check a signed PNG; an untrusted (e.g. bgart's own test) signer is a note, not a problem.

    Problems are real failures: pixel data changed (``assertion.dataHash.mismatch``), a bad
    claim signature, a broken ingredient or one whose own manifest failed validation when it
    was added (named by its title), an unreadable or missing manifest.
    """
    c2pa = _c2pa()
    label = _label(png, "PNG")
    try:
        store = _read_store(png, trust_anchors)
    except c2pa.C2paError as exc:
        return VerifyResult(False, [f"{label}: unreadable C2PA manifest ({exc})"], {})
    if store is None:
        return VerifyResult(False, [f"{label}: no C2PA manifest"], {})
    creds = _credentials(store)
    failures = [f for f in creds["validation"]["failure"] if f.get("code") not in UNTRUSTED_CODES]
    problems = [f"{f.get('code')}: {f.get('explanation', '')}".rstrip(": ") for f in failures]
    problems += list(
        dict.fromkeys(
            f"ingredient '{f['ingredient']}'"
            + (f" (of {f['within']})" if f.get("within") else "")
            + f": {_text(f.get('code'))}: {_text(f.get('explanation', ''))}".rstrip(": ")
            for f in creds["validation"]["ingredient_failures"]
            if f.get("code") not in UNTRUSTED_CODES
        )
    )
    state = creds["validation_state"]
    if not problems and state not in ("Valid", "Trusted"):
        problems.append(f"validation state is {state}")
    # Only the certificate's age is wrong: say so instead of calling the file damaged.
    expired = (
        bool(failures)
        and len(problems) == len(failures)
        and all(f.get("code") in EXPIRED_CODES for f in failures)
        and "assertion.dataHash.match" in creds["validation"]["success"]
        and "claimSignature.validated" in creds["validation"]["success"]
    )
    if expired:
        problems = [EXPIRED_TEXT]
    notes = []
    if not creds["trusted"] and not expired:
        notes.append(
            "signer untrusted: the signature and hashes are intact, but the signing "
            "certificate does not chain to any trust anchor the validator was given "
            "(expected for bgart's own test CA, which is not on the public C2PA trust list)"
        )
    return VerifyResult(not problems, problems, creds, creds["trusted"], notes, expired)


# --------------------------------------------------------------------------- credits text


# A manifest read from any file may hold any JSON where bgart writes numbers, mappings and
# lists (a validly signed file from another tool, or a crafted one): the text below checks
# every type and prints what it does not expect as text, never failing on it.


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _pct(value: Any) -> str:
    number = _number(value)
    return f"{number * 100:.1f}%" if number is not None else _text(value)


def _whole(value: Any) -> str:
    number = _number(value)
    return str(int(number)) if number is not None else _text(value)


def _bbox_text(action: dict[str, Any]) -> str:
    for change in _items(action.get("changes")):
        for region in _items(_mapping(change).get("region")):
            shape = _mapping(_mapping(region).get("shape"))
            origin = _mapping(shape.get("origin"))
            if shape.get("type") == "rectangle":
                return (
                    f" at x={_whole(origin.get('x', 0))} y={_whole(origin.get('y', 0))} "
                    f"{_whole(shape.get('width', 0))}x{_whole(shape.get('height', 0))} px"
                )
    return ""


def _action_line(action: dict[str, Any]) -> str | None:
    params = _mapping(action.get("parameters"))
    role = params.get("org.bgart.role")
    person = _text(params.get("org.bgart.person", ""))
    model = _text(params.get("org.bgart.model", ""))
    if role == "layout":
        dropped = params.get("org.bgart.dropped_credentials")
        return f"Layout: {person} (human, digital creation)" + (
            f"; the file's own Content Credentials were dropped ({_text(dropped)})"
            if dropped
            else ""
        )
    if role == "ai_plate":
        weights = params.get("org.bgart.weights")
        return (
            f"AI plate: {model} revision {_text(params.get('org.bgart.revision', '?'))}, "
            f"licence {_text(params.get('org.bgart.licence', '?'))}"
            + (f"; weights {_text(weights)}" if weights else "")
        )
    if role == "human_base":
        origin = _text(params.get("org.bgart.origin", "imported"))
        return f"Base: {origin} plate imported by {person} (human-made, no AI)"
    if role == "inpaint":
        return f"AI inpaint: {model}, mask drawn by {person}{_bbox_text(action)}"
    if role == "paint":
        secs = params.get("org.bgart.active_seconds")
        number = _number(secs)
        extra = (
            f", {number:.0f} s active"
            if number is not None
            else f", active {_text(secs)}"
            if secs is not None
            else ""
        )
        return f"Retouch: {person} (hand-painted{extra}){_bbox_text(action)}"
    if role == "adjust":
        return f"Levels/colour: {person} (technical edit, not counted as authorship)"
    if role == "opened":
        return None
    # Foreign manifests (a layout from another tool): say what C2PA says.
    text = _text(action.get("description") or action.get("action", ""))
    source = _text(action.get("digitalSourceType", "")).rsplit("/", 1)[-1]
    return f"{text}{f' ({source})' if source else ''}"


def format_retouch_shares(figures: Any) -> str | None:
    """``Retouch shares: <artist> <share> (<seconds> s), ...`` from ``org.bgart.contribution``
    (None when it lists no retouch); entries of unexpected types are printed as text."""
    parts = []
    for r in _items(_mapping(figures).get("retouch")):
        if not isinstance(r, dict):
            parts.append(_text(r))
            continue
        secs = r.get("active_seconds", 0)
        number = _number(secs)
        parts.append(
            f"{_text(r.get('artist'))} {_pct(r.get('human_paint_share', 0))} "
            f"({f'{number:.0f} s' if number is not None else _text(secs)})"
        )
    return "Retouch shares: " + ", ".join(parts) if parts else None


def format_credits(credentials: dict[str, Any]) -> str:
    """Human-readable credits from the manifest alone: who did what, shares, model, grade.

    Takes whatever the manifest holds: values of unexpected types are printed as text.
    """
    raw = credentials.get("contribution")
    figures = _mapping(raw)
    title = _text(credentials.get("title") or "untitled plate")
    head = f"Credits for {title}"
    if figures.get("production"):
        head += f" ({_text(figures['production'])})"
    lines = [head]
    history = credentials.get("history") or [{"actions": credentials.get("actions", [])}]
    for entry in _items(history):
        for action in _items(_mapping(entry).get("actions")):
            line = _action_line(action) if isinstance(action, dict) else _text(action)
            if line:
                lines.append(f"  {line}")
    people = _items(credentials.get("authors"))
    if people:
        lines.append(f"  People: {', '.join(_text(n) for n in people)}")
    shares = [(k, v) for k, v in figures.items() if k.endswith("_share")]
    if shares:
        lines.append(
            "  Shares: "
            + ", ".join(
                f"{k.removesuffix('_share').replace('_', ' ')} {_pct(v)}" for k, v in shares
            )
        )
    if "grade" in figures:
        lines.append(f"  Grade: {_text(figures['grade'])}")
    for key, value in figures.items():
        if key in ("production", "grade", "people") or key.endswith("_share"):
            continue
        if isinstance(value, str | int | float | bool):
            lines.append(f"  {key.replace('_', ' ')}: {value}")
    if raw is not None and not isinstance(raw, dict):
        lines.append(f"  {CONTRIBUTION_LABEL}: {_text(raw)}")
    signer = _mapping(credentials.get("signer"))
    if signer:
        who = _text(signer.get("common_name") or "unknown signer")
        if signer.get("issuer"):
            who += f", issued by {_text(signer['issuer'])}"
        state = credentials.get("validation_state")
        trust = "trusted" if credentials.get("trusted") else "signer not on a trust list"
        lines.append(f"  Signed by: {who} (validation: {state}; {trust})")
    return "\n".join(lines)
