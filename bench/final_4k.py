"""Recording a whole *final* (``import-final``) on a 3840×2160 plate with ten earlier versions.

A final compares its pixels with the plate's earlier versions (docs/contribution.md, v2 point
8: a return to an earlier version's value takes that version's provenance), so it costs more
than a paint act (bench/act_4k.py). The history: an AI plate, then three soft brushes over
10 % of the plate and six local retouches (300×200 px), interleaved: ten versions
(``--history local``: nine local retouches, no plate-wide brush). Then, each
in a fresh process (as ``bgart ledger import-final`` runs: nothing decoded yet, nothing
deflated yet) on its own copy of that project, one of:

* a local retouch: the current version with one more 300×200 px patch (the common final);
* a quarter repainted: the current version with its top quarter inverted;
* version 1 handed back: the AI plate, unchanged, over all that paint (cover-then-restore).

The time is ``bgart.plates.record_final`` of the final's pixels (no file decode), as
act_4k.py times ``record_paint``. Sides alternate run by run. With ``--warm`` the process first
holds what a studio session that just recorded the last act holds: the last four versions
decoded (``project.cache``) and the current version's PNG and raster pieces deflated.

    python bench/final_4k.py --old /tmp/old      # another source tree vs this one, e.g.
                                                 # git worktree add /tmp/old REV
    python bench/final_4k.py                     # this tree alone
    python bench/final_4k.py --repeats 3         # runs per side and case (default 3)
    python bench/final_4k.py --warm              # as in a studio session (see above)
    python bench/final_4k.py --history local     # a history of local retouches only
    python bench/final_4k.py --no-returns        # the final alone: no earlier version read

The last lines check that each side recorded the same pixels, raster and returned pixels.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _common import machine, run_in_tree  # noqa: E402  (after the path set-up above)

GOAL_S = 0.5
CASES = ("local retouch", "quarter repainted", "version 1 handed back")

# One run: the tree's bgart (PYTHONPATH) records one final on a copy of the history project.
_RUN = """
import hashlib, json, sys, time
from pathlib import Path
import numpy as np
from bgart import plates as wf
from bgart.ledger import Project
from bgart.plates.pixels import decode_blob
from bgart.provenance import Raster
root, final, warm = Path(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3] == "warm"
if sys.argv[4] == "none":  # no earlier version consulted: what the final itself costs
    import bgart.provenance
    bgart.provenance.restore_window = lambda current: []
with Project.open(root) as project:
    if warm:  # what the studio holds after the last act: see the module docstring
        from bgart.images import encode_png
        history = wf.PlateHistory.load(project, "s")
        for pv in history.versions[-4:]:
            state = history.state(pv.number)
        encode_png(np.ascontiguousarray(state.image)), state.raster.to_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    rec = wf.record_final(project, "s", final, "coordinator")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    with project.ledger.write() as tx:
        cur = tx.current_version(tx.plate("s", "main"))
    image = decode_blob(project.blobs.get(cur.image_sha), "RGB", "final")
    raster = Raster.from_bytes(project.blobs.get(cur.raster_sha))
digest = hashlib.sha256(image.tobytes())
for plane in (raster.cls, raster.human, raster.flags, raster.base):
    digest.update(np.ascontiguousarray(plane).tobytes())
print(json.dumps({"wall": wall, "cpu": cpu, "digest": digest.hexdigest(),
                  "returned": rec.stats.get("returned_px", 0)}))
