"""Delivery-size plates (issue 21): seconds per 1080p and 4K plate, the tiled pass against a
single pass at the same size, the seam metric, and how the cost grows with the area.

Tiny random-weight models on the CPU check the logic and the cost growth; the absolute
seconds say nothing about a real model on a GPU. Seconds are CPU seconds of this process
(``time.process_time``, one thread by default): on a machine shared with other jobs, wall
time swings several-fold with their load, CPU time does not.

    python bench/delivery.py [--steps 10] [--window 512] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, tiny_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--window", type=int, default=512, help="the model's native size (px)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="skip 4K")
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    from bgart.generation import Delivery, Engine, GenerationRequest
    from bgart.generation import delivery as d
    from bgart.generation.tiles import SEAM_LIMIT, inner_edges, plan_windows, seam_ratio

    torch.set_num_threads(args.threads)

    def control(w: int, h: int) -> Image.Image:
        img = Image.new("RGB", (w, h))
        draw = ImageDraw.Draw(img)
        draw.line((0, h * 2 // 3, w, h // 3), fill="white", width=max(2, w // 400))
        for x in range(w // 10, w, max(1, w // 9)):
            draw.line((x, h // 5, x, h), fill="white", width=max(2, w // 600))
        return img

    def refine_steps(z: Any, size: tuple[int, int], window: int) -> Any:
        """The delivery refinement's sampling steps over latents ``z`` at ``size``, with
        windows of ``window`` px (the plate's long side: one pass)."""
        return d._sample(
            engine,
            init=z,
            control=control(*size),
            width=size[0],
            height=size[1],
            prompt="street",
            negative="",
            seed=1,
            steps=args.steps,
            guidance=7.0,
            strength=d.REFINE_STRENGTH,
            scheduler="euler",
            controlnet_scale=1.0,
            window=window,
            overlap=d.default_overlap(args.window),
            progress=None,
        )

    with tempfile.TemporaryDirectory() as tmp:
        settings = tiny_settings(Path(tmp), width=args.window, height=args.window)
        engine = Engine.load(settings)
        print(f"# bench/delivery.py — {machine()}, {args.threads} threads")
        print(
            f"tiny SD1.5 + ControlNet, native window {args.window} px, {args.steps} steps, "
            f"refine strength {d.REFINE_STRENGTH} ({int(args.steps * d.REFINE_STRENGTH)} "
            f"refine steps), overlap {d.default_overlap(args.window)} px\n"
        )

        def plate(base: tuple[int, int], size: tuple[int, int]) -> tuple[float, Image.Image]:
            layout = control(*size)
            req = GenerationRequest(
                prompt="street",
                width=base[0],
                height=base[1],
                seeds=[1],
                layout=layout.resize(base),
                steps=args.steps,
                delivery=Delivery(*size, layout=layout),
            )
            start = time.process_time()
            made = engine.generate(req)[0]
            return time.process_time() - start, made.image

        # 1. seconds per delivery plate, and how they split
        sizes = [((512, 288), (960, 544)), ((512, 288), (1920, 1080))]
        if not args.quick:
            sizes.append(((512, 288), (3840, 2160)))
        print("## Seconds per plate (base pass + tiled refinement + tiled VAE)")
        print("| delivery | base | seconds | s per MP | encode | sample | decode |")
        print("|---|---|---|---|---|---|---|")
        per_mp = []
        plates = {}
        for base, size in sizes:
            seconds, img = plate(base, size)
            plates[size] = img
            big = img.resize(size)
            t = time.process_time()
            z = d._encode(engine, big)
            enc = time.process_time() - t
            t = time.process_time()
            lat = refine_steps(z, size, args.window)
            sample = time.process_time() - t
            t = time.process_time()
            d._decode(engine, lat)
            dec = time.process_time() - t
            mp = size[0] * size[1] / 1e6
            per_mp.append((mp, seconds))
            print(
                f"| {size[0]}x{size[1]} | {base[0]}x{base[1]} | {seconds:.1f} | "
                f"{seconds / mp:.2f} | {enc:.1f} | {sample:.1f} | {dec:.1f} |"
            )
        if len(per_mp) >= 2:
            (a_mp, a_s), (b_mp, b_s) = per_mp[1], per_mp[-1]
            print(
                f"\ncost growth {per_mp[0][0]:.2f} → {b_mp:.2f} MP: ×{b_s / per_mp[0][1]:.2f} "
                f"for ×{b_mp / per_mp[0][0]:.2f} the area (linear: equal); "
                f"{a_mp:.2f} → {b_mp:.2f} MP: ×{b_s / a_s:.2f} for ×{b_mp / a_mp:.2f}"
            )

        # 2. the tiled pass against one pass at the same size (one window over the plate)
        print("\n## Tiled sampler vs a single pass at the same size (refine steps only)")
        print("| size | windows | tiled s | single s | tiled/single |")
        print("|---|---|---|---|---|")
        for size in ((768, 432), (1024, 576)):
            z = d._encode(engine, Image.new("RGB", size, (120, 130, 140)))
            times = {}
            for label, window in (("tiled", args.window), ("single", max(size))):
                t = time.process_time()
                refine_steps(z, size, window)
                times[label] = time.process_time() - t
            lat = (size[1] // 8, size[0] // 8)
            n = len(
                plan_windows(*lat, (args.window // 8,) * 2, d.default_overlap(args.window) // 8)
            )
            print(
                f"| {size[0]}x{size[1]} | {n} | {times['tiled']:.2f} | {times['single']:.2f} | "
                f"{times['tiled'] / times['single']:.2f} |"
            )
        lh, lw = 1080 // 8, 1920 // 8
        win = args.window // 8
        ov = d.default_overlap(args.window) // 8
        tiled_area = sum(w.height * w.width for w in plan_windows(lh, lw, (win, win), ov))
        print(
            f"\nwork done at 1920x1080 (UNet cells evaluated / latent cells): "
            f"{tiled_area / (lh * lw):.2f}× (overlap {ov * 8} px on {args.window} px windows)"
        )

        # 3. seams
        print(
            f"\n## Seam metric (step across window edges / step elsewhere; ≤ {SEAM_LIMIT} passes)"
        )
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "generation"))
        from test_delivery import _seams  # the stand-in denoiser of the seam test

        small = Engine.load(tiny_settings(Path(tmp), width=256, height=256))
        print(f"stand-in denoiser, naive side-by-side tiles: {_seams(small, 0):.2f}")
        print(
            f"stand-in denoiser, delivery sampler (64 px feathered overlap): "
            f"{_seams(small, 64):.2f}"
        )
        if (1920, 1080) in plates:
            arr = np.asarray(plates[(1920, 1080)], dtype=np.float64)
            wins = [w.scaled(8) for w in plan_windows(lh, lw, (win, win), ov)]
            print(
                "1920x1080 tiny-model plate at its window edges: "
                f"{seam_ratio(arr, *inner_edges(wins, 1080, 1920)):.2f} "
                "(the tiny model makes noise: about 1 whatever the tiler)"
            )


if __name__ == "__main__":
    main()
