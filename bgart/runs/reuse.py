"""兼用 (a layout reused across cuts): found by perceptual hash, offered, taken with --reuse.

A cut's layout is compared with the layouts of the cuts whose plate is accepted: a 64-bit
difference hash (dHash: a 9x8 grey thumbnail, one bit per horizontal neighbour pair,
"is the right one brighter") survives a rescan, a resave and small level changes of the
same drawing, and differs in many bits between different drawings. Two layouts within the
production's distance (bgart.toml ``[artboard] reuse_distance``, bits of 64) are the same
layout.

The batch says so for each pending cut (``EP01_C012 reuses EP01_C003's layout: reuse
accepted plate? (--reuse)``) and renders it as usual; run with ``--reuse`` it records
``plate.reused`` instead (the cut's credits are the source plate's), writes the accepted
plate as the cut's ``v1.png`` and does not render it. A cut that reuses a plate stays
reused on later runs (``--force`` renders it again).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bgart.errors import BgartError, InputError
from bgart.fsutil import atomic_write_bytes
from bgart.images import open_image

HASH_SIDE = 8


def dhash(image: Image.Image) -> int:
    """The 64-bit difference hash of an image (see the module's docstring)."""
    grey = image.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.Resampling.LANCZOS)
    a = np.asarray(grey, dtype=np.int16)
    bits = (a[:, 1:] > a[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def distance(a: int, b: int) -> int:
    """Bits in which two hashes differ (0: the same layout)."""
    return (a ^ b).bit_count()


@dataclass(frozen=True)
class Offer:
    """A pending cut whose layout is an accepted cut's."""

    shot: str
    source_shot: str
    source_version: int
    image_sha: str
    distance: int

    @property
    def question(self) -> str:
        return (
            f"{self.shot} reuses {self.source_shot}'s layout (兼用, dHash distance "
            f"{self.distance}): reuse accepted plate? (--reuse)"
        )


def _accepted(project: Any) -> list[tuple[str, int, str, int]]:
    """(shot, accepted version, its image sha256, its layout's dHash) of every cut whose
    main plate is accepted and whose layout the ledger holds."""
    from bgart import plates

    out = []
    for code in plates.shot_codes(project):
        try:
            version = plates.accepted_version(project, code)
        except InputError:
            continue
        layout = plates.shot_layout(project, code)
        versions = {v.number: v for v in plates.plate_versions(project, code)}
        if layout is None or version not in versions:
            continue
        try:
            h = dhash(open_image(layout, mode=None, name=f"layout of {code}"))
        except BgartError:
            continue
        out.append((code, version, versions[version].image_sha, h))
    return out


def offers(project: Any, shots: Sequence[Any], max_distance: int) -> dict[str, Offer]:
    """The reuse offer of each of ``shots`` (inputs Shot) whose layout is within
    ``max_distance`` of an accepted cut's layout (the nearest such cut)."""
    sources = _accepted(project)
    out: dict[str, Offer] = {}
    if not sources:
        return out
    for shot in shots:
        try:
            h = dhash(open_image(shot.layout, mode=None, name=str(shot.layout)))
        except BgartError:
            continue
        near = sorted(
            (distance(h, sh), code, v, sha) for code, v, sha, sh in sources if code != shot.id
        )
        if near and near[0][0] <= max_distance:
            d, code, v, sha = near[0]
            out[shot.id] = Offer(shot.id, code, v, sha, d)
    return out


def settle(
    project: Any,
    pending: Sequence[Any],
    opts: Any,
    settings: Any,
    say: Callable[[str], None],
    is_main: bool,
) -> tuple[list[Any], dict[str, Any]]:
    """The pending plans (batch ShotPlan) left to render, and what the batch's summary
    says about 兼用 (``reuse_offers``, ``reused``), by ``opts`` (BatchOptions: ``reuse``,
    ``force``). Every process of a launched batch decides alike; the main one records and
    writes."""
    from bgart import plates

    already = {} if opts.force else plates.reused_shots(project)
    found = offers(
        project,
        [p.shot for p in pending if p.shot.id not in already],
        settings.artboard_reuse_distance,
    )
    left, notes = [], {"reuse_offers": {}, "reused": {}}
    for plan in pending:
        shot = plan.shot
        if shot.id in already:
            notes["reused"][shot.id] = already[shot.id].source_shot
            continue
        offer = found.get(shot.id)
        if offer is None:
            left.append(plan)
        elif not opts.reuse:
            notes["reuse_offers"][shot.id] = offer.source_shot
            if is_main:
                say(offer.question)
            left.append(plan)
        else:
            notes["reused"][shot.id] = offer.source_shot
            if is_main:
                take(project, plan, offer)
                say(f"{shot.id}: reuses {offer.source_shot}'s accepted plate (兼用)")
    return left, notes


def take(project: Any, plan: Any, offer: Offer) -> None:
    """Record the reuse (the cut's layout, credited to its artist, then ``plate.reused``)
    and write the accepted plate as the cut's ``v1.png``."""
    from bgart import plates
    from bgart.images import read_user_file

    shot = plan.shot
    layout = read_user_file(shot.layout, str(shot.layout))
    plates.record_layout(project, shot.id, layout, shot.layout_artist, filename=shot.layout.name)
    plates.record_reuse(
        project,
        shot.id,
        offer.source_shot,
        plates.PLATE,
        offer.source_version,
        offer.distance,
        _who(),
    )
    png = project.blobs.get(offer.image_sha)
    if png is not None:
        Path(plan.folder).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(plan.folder) / "v1.png", png)


def _who() -> str:
    """The person running the batch (the OS user), who decided the reuse."""
    try:
        name = getpass.getuser().strip()
    except (OSError, KeyError):
        name = ""
    return name or "production"