"""


def _history(work: Path, local: bool) -> dict[str, Path]:
    """The history project (built by this tree) and the three finals, as .npy files."""
    import numpy as np
    from provenance import H4K, W4K, _image, _record, brush_layer, local_patch, natural_4k

    from bgart import plates as wf
    from bgart.generation import png_bytes
    from bgart.ledger import Project
    from bgart.plates.pixels import decode_blob

    rng = np.random.default_rng(0)
    plate = natural_4k()
    with Project.init(work / "history") as project:
        record = _record(W4K, H4K)
        wf.record_generated(project, "s", png_bytes(_image(plate), record), record)
        for i in range(9):
            layer = brush_layer(rng, 0.1) if i % 3 == 0 and not local else local_patch(rng)
            wf.record_paint(project, "s", layer, "artist")
        with project.ledger.write() as tx:
            cur = tx.current_version(tx.plate("s", "main"))
        current = decode_blob(project.blobs.get(cur.image_sha), "RGB", "current").copy()
    retouch = current.copy()
    retouch[900:1100, 1700:2000] = (200, 120, 60)
    quarter = current.copy()
    quarter[: H4K // 4] = 255 - quarter[: H4K // 4]
    finals = {}
    for case, arr in zip(CASES, (retouch, quarter, plate), strict=True):
        finals[case] = work / f"{CASES.index(case)}.npy"
        np.save(finals[case], arr)
    return finals


def _run(tree: Path, work: Path, final: Path, warm: bool, returns: bool) -> dict[str, object]:
    copy = work / "run"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(work / "history", copy)
    args = [str(copy), str(final), "warm" if warm else "cold", "all" if returns else "none"]
    return run_in_tree(tree, _RUN, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per side and case")
    parser.add_argument("--old", type=Path, help="another source tree, timed against this one")
    parser.add_argument("--warm", action="store_true", help="as in a studio session")
    parser.add_argument("--history", choices=("mixed", "local"), default="mixed")
    parser.add_argument("--no-returns", action="store_true", help="consult no earlier version")
    args = parser.parse_args()
    sides = {"new": HERE.parent}
    if args.old is not None:
        sides = {"old": args.old.resolve(), "new": HERE.parent}
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        finals = _history(work, args.history == "local")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        runs: dict[str, dict[str, list[dict[str, object]]]] = {
            s: {c: [] for c in CASES} for s in sides
        }
        for _rep in range(args.repeats):
            for case in CASES:
                for side, tree in sides.items():
                    run = _run(tree, work, finals[case], args.warm, not args.no_returns)
                    runs[side][case].append(run)
    names = list(sides)
    where = "in a warm studio process" if args.warm else "each in a fresh process"
    if args.no_returns:
        where += ", consulting no earlier version"
    print(
        f"record_final on a 3840x2160 plate with 10 earlier versions ({args.history} history), "
        f"{where}, "
        f"{args.repeats} runs per side, wall best / median, CPU median (goal ≤ {GOAL_S} s):"
    )
    for case in CASES:
        cells, walls = "", {}
        for s in names:
            wall = [float(r["wall"]) for r in runs[s][case]]  # type: ignore[arg-type]
            cpu = [float(r["cpu"]) for r in runs[s][case]]  # type: ignore[arg-type]
            walls[s] = wall
            cells += (
                f"   {s} {min(wall) * 1000:5.0f} / {statistics.median(wall) * 1000:5.0f} ms "
                f"(CPU {statistics.median(cpu) * 1000:5.0f})"
            )
        ratio = ""
        if len(names) > 1:
            old, new = walls[names[0]], walls[names[1]]
            ratio = (
                f"   old / new = {min(old) / min(new):.2f}x best, "
                f"{statistics.median(old) / statistics.median(new):.2f}x median"
            )
        verdict = "ok" if statistics.median(walls[names[-1]]) <= GOAL_S else "OVER"
        print(f"  {case:<24}{cells}{ratio}  {verdict}")
    for case in CASES:
        seen = {(str(r["digest"]), r["returned"]) for s in names for r in runs[s][case]}
        returned = next(iter(seen))[1]
        verdict = "identical" if len(seen) == 1 else "DIFFERENT"
        print(f"  {case}: pixels, raster and returned pixels ({returned}) {verdict} on every run")


if __name__ == "__main__":
    main()
