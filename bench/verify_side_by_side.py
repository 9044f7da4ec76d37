"""``ledger verify`` of the 100k-event bench ledger, by two source trees side by side.

One ledger is built (bench/provenance.py's ``build_ledger``: a 40-event history cloned onto
2 500 shots), then verified with every raster recomputed (``--fresh``, default workers) by
this tree and by another (``--old DIR``: e.g. ``git archive HEAD | tar -x -C DIR``), each in
a fresh process, alternately, so that a slow spell of a shared machine hits both.

    python bench/verify_side_by_side.py --old /tmp/old-tree [--events 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

_RUN = (
    "import sys, time; from pathlib import Path; from bgart.ledger import Project; "
    "from bgart.verify import verify_project; p = Project.open(Path(sys.argv[1])); "
    "t = time.perf_counter(); r = verify_project(p); "
    "print(time.perf_counter() - t, r.replayed)"
)


def _verify(tree: Path, project: Path) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(project)],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    from provenance import _read_blob_files, build_ledger

    from bgart.ledger import Project

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": HERE.parent}
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        start = time.perf_counter()
        with Project.init(root) as project:
            build_ledger(project, args.events)
            print(f"built {project.ledger.count()} events in {time.perf_counter() - start:.0f} s")
            times: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    _read_blob_files(project)  # both start with the files in the page cache
                    seconds, replayed = _verify(tree, root)
                    times[name].append(seconds)
                    print(f"  {name}: {seconds * 1000:.0f} ms ({replayed} versions replayed)")
    print("ledger verify --fresh (default workers), best / median:")
    for name, t in times.items():
        print(f"  {name:<4} {min(t) * 1000:7.0f} / {statistics.median(t) * 1000:7.0f} ms")
    print(f"  new / old (best) = {min(times['new']) / min(times['old']):.3f}")


if __name__ == "__main__":
    main()
