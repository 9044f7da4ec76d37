"""Reading signed PNGs back: the credentials their manifests state, and whether they verify.

:func:`read_credentials` returns the active manifest's actions, ingredients, figures, people,
signer and validation results; :func:`verify_png` turns those into problems (damage) and notes
(an untrusted signer, an expired certificate without a time-stamp).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgart.credits.c2pa.manifest import (
    ACTIONS_LABEL,
    CONTRIBUTION_LABEL,
    CREATIVE_WORK_LABEL,
    PEOPLE_LABEL,
)
from bgart.credits.c2pa.native import _c2pa, _context, _label, _read_source
from bgart.credits.c2pa.softbinding import SOFT_BINDING_LABEL, stated_value
from bgart.credits.c2pa.text import _items, _mapping, _text
from bgart.errors import InputError
from bgart.fsutil import MAX_TEXT_BYTES, read_bounded
from bgart.images import MAX_FILE_BYTES

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
        label = str(trust_anchors)
        # a certificate bundle is kilobytes: /dev/zero or a FIFO is refused by name
        pem = read_bounded(trust_anchors, label, MAX_TEXT_BYTES, kind="trust anchor file")
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


def _people(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """``org.bgart.people`` of the manifest (None when it has none: an export made before it,
    or another tool's manifest)."""
    data = _assertion(manifest, PEOPLE_LABEL)
    return data if isinstance(data, dict) else None


def _authors(manifest: dict[str, Any]) -> list[str]:
    people = _people(manifest)
    if people is not None:
        return [
            _text(a.get("name", "")) if isinstance(a, dict) else _text(a)
            for a in _items(people.get("authors"))
        ]
    data = _assertion(manifest, CREATIVE_WORK_LABEL)  # exports made before org.bgart.people
    authors = data.get("author", []) if isinstance(data, dict) else []
    if not isinstance(authors, list):
        authors = [authors]
    return [_text(a.get("name", "")) if isinstance(a, dict) else _text(a) for a in authors]


def _author_roles(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"name", "roles"}`` of each author ``org.bgart.people`` names ([] without it)."""
    people = _people(manifest)
    return [
        {"name": _text(a.get("name", "")), "roles": [_text(r) for r in _items(a.get("roles"))]}
        for a in _items(people.get("authors") if people else None)
        if isinstance(a, dict)
    ]


def _contributors(manifest: dict[str, Any]) -> list[dict[str, str]]:
    """``{"name", "role"}`` of the contributors (``org.bgart.people``, else the
    CreativeWork's schema.org ``Role``s)."""
    people = _people(manifest)
    if people is not None:
        return [
            {"name": _text(c.get("name", "")), "role": _text(c.get("role", "contributor"))}
            if isinstance(c, dict)
            else {"name": _text(c), "role": "contributor"}
            for c in _items(people.get("contributors"))
        ]
    data = _assertion(manifest, CREATIVE_WORK_LABEL)
    found = data.get("contributor", []) if isinstance(data, dict) else []
    out = []
    for item in found if isinstance(found, list) else [found]:
        if not isinstance(item, dict):
            out.append({"name": _text(item), "role": "contributor"})
            continue
        person = item.get("contributor", item)
        name = person.get("name", "") if isinstance(person, dict) else person
        out.append({"name": _text(name), "role": _text(item.get("roleName", "contributor"))})
    return out


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
    if not isinstance(png, bytes | bytearray):  # a path from outside: bounded, regular only
        png = read_bounded(png, str(png), MAX_FILE_BYTES, kind="PNG file")
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
        "author_roles": _author_roles(manifest),
        "contributors": _contributors(manifest),
        "soft_binding": stated_value(_assertion(manifest, SOFT_BINDING_LABEL)),
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
