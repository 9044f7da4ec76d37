"""``ledger verify`` of an episode-scale project: N plates at 3840×2160, 10 acts each (issue 21
item 5: an episode has 200–350 backgrounds; the figure asked for is 300 plates).

One plate's history is recorded through the acts API on a 4K plate (an AI plate, seven
retouches, an AI fix of a window, a levels adjustment: ten plate versions, then submit and
accept), its act times printed; it is then cloned onto N shots, each with its own blob files
(the same pixels in distinct bytes, as bench/provenance.py does for the 100k bench), and the
whole project is verified with every raster recomputed (``--fresh``), default workers.

    python bench/episode_verify.py --plates 4      # a quick check (a minute or two)
    python bench/episode_verify.py                 # 300 plates (long: see bench/RESULTS.md)

The template plate is smooth (gradients and soft shapes, as a painted background is, not
per-pixel noise): a version's PNG and raster are then a few MB, so 300 plates x 10 versions
fit on this machine's disk (a grainy plate's are ~22 MB each: 130 GB for the episode).
Printed: build time, blob bytes, verify wall and CPU time, per plate version, and the
figure scaled to 300 plates when fewer were built (verify's work is per version: linear).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from provenance import _clone_blobs, _clone_shot, _record

from bgart import plates as wf
from bgart.generation import png_bytes
from bgart.ledger import Project
from bgart.verify import verify_project

W4K, H4K = 3840, 2160
EPISODE = 300


def smooth_plate(seed: int = 0) -> np.ndarray:
    """A 4K plate of gradients and soft shapes (no per-pixel noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H4K, 0:W4K].astype(np.float32)
    out = np.stack([x / W4K * 160 + 40, y / H4K * 140 + 60, (x + y) / (W4K + H4K) * 120 + 70], -1)
    for _ in range(12):  # soft blobs: clouds, trees, shadows
        cx, cy, r = rng.uniform(0, W4K), rng.uniform(0, H4K), rng.uniform(150, 700)
        bump = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
        out += bump * rng.uniform(-60, 60, 3).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _patch(rng: np.random.Generator, w: int, h: int, alpha: int = 255) -> np.ndarray:
    layer = np.zeros((H4K, W4K, 4), np.uint8)
    y, x = int(rng.integers(0, H4K - h)), int(rng.integers(0, W4K - w))
    layer[y : y + h, x : x + w] = (*rng.integers(0, 256, 3), alpha)
    return layer


def record_template(project: Project, shot: str) -> list[float]:
    """Ten plate versions on one 4K plate, then submit and accept; the act times."""
    from PIL import Image

    rng = np.random.default_rng(3)
    plate = smooth_plate()
    times = []

    def timed(fn, *args, **kw):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        out = fn(*args, **kw)
        times.append(time.perf_counter() - start)
        return out

    rec = _record(W4K, H4K)
    timed(wf.record_generated, project, shot, png_bytes(Image.fromarray(plate), rec), rec, "dir")
    for w, h, a in ((400, 300, 255), (900, 500, 160), (300, 200, 255), (1200, 700, 255)):
        timed(wf.record_paint, project, shot, _patch(rng, w, h, a), "bg artist", 60.0)
    state = wf.plate_state(project, shot)
    result = np.array(state.image)
    result[800:1300, 1500:2300] = (result[800:1300, 1500:2300] // 2) + 60
    mask = np.zeros((H4K, W4K), bool)
    mask[800:1300, 1500:2300] = True
    irec = _record(W4K, H4K, mode="inpaint")
    timed(
        wf.record_inpaint,
        project,
        shot,
        png_bytes(Image.fromarray(result), irec),
        mask,
        irec,
        "bg artist",
    )
    for w, h, a in ((500, 400, 255), (250, 250, 200)):
        timed(wf.record_paint, project, shot, _patch(rng, w, h, a), "bg artist", 30.0)
    state = wf.plate_state(project, shot)
    levels = np.clip(state.image.astype(np.int16) * 9 // 8 - 8, 0, 255).astype(np.uint8)
    timed(wf.record_adjust, project, shot, levels, "bg artist", {"op": "levels"})
    timed(wf.record_paint, project, shot, _patch(rng, 600, 300), "bg artist", 30.0)
    project.ledger.add_user("director", "director")
    wf.submit(project, shot, "bg artist")
    wf.accept(project, shot, "director")
    return times


def clone(project: Project, template: str, n_plates: int) -> None:
    """The template shot's history on n_plates - 1 more shots, each with its own blobs."""
    from sqlalchemy import select

    from bgart.ledger import Candidate, PlateVersion

    events = project.ledger.events(shot=template)
    with project.ledger.read() as s:
        versions = list(s.execute(select(PlateVersion)).scalars())
        cands = list(s.execute(select(Candidate)).scalars())
    by_seq_v = {v.event_seq: v for v in versions}
    by_seq_c = {c.event_seq: c for c in cands}
    shas = {sha for ev in events for sha in ev.blobs.values()}
    for i in range(1, n_plates):
        code = f"ep01_c{i:04d}"
        sha_of = _clone_blobs(project, shas, code)
        with project.ledger.write() as tx:
            _clone_shot(tx, code, template, events, by_seq_v, by_seq_c, sha_of)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (verify forks replayers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=EPISODE)
    parser.add_argument("--dir", type=Path, default=None, help="build here (default: a temp dir)")
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, Project.init(Path(tmp) / "p") as proj:
        start = time.perf_counter()
        times = record_template(proj, "ep01_c0000")
        print(
            f"template plate: 10 acts on a {W4K}x{H4K} plate through the acts API, "
            f"{sum(times):.1f} s (per act: best {min(times):.2f} s, median "
            f"{sorted(times)[len(times) // 2]:.2f} s, worst {max(times):.2f} s)"
        )
        clone(proj, "ep01_c0000", args.plates)
        size = sum(p.stat().st_size for p in proj.blobs.root.rglob("*.*"))
        n_events = proj.ledger.count()
        print(
            f"built {args.plates} plates, {n_events} events, {10 * args.plates} plate versions, "
            f"{size / 1e9:.2f} GB of blobs, in {time.perf_counter() - start:.0f} s"
        )
        print(f"load average before verify: {os.getloadavg()[0]:.2f}")
        wall, cpu = time.perf_counter(), _cpu()
        report = verify_project(proj)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        versions = 10 * args.plates
        print(
            f"ledger verify (every raster recomputed, default workers): {wall:.1f} s wall, "
            f"{cpu:.1f} s CPU; {report.replayed} versions replayed, "
            f"{wall / versions * 1000:.0f} ms wall per version"
        )
        if args.plates != EPISODE:
            print(
                f"scaled to {EPISODE} plates ({10 * EPISODE} versions; linear in versions): "
                f"{wall * EPISODE / args.plates / 60:.1f} min wall, "
                f"{cpu * EPISODE / args.plates / 60:.1f} CPU-min"
            )


if __name__ == "__main__":
    main()
