"""End-credit lines: who made the background art, in English, Japanese and both.

:func:`credit_lines` writes the lines of a scope's ranked people (or a plate's
contributors): every credited role names its people, retouch artists with their share of
the pixels, and AI by model name. :func:`plate_credit_lines` is one plate's lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from bgart.credits.model import (
    ROLE_LABELS,
    ROLE_LABELS_JA,
    ROLE_ORDER,
    Contributor,
    PersonCredit,
    PlateCredit,
    natural_key,
)


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
