"""End-roll lines: who made the background art, written as anime end credits are.

One heading per role (美術監督, 背景, 背景レタッチ, レイアウト, 背景仕上げ… and AI背景生成 with the
model; English headings that read like an English end roll), the people under it, each
once. The roll carries no percentages (the shares are in the report's tables), names the
approver under their production role (the art director by default), and credits a person
only for work still visible in the plate: a stroke fully undone or painted over, an inpaint
mask or a levels pass that was reverted earns no roll credit (the report's history still
lists it). Headings are configurable per production in bgart.toml::

    [credits.headings]
    approval = "美術監督"
    retouch = "背景仕上げ"

    [credits.headings_en]
    retouch = "Background Finishing"

:func:`credit_lines` writes a scope's lines, :func:`plate_credit_lines` one plate's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bgart.credits.model import (
    ROLL_HEADINGS_EN,
    ROLL_HEADINGS_JA,
    ROLL_ORDER,
    Contributor,
    ModelUse,
    PersonCredit,
    PlateCredit,
)
from bgart.errors import InputError

#: Roles whose credit needs pixels of the person's still in the plate.
_PAINT_ROLES = ("background", "retouch")


@dataclass(frozen=True)
class Headings:
    """The end roll's role headings (Japanese and English) for one production."""

    ja: Mapping[str, str] = field(default_factory=lambda: dict(ROLL_HEADINGS_JA))
    en: Mapping[str, str] = field(default_factory=lambda: dict(ROLL_HEADINGS_EN))

    @classmethod
    def from_settings(cls, settings: object) -> Headings:
        """The defaults with the production's ``[credits.headings]`` (Japanese) and
        ``[credits.headings_en]`` over them; an unknown role or an empty heading is an
        error naming the setting."""
        ja = dict(ROLL_HEADINGS_JA)
        en = dict(ROLL_HEADINGS_EN)
        for table, target in (("headings", ja), ("headings_en", en)):
            given = getattr(settings, f"credit_{table}", None) or {}
            for role, text in given.items():
                where = f"bgart.toml [credits.{table}] {role}"
                if role not in target:
                    raise InputError(f"{where}: not a role ({', '.join(ROLL_ORDER)})")
                if not isinstance(text, str) or not text.strip():
                    raise InputError(f"{where}: give the heading as non-empty text")
                target[role] = " ".join(text.split())
        return cls(ja, en)

    @classmethod
    def of_report(cls, headings: Mapping[str, Mapping[str, str]] | None) -> Headings:
        """The headings a report was built with (its ``headings``), over the defaults."""
        given = headings or {}
        return cls(
            {**ROLL_HEADINGS_JA, **dict(given.get("ja") or {})},
            {**ROLL_HEADINGS_EN, **dict(given.get("en") or {})},
        )


DEFAULT_HEADINGS = Headings()


def roll_roles(p: PlateCredit) -> dict[str, set[str]]:
    """Who the end roll credits on plate ``p``, by role: only work still in the plate
    (paint with pixels left, masks and levels passes in its lineage, the approver now)."""
    out: dict[str, set[str]] = {}
    for c in p.contributors:
        roles = out.setdefault(c.name, set())
        for role in c.roles:
            if role in _PAINT_ROLES:
                if c.painted_px > 0:
                    roles.add(role)
            elif role == "inpaint_direction":
                if c.masks > 0:
                    roles.add(role)
            elif role == "adjustment":
                if c.name in p.adjusted_by:
                    roles.add(role)
            else:
                roles.add(role)
    return {name: roles for name, roles in out.items() if roles}


def ai_names(models: Sequence[ModelUse]) -> list[str]:
    """How the roll names the AI of one plate: each model that made pixels, the generating
    model with the production LoRAs it ran with (\"anime-sd15 + bg-style\"); ControlNets are
    in the report's model table, not on the roll."""
    loras = [m.name for m in models if m.role == "lora"]
    out = []
    for m in models:
        if m.role in ("controlnet", "lora"):
            continue
        out.append(" + ".join([m.name, *loras]) if m.role == "generation" and loras else m.name)
    return out


def _models_once(models: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(m for m in models if m))


def credit_lines(
    people: Sequence[PersonCredit | Contributor],
    models: Sequence[str],
    credited: Mapping[str, set[str]],
    headings: Headings = DEFAULT_HEADINGS,
) -> tuple[str, str, str]:
    """(English, Japanese, bilingual) end-roll lines.

    ``people`` in the order the roll names them (painters by painted pixels come first in
    a ranking); ``credited`` the roles each person earns on the roll (:func:`roll_roles`);
    a role nobody holds is left out; AI is named by model, each model once, never as an
    anonymous "AI (+Human)"."""
    order = {p.name: i for i, p in enumerate(people)}
    painters = sorted(
        (p for p in people if set(_PAINT_ROLES) & credited.get(p.name, set())),
        key=lambda p: (-round(p.painted_px, 6), order[p.name]),
    )
    blocks: list[tuple[str, list[str]]] = []
    for role in ROLL_ORDER:
        if role == "ai":
            names = _models_once(models)
        else:
            pool = painters if role in _PAINT_ROLES else people
            names = list(dict.fromkeys(p.name for p in pool if role in credited.get(p.name, ())))
        if names:
            blocks.append((role, names))
    blocks = _same_heading_once(blocks, headings)
    if not any(role != "ai" for role, _ in blocks):
        blocks.insert(0, ("none", []))
    en: list[str] = []
    ja: list[str] = []
    both: list[str] = []
    for role, names in blocks:
        if role == "none":
            en.append("no human contributor recorded")
            ja.append("人の参加の記録なし")
            both.append("人の参加の記録なし / no human contributor recorded")
            continue
        en.append(f"{headings.en[role]}: {', '.join(names)}")
        ja.append(f"{headings.ja[role]}：{'、'.join(names)}")
        both.append(f"{headings.ja[role]} / {headings.en[role]}：{'、'.join(names)}")
    return "; ".join(en), "／".join(ja), "／".join(both)


def _same_heading_once(
    blocks: list[tuple[str, list[str]]], headings: Headings
) -> list[tuple[str, list[str]]]:
    """Roles under one heading (approval and art board are both the art director's, 美術監督)
    as one block, at the first one's place, each name once."""
    out: list[tuple[str, list[str]]] = []
    seen: dict[tuple[str, str], int] = {}
    for role, names in blocks:
        key = (headings.ja.get(role, role), headings.en.get(role, role))
        if role != "ai" and key in seen:
            first = out[seen[key]]
            first[1].extend(n for n in names if n not in first[1])
            continue
        seen[key] = len(out)
        out.append((role, list(names)))
    return out


def plate_credit_lines(
    p: PlateCredit, headings: Headings = DEFAULT_HEADINGS
) -> tuple[str, str, str]:
    """One plate's end-roll lines (English, Japanese, bilingual)."""
    return credit_lines(p.contributors, ai_names(p.models), roll_roles(p), headings)
