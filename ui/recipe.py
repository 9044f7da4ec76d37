"""What a shot was rendered from, read back from the ledger: the recipe (prompt, preset,
seed, variations, size) of its latest generation and the variations recorded for it.

A plain ``bgart ui`` on a project the batch rendered has no shot list in memory: without
this the page showed an empty prompt and the derived seed, and none of the batch's
variations to pick from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from bgart import plates as workflow
from bgart.events import AiGenerated, Kind
from bgart.images import open_image
from bgart.ledger import Project

if TYPE_CHECKING:
    from bgart.inputs import Shot

    from .handlers import Studio


@dataclass(frozen=True)
class Recipe:
    """The inputs of a shot's latest generation (the prompt as the artist wrote it)."""

    prompt: str
    preset: str | None
    seed: int
    variations: int
    width: int
    height: int


@dataclass(frozen=True)
class RecordedCandidate:
    number: int
    seed: int
    image: Image.Image
    current: bool  # the plate's latest version started from this candidate


def shot_prompt(prompt: str, preset_positive: str | None) -> str:
    """The shot's own words of a composed prompt (``compose`` puts them first, then the
    preset's style; a prompt that does not end with the style is shown whole)."""
    style = (preset_positive or "").strip().strip(",").strip()
    if style and prompt.endswith(style):
        return prompt[: -len(style)].rstrip().rstrip(",").strip() or prompt
    return prompt


def _style_of(prompts_dir: Path, preset: str | None) -> str | None:
    if not preset:
        return None
    from bgart.errors import BgartError
    from bgart.inputs import get_preset

    try:
        return get_preset(prompts_dir, preset).positive
    except BgartError:  # a preset since removed: the prompt is shown whole
        return None


def batch_recipe(project: Project, shot: str, prompts_dir: Path) -> Recipe | None:
    """The recipe of the shot's latest ``ai.generated`` (None: never generated)."""
    events = project.ledger.events(shot=shot, plate=workflow.PLATE, kinds=(Kind.AI_GENERATED,))
    if not events:
        return None
    record = events[-1].typed(AiGenerated).record
    seeds = [int(s) for s in record.get("seeds") or [0]]
    first = seeds[0] if seeds else 0
    preset = record.get("preset")
    return Recipe(
        prompt=shot_prompt(str(record.get("prompt") or ""), _style_of(prompts_dir, preset)),
        preset=preset,
        seed=first,
        variations=max(1, len(seeds)),
        width=int(record.get("width") or 0),
        height=int(record.get("height") or 0),
    )


def recorded_candidates(project: Project, shot: str, limit: int = 32) -> list[RecordedCandidate]:
    """The shot's recorded variations (the newest ``limit``), oldest first, the one the
    current plate started from marked."""
    events = project.ledger.events(shot=shot, plate=workflow.PLATE, kinds=(Kind.AI_GENERATED,))
    versions = workflow.plate_versions(project, shot)
    current = versions[-1].source_candidate if versions else None
    out = []
    for ev in events[-limit:]:
        payload = ev.typed(AiGenerated)
        record = payload.record
        seeds = record.get("seeds") or [0]
        index = int(record.get("batch_index") or 0)
        seed = int(seeds[index] if index < len(seeds) else seeds[0])
        image = open_image(
            project.blobs.get(ev.blobs["image"]), mode="RGB", name=f"candidate of {shot}"
        )
        out.append(RecordedCandidate(payload.candidate, seed, image, payload.candidate == current))
    return out


def shot_defaults(
    studio: Studio, code: str, info: Shot | None, max_variations: int
) -> dict[str, Any]:
    """The Generate tab's fields for a shot: from the shot list given to ``bgart ui
    --shots``, else from the shot's latest generation (the batch's recipe), else the
    project's defaults."""
    settings = studio.settings
    if info is not None:
        prompt, preset = info.prompt, info.preset
        seed, variations = info.first_seed(settings.production), info.variations
    elif (recipe := batch_recipe(studio.project, code, settings.prompts_dir)) is not None:
        prompt, preset = recipe.prompt, recipe.preset or settings.default_preset
        seed, variations = recipe.seed, recipe.variations
    else:
        from bgart.inputs import derive_seed

        prompt, preset = "", settings.default_preset
        seed, variations = derive_seed(settings.production, code), settings.variations
    return {
        "prompt": prompt,
        "preset": preset,
        "seed": seed,
        "variations": min(max_variations, variations),
    }


def candidate_gallery(
    project: Project, shot: str
) -> tuple[list[tuple[Image.Image, str]], list[int]]:
    """The Generate tab's variations gallery for a shot just opened: every recorded
    variation (the batch's too), captioned, the one the plate started from marked; and
    their candidate numbers in gallery order (for "Use the selected variation")."""
    cands = recorded_candidates(project, shot)
    items = [
        (c.image, f"#{c.number} · seed {c.seed}" + (" · ★ current plate" if c.current else ""))
        for c in cands
    ]
    return items, [c.number for c in cands]
