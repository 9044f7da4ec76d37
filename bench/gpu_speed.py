"""GPU speed: SDXL + ControlNet, 1024², 30 steps, CFG — bgart's levers vs diffusers default.

Random weights with the real SDXL architecture (speed does not depend on the values; the
GPU machine has no hub access). Every variant runs in one process, side by side:

  baseline   diffusers default: fp16, SDPA, batch 1
  bf16+cl    bgart defaults on CUDA: bf16, channels_last
  +fused     + fused QKV projections
  +compile   + torch.compile of UNet and ControlNet (inductor cache on disk)
  +graphs    + compile with CUDA graphs (cuda_graphs: reduce-overhead mode)
  flash, cudnn, fa3, math
             bf16+cl with one SDPA kernel forced (attention = ...; fa3: FlashAttention-3)
  fp8        bf16+cl with torchao float8 linears in the UNet/ControlNet (fp8 = true)
  deepcache  bf16+cl with DeepCache, interval 3 (deepcache = 3; changes pixels)
  batch4     the 4 variations of a shot as one call (images/s vs batch 1)
  lowmem     model CPU offload + VAE tiling (latency ratio, peak GPU memory)
  wide       4096x1024 pan plate decoded through the tiled VAE

A lever this device or install cannot run (levers.refuse_unsupported: fp8 before compute
capability 8.9, fa3 off Hopper, torchao/DeepCache not installed, anything CUDA on the CPU)
prints its one-line refusal and the run goes on. Every line shows its mean pixel difference
from the baseline: the levers that change pixels are recorded as such.

MFU counts 13.5 TFLOP (UNet x2 CFG) + 6.0 TFLOP (ControlNet x2) per step.

    python bench/gpu_speed.py                # on a CUDA machine
    python bench/gpu_speed.py --tiny         # the same logic on tiny models, any machine
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

TFLOP_PER_STEP = 13.5 + 6.0
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense bf16, SXM datasheets

SDXL_UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(5, 10, 20),
    transformer_layers_per_block=(1, 2, 10),
    cross_attention_dim=2048,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
)
SDXL_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    sample_size=1024,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    scaling_factor=0.13025,
    force_upcast=False,
)


def build_sdxl(dtype: Any, device: str) -> Any:
    """A full-size SDXL + ControlNet pipeline with random weights, built on the GPU."""
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        EulerDiscreteScheduler,
        StableDiffusionXLControlNetPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    from bgart.generation.tiny_models import _byte_vocab

    vocab = _byte_vocab()
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    n = len(vocab)
    ids = dict(
        bos_token_id=n - 2,
        eos_token_id=n - 1,
        pad_token_id=n - 1,
        vocab_size=n,
        max_position_embeddings=77,
        hidden_act="gelu",
    )
    with torch.device(device):
        te1 = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_attention_heads=12,
                num_hidden_layers=12,
                **ids,
            )
        )
        te2 = CLIPTextModelWithProjection(
            CLIPTextConfig(
                hidden_size=1280,
                intermediate_size=5120,
                num_attention_heads=20,
                num_hidden_layers=32,
                projection_dim=1280,
                **ids,
            )
        )
        unet = UNet2DConditionModel(**SDXL_UNET)
        controlnet = ControlNetModel.from_unet(unet)
        # the released SDXL VAE overflows in fp16 and says force_upcast: an fp16 run
        # decodes in fp32, and so must the fp16 baseline
        vae = AutoencoderKL(**(SDXL_VAE | {"force_upcast": dtype == torch.float16}))
    sched = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLControlNetPipeline(
        vae=vae,
        text_encoder=te1,
        text_encoder_2=te2,
        tokenizer=tok,
        tokenizer_2=tok,
        unet=unet,
        controlnet=controlnet,
        scheduler=sched,
    )
    return pipe.to(device=device, dtype=dtype)


def build_tiny(root: Path) -> Any:
    import diffusers

    from bgart.generation import build_tiny_models

    build_tiny_models(root, "sdxl")
    cn = diffusers.ControlNetModel.from_pretrained(root / "src" / "tiny-controlnet-sdxl")
    return diffusers.StableDiffusionXLControlNetPipeline.from_pretrained(
        root / "src" / "tiny-sdxl", controlnet=cn
    )


def run(
    engine: Any, size: tuple[int, int], steps: int, seeds: list[int], repeats: int, layout: Any
) -> tuple[float, list[Any]]:
    """Median seconds per call (after a warm-up call) and the last images."""
    import statistics

    from bgart.generation import GenerationRequest

    req = GenerationRequest(
        prompt="anime background, street",
        negative="people",
        width=size[0],
        height=size[1],
        seeds=seeds,
        layout=layout,
        steps=steps,
        guidance=7.0,
    )
    out = engine.generate(req)  # warm-up (compiles, autotunes)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = engine.generate(req)
        times.append(time.perf_counter() - t)
    return statistics.median(times), [o.image for o in out]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="tiny models (logic check, any device)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma list of variants to run")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    from bgart.generation import Engine
    from bgart.settings import load_settings

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("no CUDA GPU here: run with --tiny for a logic check, or on a GPU machine")
        raise SystemExit(0)
    device = "cuda" if cuda else "cpu"
    size = (1024, 1024) if not args.tiny else (128, 128)
    steps = args.steps if not args.tiny else 3
    layout = Image.new("RGB", size)
    ImageDraw.Draw(layout).line((0, size[1], size[0] // 2, size[1] // 3), fill="white", width=8)
    figures: dict[str, Any] = {"machine": machine(), "size": size, "steps": steps}
    print(f"machine: {figures['machine']}")
    wanted = set(filter(None, args.only.split(",")))

    def want(name: str) -> bool:
        return not wanted or name in wanted

    def make(dtype: Any, **levers: Any) -> Any:
        import tempfile

        from bgart.generation.levers import refuse_unsupported, speed_levers

        levers = {"channels_last": False, **levers}
        # --tiny on the CPU runs bfloat16 too: the same dtype paths as the GPU run
        s = load_settings(
            device=device,
            dtype=str(dtype).removeprefix("torch.") if cuda else "bfloat16",
            compile_sizes=f"{size[0]}x{size[1]}",
            **levers,
        )
        # refused before the (large) pipeline is built; the engine checks the same again
        capability = torch.cuda.get_device_capability(0) if cuda else None
        refuse_unsupported(speed_levers(s), device, capability, compile=bool(s.compile))
        if args.tiny:  # saved in float32: in the engine's dtype, as Engine.load would
            pipe = build_tiny(Path(tempfile.mkdtemp())).to(dtype=dtype if cuda else torch.bfloat16)
        else:
            pipe = build_sdxl(dtype, device)
        return Engine.from_pipeline(s, pipe, "sdxl-random", "sdxl", controlnet="cn-random")

    def free() -> None:
        """Collect what the caller dropped (its engine variable set to None first: a
        reference passed in here would keep the pipeline alive)."""
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    from bgart.errors import InputError

    results: dict[str, float] = {}
    refused: dict[str, str] = {}
    ref_img = None
    cl = {"channels_last": True}
    compiled = cl | {"fuse_qkv": True, "compile": True}
    variants = [
        ("baseline", torch.float16, {}),
        ("bf16+cl", torch.bfloat16, cl),
        ("+fused", torch.bfloat16, cl | {"fuse_qkv": True}),
        ("+compile", torch.bfloat16, compiled),
        ("+graphs", torch.bfloat16, compiled | {"cuda_graphs": True}),
        ("flash", torch.bfloat16, cl | {"attention": "flash"}),
        ("cudnn", torch.bfloat16, cl | {"attention": "cudnn"}),
        ("fa3", torch.bfloat16, cl | {"attention": "fa3"}),
        ("math", torch.bfloat16, cl | {"attention": "math"}),
        ("fp8", torch.bfloat16, cl | {"fp8": True}),
        ("deepcache", torch.bfloat16, cl | {"deepcache": 3}),
    ]
    for name, dtype, levers in variants:
        if not want(name) or (name == "+graphs" and not args.only):
            continue  # +graphs recompiles everything: asked for by name only
        try:
            engine = make(dtype, **levers)
        except InputError as exc:
            refused[name] = str(exc)
            print(f"{name:10} refused: {exc}")
            engine = None
            free()
            continue
        sec, imgs = run(engine, size, steps, [1], args.repeats, layout)
        results[name] = sec
        arr = np.asarray(imgs[0], dtype=np.float32)
        diff = (
            ""
            if ref_img is None
            else f"  mean |Δ| vs baseline {np.abs(arr - ref_img).mean():.2f}/255"
        )
        ref_img = arr if ref_img is None else ref_img
        tflops = TFLOP_PER_STEP * steps / sec
        peak = next(
            (v for k, v in PEAK_BF16_TFLOPS.items() if cuda and k in torch.cuda.get_device_name(0)),
            None,
        )
        mfu = f"  MFU {tflops / peak * 100:.1f}%" if peak and not args.tiny else ""
        print(f"{name:10} {sec:7.3f} s/image  {1 / sec:6.3f} img/s{mfu}{diff}")
        if name == "+compile" and want("batch4"):
            sec4, _ = run(engine, size, steps, [1, 2, 3, 4], args.repeats, layout)
            results["batch4"] = sec4 / 4
            print(
                f"{'batch4':10} {sec4 / 4:7.3f} s/image  images/s ratio batch4/batch1 = "
                f"{sec / (sec4 / 4):.3f} (goal >= 1.1)"
            )
        engine = None
        free()
    if "baseline" in results:
        for name in results:
            if name != "baseline" and not name.startswith(("lowmem", "wide")):
                print(
                    f"speed-up {name} vs baseline = {results['baseline'] / results[name]:.3f}x"
                    + ("  (goal >= 1.4x)" if name == "+compile" else "")
                )
    if want("lowmem"):
        engine = make(torch.bfloat16 if cuda else torch.float32, channels_last=True)
        normal, _ = run(engine, size, steps, [1], 1, layout)
        engine.enable_low_memory()  # offloads the resident pipeline and releases it
        if cuda:  # only now: the peak of the offloaded run, not of the resident pipeline
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        low, _ = run(engine, size, steps, [1], 1, layout)
        peak_gb = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
        print(
            f"lowmem     {low:7.3f} s/image  latency ratio lowmem/normal = {low / normal:.3f}"
            f" (goal <= 1.5), peak GPU memory {peak_gb:.2f} GiB (goal <= 8)"
        )
        results["lowmem_ratio"] = low / normal
        results["lowmem_peak_gib"] = peak_gb
        if want("wide"):
            wide = (4096, 1024) if not args.tiny else (512, 128)  # 4:1 as on the GPU
            wl = layout.resize(wide)
            sec, imgs = run(engine, wide, max(4, steps // 6), [1], 1, wl)
            print(
                f"wide       {wide[0]}x{wide[1]} plate rendered in {sec:.2f} s "
                f"(tiled VAE), output {imgs[0].size}"
            )
            results["wide_seconds"] = sec
        engine = None
        free()
    figures["results"] = results
    figures["refused"] = refused
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
