"""Batch scaling with the tiny random-weight model (CPU): cost vs shots, and processes.

    python bench/batch_scaling.py                 # the figures in bench/RESULTS.md
    python bench/batch_scaling.py --sizes 1,4 --mp-shots 8 --px 64   # quicker
    python bench/batch_scaling.py --skip-part1 --skip-part2 --overlap  # part 3 alone

Part 1 (in one process, 1 torch thread): `run_batch` on N = 1, 4, 16 shots, each into a
fresh project. Shows that the model is loaded once per run whatever N is, and that the
cost is linear in N: the per-shot cost and the marginal cost per added shot stay flat.

Part 2 (real processes): the same list of ≥ 8 shots rendered by `bgart batch` as one
process and as two under `accelerate launch --multi_gpu --num_processes 2` (CPU workers,
1 torch thread each), compared on the render phase's shots/s as printed by the batch
(models loaded → every rank finished). The goal for GPUs is N processes ≥ 0.9·N× one
process; CPU processes are the stand-in here. A one-process run with as many threads as
processes is shown too: it is what a single process could do with the same cores.

Part 3 (``--overlap``): writes (PNG deflate, hashes, ledger) of shot k on a thread while
shot k+1 renders, against one after the other, side by side in one process.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LAYOUTS = ["street.png", "interior.png", "countryside.jpg", "riverside_pan.png"]
PRESETS = ["street", "interior", "countryside", "night"]


def build_models(work: Path) -> dict[str, str]:
    """Tiny SD1.5 + ControlNet, pulled into a store; the env that points bgart at them."""
    from bgart.generation import WeightsLock, build_tiny_models, pull

    root = work / "tiny"
    root.mkdir()
    build_tiny_models(root, "sd15")
    store = work / "store"
    pull(WeightsLock.load(root / "weights.lock"), store, "tiny-sd15", say=lambda _m: None)
    return {
        "BGART_WEIGHTS_LOCK": str(root / "weights.lock"),
        "BGART_MODEL_STORE": str(store),
        "BGART_MODEL": "tiny-sd15",
        "HF_HUB_OFFLINE": "1",
    }


def write_list(folder: Path, n: int, px: int, variations: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "layouts").mkdir()
    for name in LAYOUTS:
        shutil.copy(EXAMPLES / "layouts" / name, folder / "layouts" / name)
    rows = ["shot,layout,prompt,preset,width,height,variations,layout_artist"]
    for i in range(n):
        k = i % len(LAYOUTS)
        rows.append(
            f"EP01_C{i + 1:03d},layouts/{LAYOUTS[k]},background {i},{PRESETS[k]},"
            f"{px},{px},{variations},Sato"
        )
    path = folder / "shots.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def part1(work: Path, sizes: list[int], px: int, steps: int, variations: int) -> list[str]:
    import torch

    from bgart.generation import Engine
    from bgart.runs.batch import BatchOptions, run_batch

    torch.set_num_threads(1)
    loads: list[float] = []

    def loader(settings, say):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        engine = Engine.load(settings)
        loads.append(time.perf_counter() - t)
        return engine

    def one(n: int, tag: str) -> tuple[float, float, int, float, float]:
        shot_list = write_list(work / f"p1-{tag}" / "list", n, px, variations)
        before = len(loads)
        t, cpu = time.perf_counter(), time.process_time()
        summary = run_batch(
            BatchOptions(shot_list=shot_list, project=work / f"p1-{tag}" / "proj", steps=steps),
            engine_factory=loader,
        )
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        assert summary.ok and len(summary.rendered) == n
        return wall, summary.render_seconds, len(loads) - before, loads[-1], cpu

    one(1, "warmup")  # imports, first-call setup: not measured
    rows = []
    for n in sizes:
        rows.append((n, *one(n, str(n))))
    ref = rows[-1][2] / rows[-1][0]
    lines = [
        f"In-process `run_batch`, tiny SD1.5 + ControlNet, {px}×{px}, {steps} steps, "
        f"{variations} variations per shot (one batched call), 1 torch thread.",
        "",
        "| shots N | model loads | load s | wall s | render s | render s/shot | "
        f"per-shot cost ÷ N={rows[-1][0]} | CPU s (run) | CPU s/shot |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, wall, render, n_loads, load_s, cpu in rows:
        lines.append(
            f"| {n} | {n_loads} | {load_s:.2f} | {wall:.2f} | {render:.2f} | "
            f"{render / n:.3f} | {render / n / ref:.2f} | {cpu:.2f} | {cpu / n:.3f} |"
        )
    if len(rows) >= 3:
        (n1, _, r1, _, _, c1), (n2, _, r2, _, _, c2), (n3, _, r3, _, _, c3) = rows[:3]
        m1, m2 = (r2 - r1) / (n2 - n1), (r3 - r2) / (n3 - n2)
        k1, k2 = (c2 - c1) / (n2 - n1), (c3 - c2) / (n3 - n2)
        lines += [
            "",
            f"Marginal cost per added shot, wall: {m1:.3f} s (N {n1}→{n2}), "
            f"{m2:.3f} s (N {n2}→{n3}), ratio {m2 / m1:.2f}; CPU time: {k1:.3f} s, "
            f"{k2:.3f} s, ratio {k2 / k1:.2f} (1.00 = perfectly linear; CPU time is "
            "not skewed by other work on the machine).",
        ]
    return lines


def part3(work: Path, shots: int, px: int, steps: int, variations: int, repeats: int) -> list[str]:
    """Shot k written and recorded on a thread while shot k+1 renders, vs one after the
    other (``overlap_writes``), alternating in one process with 1 torch thread: the render
    keeps one core busy and the writes may use the other, as on a GPU machine where the
    render leaves the CPU nearly idle."""
    import torch

    from bgart.generation import Engine
    from bgart.runs.batch import BatchOptions, run_batch

    torch.set_num_threads(1)
    engine: list[Engine] = []

    def loader(settings, say):  # type: ignore[no-untyped-def]
        if not engine:
            engine.append(Engine.load(settings))
        return engine[0]

    times: dict[str, list[float]] = {"1": [], "0": []}
    for r in range(repeats + 1):  # the first round warms up and is not counted
        for flag in ("1", "0") if r % 2 else ("0", "1"):
            os.environ["BGART_OVERLAP_WRITES"] = flag
            folder = work / f"p3-{r}-{flag}"
            shot_list = write_list(folder / "list", shots, px, variations)
            summary = run_batch(
                BatchOptions(
                    shot_list=shot_list, project=folder / "proj", steps=steps, contact_sheet=False
                ),
                engine_factory=loader,
            )
            assert summary.ok and len(summary.rendered) == shots
            if r:
                times[flag].append(summary.render_seconds)
            shutil.rmtree(folder)
    os.environ.pop("BGART_OVERLAP_WRITES", None)
    on, off = min(times["1"]), min(times["0"])
    return [
        f"Writes behind the next render (`overlap_writes`), in-process `run_batch`, {shots} "
        f"shots, {px}×{px}, {steps} steps, {variations} variations per shot, 1 torch "
        f"thread; best of {repeats} alternating runs, render phase:",
        "",
        "| one after the other | overlapped | one after the other ÷ overlapped |",
        "|---|---|---|",
        f"| {off:.2f} s | {on:.2f} s | **{off / on:.2f}×** |",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


RENDER = re.compile(r"render phase: (\d+) shot\(s\) in ([\d.]+) s \(([\d.]+) shots/s")


def children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_cli(cmd: list[str], env: dict[str, str]) -> tuple[float, int, float, float, float]:
    t, cpu = time.perf_counter(), children_cpu()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    wall, cpu = time.perf_counter() - t, children_cpu() - cpu
    out = res.stdout + res.stderr
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}\n{out[-3000:]}")
    m = RENDER.search(out)
    assert m, out
    return wall, int(m.group(1)), float(m.group(2)), float(m.group(3)), cpu


def part2(
    work: Path, env: dict[str, str], shots: int, px: int, steps: int, variations: int, procs: int
) -> list[str]:
    base = {**os.environ, **env}
    base.pop("BGART_CPU_THREADS", None)
    py = [sys.executable, "-m", "bgart.cli"]
    accelerate = str(Path(sys.executable).parent / "accelerate")
    configs = [
        ("1 process × 1 thread", py, {"BGART_CPU_THREADS": "1"}),
        (f"1 process × {procs} threads", py, {"BGART_CPU_THREADS": str(procs)}),
        (
            f"{procs} processes × 1 thread (accelerate launch --multi_gpu)",
            [
                accelerate,
                "launch",
                "--multi_gpu",
                "--num_processes",
                str(procs),
                "--num_machines",
                "1",
                "--mixed_precision",
                "no",
                "--dynamo_backend",
                "no",
                "--main_process_port",
                "PORT",
                "-m",
                "bgart.cli",
            ],
            {},
        ),
    ]
    results = []
    for i, (label, prefix, extra) in enumerate(configs):
        shot_list = write_list(work / f"p2-{i}" / "list", shots, px, variations)
        cmd = [str(free_port()) if a == "PORT" else a for a in prefix]
        cmd += [
            "batch",
            str(shot_list),
            "--project",
            str(work / f"p2-{i}" / "proj"),
            "--steps",
            str(steps),
            "--cpu",
        ]
        load = os.getloadavg()[0]  # other work on the machine skews every figure below
        results.append((label, *run_cli(cmd, {**base, **extra}), load))
    one = results[0][4]
    lines = [
        f"`bgart batch` as real processes, {shots} shots, {px}×{px}, {steps} steps, "
        f"{variations} variations per shot; shots/s over the render phase.",
        "",
        "| configuration | end-to-end wall s | render s | shots/s | × one process | "
        "CPU s, all processes | load avg before |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, wall, _n, render, rate, cpu, load in results:
        lines.append(
            f"| {label} | {wall:.1f} | {render:.2f} | {rate:.3f} | "
            f"{rate / one:.2f}× | {cpu:.1f} | {load:.2f} |"
        )
    mp = results[-1][4] / one
    lines += [
        "",
        f"{procs} processes vs one (1 thread each): **{mp:.2f}×** "
        f"(goal ≥ {0.9 * procs:.1f}×: {'met' if mp >= 0.9 * procs else 'not met'}).",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,4,16")
    ap.add_argument("--mp-shots", type=int, default=16)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--px", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--variations", type=int, default=4)
    ap.add_argument("--skip-part1", action="store_true", help="no cost-vs-shots part")
    ap.add_argument("--skip-part2", action="store_true", help="no process scaling")
    ap.add_argument(
        "--overlap",
        action="store_true",
        help="also part 3: writes overlapped with the next render, or not",
    )
    ap.add_argument("--overlap-px", type=int, default=512)
    ap.add_argument("--overlap-repeats", type=int, default=3)
    ap.add_argument(
        "--overlap-steps",
        type=int,
        default=2,
        help="few steps: a CPU render as short as a GPU one, next to the writes",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bgart-bench-"))
    try:
        env = build_models(work)
        os.environ.update(env)
        os.environ["BGART_CPU_THREADS"] = "1"
        sizes = [int(s) for s in args.sizes.split(",")]
        import torch

        header = [
            f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs visible, torch {torch.__version__}, Python "
            f"{platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            "",
        ]
        lines = list(header)
        if not args.skip_part1:
            lines += [*part1(work, sizes, args.px, args.steps, args.variations), ""]
        if not args.skip_part2:
            lines += [
                *part2(work, env, args.mp_shots, args.px, args.steps, args.variations, args.procs),
                "",
            ]
        if args.overlap:
            lines += part3(
                work, 4, args.overlap_px, args.overlap_steps, args.variations, args.overlap_repeats
            )
        print("\n".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
