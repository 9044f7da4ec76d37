"""Correctness of the GPU path on any device, in about a minute: run it first on a lent GPU.

    python bench/gpu_check.py                       # cuda if present, else the CPU in bf16
    python bench/gpu_check.py --json $OUT/check.json

Checks, each printed PASS/FAIL/SKIP (exit 1 if any fails), on the tiny SD1.5 and SDXL models:

  dtypes      every mode in sequence (layout, photo+layout, photo, inpaint, layout) keeps
              every component in the chosen dtype on the chosen device; records say so
  outputs     finite, not black, not flat
  hash        the same request twice in this process gives the same PNG bytes, and a second
              process gives the same bytes (on CUDA outside deterministic mode a difference is
              reported with its size, as the docs' tolerance claim says)
  oom         a real CUDA out-of-memory error, and the memory is back after release_memory
  offload     BGART_OFFLOAD=1: the offload hooks target this process's own device
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, tiny_settings

RESULTS: dict[str, str] = {}


def report(name: str, ok: bool | None, detail: str) -> None:
    word = "SKIP" if ok is None else "PASS" if ok else "FAIL"
    RESULTS[name] = f"{word} {detail}"
    print(f"{word:4} {name:18} {detail}", flush=True)


def _requests(size: int = 64) -> tuple[Any, Any]:
    from PIL import Image, ImageDraw

    layout = Image.new("RGB", (size, size))
    ImageDraw.Draw(layout).line((0, 0, size, size), fill="white", width=3)
    return layout, Image.new("RGB", (size, size), (200, 120, 40))


def _engine(root: Path, arch: str, device: str, dtype: str, **kw: Any) -> Any:
    from bgart.generation import Engine

    settings = tiny_settings(root, arch, device=device, dtype=dtype, **kw)
    return Engine.load(settings)


def plate_hash(root: Path, arch: str, device: str, dtype: str) -> str:
    from bgart.generation import GenerationRequest

    engine = _engine(root, arch, device, dtype)
    layout, _ = _requests()
    req = GenerationRequest(
        prompt="a street", width=64, height=64, seeds=[5], layout=layout, steps=3
    )
    return hashlib.sha256(engine.generate(req)[0].png()).hexdigest()


def check_modes(root: Path, arch: str, device: str, dtype: str) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    from bgart.generation import GenerationRequest, InpaintRequest

    engine = _engine(root, arch, device, dtype)
    layout, photo = _requests()

    def gen(**kw: Any) -> list[Any]:
        req = GenerationRequest(prompt="a street", width=64, height=64, seeds=[5, 6], steps=3, **kw)
        return engine.generate(req)

    mask = Image.new("L", (64, 64))
    ImageDraw.Draw(mask).rectangle((8, 8, 40, 40), fill=255)
    outputs: list[Any] = []
    problems: list[str] = []
    first = gen(layout=layout)
    steps = [
        ("layout", lambda: first),
        ("photo+layout", lambda: gen(layout=layout, photo=photo)),
        ("photo", lambda: gen(photo=photo)),
        (
            "inpaint",
            lambda: [engine.inpaint(InpaintRequest(first[0].image, mask, "tree", 3, steps=3))],
        ),
        ("layout again", lambda: gen(layout=layout)),
    ]
    for mode, call in steps:
        try:
            results = call()
        except Exception as exc:
            problems.append(f"{mode}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue
        outputs += results
        wrong = {n: p for n, p in engine.placement().items() if p[0] != engine.choice.dtype_name}
        if wrong:
            problems.append(f"after {mode}: {wrong}")
        problems += [
            f"{mode}: record says {r.record.dtype}" for r in results if r.record.dtype != dtype
        ]
    report(f"dtypes {arch}", not problems, "; ".join(problems) or f"every component {dtype}")
    bad = [
        i
        for i, r in enumerate(outputs)
        if not np.isfinite(a := np.asarray(r.image, np.float32)).all() or a.std() < 1.0
    ]
    report(f"outputs {arch}", not bad, f"{len(outputs)} images, {len(bad)} black/flat/non-finite")
    again = gen(layout=layout)
    same = [a.png() == b.png() for a, b in zip(first, again, strict=True)]
    diff = float(
        np.abs(np.asarray(first[0].image, np.int16) - np.asarray(again[0].image, np.int16)).max()
    )
    report(f"hash in-process {arch}", all(same), f"max |Δ| {diff:.0f}/255 after other modes")


def check_cross_process(root: Path, device: str, dtype: str) -> None:
    here = plate_hash(root, "sd15", device, dtype)
    out = subprocess.run(
        [sys.executable, __file__, "--hash-only", "--root", str(root), "--device", device,
         "--dtype", dtype],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    there = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-200:]
    report("hash cross-process", here == there, f"{here[:16]} vs {there[:16]}")


def check_oom(device: str) -> None:
    if device != "cuda":
        report("oom", None, "no CUDA here")
        return
    import torch

    from bgart.generation.engine import release_memory

    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    failed = False
    try:
        held = [torch.empty(2**30, dtype=torch.uint8, device="cuda") for _ in range(4)]
        held.append(torch.empty(2**44, dtype=torch.uint8, device="cuda"))  # 16 TiB: fails
    except torch.OutOfMemoryError:
        failed = True
    peak = torch.cuda.max_memory_allocated()
    release_memory("cuda")  # outside the except block, as the engine does
    after = torch.cuda.memory_allocated()
    report(
        "oom",
        failed and after <= before,
        f"raised={failed}, held {peak / 2**30:.1f} GiB at peak, {after / 2**30:.2f} GiB after "
        f"release (was {before / 2**30:.2f})",
    )


def check_offload(root: Path, device: str, dtype: str) -> None:
    if device != "cuda":
        report("offload", None, "no CUDA here (tests/generation checks the hooks' target)")
        return
    import torch

    engine = _engine(root, "sd15", device, dtype, offload=True)
    want = torch.device("cuda", engine.choice.index or 0)
    got = engine._base.unet._hf_hook.execution_device
    report("offload", engine.low_memory and torch.device(got) == want, f"hooks target {got}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--hash-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # byte-identical CPU results need a fixed thread count
    device = (
        args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    )
    root = args.root or Path(tempfile.mkdtemp(prefix="bgart-gpu-check-"))
    if args.hash_only:
        print(plate_hash(root, "sd15", device, args.dtype))
        return
    print(f"machine: {machine()}; device {device}, {args.dtype}", flush=True)
    for arch in ("sd15", "sdxl"):
        check_modes(root, arch, device, args.dtype)
    check_cross_process(root, device, args.dtype)
    check_oom(device)
    check_offload(root, device, args.dtype)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), **RESULTS}, indent=2))
    failed = [k for k, v in RESULTS.items() if v.startswith("FAIL")]
    print("gpu_check:", "FAILED " + ", ".join(failed) if failed else "all passed")
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
