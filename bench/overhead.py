"""Tool overhead per image: bgart's Engine.generate vs a bare diffusers call, same inputs.

Both run the same loaded pipeline with the same seed, steps and layout, interleaved in one
run (A, B, A, B, ...) so drift hits both. Goal: overhead <= 3% of wall time per image.

    python bench/overhead.py [--size 256] [--steps 10] [--repeats 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, tiny_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import time

    import torch
    from PIL import Image, ImageDraw

    from bgart.generation import Engine, GenerationRequest

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        settings = tiny_settings(Path(tmp))
        engine = Engine.load(settings)
        s = args.size
        layout = Image.new("RGB", (s, s))
        ImageDraw.Draw(layout).line((0, 0, s, s), fill="white", width=4)
        req = GenerationRequest(
            prompt="street",
            negative="people",
            width=s,
            height=s,
            seeds=[1],
            layout=layout,
            steps=args.steps,
        )
        pipe = engine._base  # the very pipeline Engine uses: the difference is bgart alone

        def bare() -> Image.Image:
            with torch.inference_mode():
                return pipe(
                    prompt=["street"],
                    negative_prompt=["people"],
                    image=layout,
                    width=s,
                    height=s,
                    num_inference_steps=args.steps,
                    guidance_scale=req.guidance,
                    controlnet_conditioning_scale=req.controlnet_scale,
                    generator=[torch.Generator("cpu").manual_seed(1)],
                    output_type="pil",
                ).images[0]

        def tool() -> Image.Image:
            return engine.generate(req, progress=lambda _d, _t: None)[0].image

        assert bare().tobytes() == tool().tobytes(), "bare and tool outputs differ"
        t_bare: list[float] = []
        t_tool: list[float] = []
        for _ in range(args.repeats):
            for fn, acc in ((bare, t_bare), (tool, t_tool)):
                t = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t)
    b, t = median(t_bare), median(t_tool)
    print(f"machine: {machine()}")
    print(
        f"tiny SD1.5+ControlNet, {args.size}x{args.size}, {args.steps} steps, "
        f"{args.threads} threads, {args.repeats} interleaved repeats"
    )
    print(f"bare diffusers call : {b * 1000:8.1f} ms/image (median)")
    print(f"bgart Engine.generate: {t * 1000:8.1f} ms/image (median)")
    print(f"overhead ratio tool/bare = {t / b:.4f}  ({(t / b - 1) * 100:+.2f}%, goal <= +3%)")


if __name__ == "__main__":
    main()
