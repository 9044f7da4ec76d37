"""Credits as text: what a manifest states, printed from the file alone."""

from __future__ import annotations

import json
from typing import Any

from bgart.credits.c2pa.manifest import CONTRIBUTION_LABEL
from bgart.credits.grade import pct

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
    return pct(number) if number is not None else _text(value)


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


def _rect_text(shape: dict[str, Any]) -> str:
    origin = _mapping(shape.get("origin"))
    return (
        f"x={_whole(origin.get('x', 0))} y={_whole(origin.get('y', 0))} "
        f"{_whole(shape.get('width', 0))}x{_whole(shape.get('height', 0))} px"
    )


#: Rectangles printed per act; the rest are counted.
SHOWN_RECTS = 4


def _credit_text(action: dict[str, Any]) -> str:
    """``, 25.3% of the plate in 2 areas (x=… y=… W×H px; …)`` from an act's
    ``org.bgart.share`` and the rectangles of its ``changes``; "" without a share."""
    params = _mapping(action.get("parameters"))
    if "org.bgart.share" not in params:
        return ""
    rects = [
        _rect_text(shape)
        for change in _items(action.get("changes"))
        for rng in _items(_mapping(change).get("region"))
        if (shape := _mapping(_mapping(rng).get("shape"))).get("type") == "rectangle"
    ]
    text = f", {_pct(params['org.bgart.share'])} of the plate"
    if not rects:
        return text + " (none of it remains)"
    shown = "; ".join(rects[:SHOWN_RECTS])
    if len(rects) > SHOWN_RECTS:
        shown += f"; {len(rects) - SHOWN_RECTS} more"
    return text + f" in {len(rects)} area{'s' if len(rects) > 1 else ''} ({shown})"


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
        return (
            f"Base: {origin} plate imported by {person} (human-made, no AI){_credit_text(action)}"
        )
    if role == "inpaint":
        if "org.bgart.share" in params:  # where its pixels remain; the mask box apart
            box = _mapping(params.get("org.bgart.mask"))
            mask = f" (mask {_rect_text({'origin': box, **box})})" if box else ""
            return f"AI inpaint: {model}, mask drawn by {person}{mask}{_credit_text(action)}"
        return f"AI inpaint: {model}, mask drawn by {person}{_bbox_text(action)}"
    if role == "refine":
        if "org.bgart.share" in params:
            return f"AI refine: {model}, requested by {person}{_credit_text(action)}"
        return f"AI refine: {model}, requested by {person}{_bbox_text(action)}"
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
        if "org.bgart.painted_plate" in params:  # a variant's paint kept from its parent
            extra += (
                f"; on plate '{_text(params['org.bgart.painted_plate'])}' "
                f"v{_whole(params.get('org.bgart.painted_version', '?'))}, kept by this variant"
            )
        if "org.bgart.share" in params:
            return f"Retouch: {person} (hand-painted{extra}){_credit_text(action)}"
        return f"Retouch: {person} (hand-painted{extra}){_bbox_text(action)}"
    if role == "adjust":
        return f"Levels/colour: {person} (technical edit, not counted as authorship)"
    if role == "opened":
        if "org.bgart.share" not in params:
            return None
        return f"Base paint by {person} kept in the retouched plate{_credit_text(action)}"
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
    roles = {
        _text(a.get("name")): ", ".join(_text(r) for r in _items(a.get("roles")))
        for a in _items(credentials.get("author_roles"))
        if isinstance(a, dict)
    }
    if people:
        lines.append(
            "  Authors: "
            + ", ".join(
                _text(n) + (f" ({roles[_text(n)]})" if roles.get(_text(n)) else "") for n in people
            )
        )
    others = [_mapping(c) for c in _items(credentials.get("contributors"))]
    named = [c for c in others if c.get("role") != "approver"]
    if named:
        lines.append(
            "  Also credited: "
            + ", ".join(f"{_text(c.get('name'))} ({_text(c.get('role'))})" for c in named)
        )
    for c in others:
        if c.get("role") == "approver":
            lines.append(f"  Approved by: {_text(c.get('name'))}")
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
