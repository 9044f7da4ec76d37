"""Tiny random-weight diffusion models, built from configs, for tests and the offline demo.

They have the real SD1.5 / SDXL + ControlNet architectures (so the real diffusers loading and
calling code runs) but a few thousand parameters, and they produce noise, not art. The
ControlNet's zero-initialised output convolutions are randomised: a fresh ControlNet ignores
its input, and the layout would then have no visible effect.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from bgart.generation.weights import write_lock_for_local_models

TINY_NOTE = "tiny random-weight test model: images are noise, not art"


def _byte_vocab() -> dict[str, int]:
    """A byte-level BPE vocabulary with no merges: every UTF-8 byte is a token."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def _tokenizer(out: Path) -> int:
    from transformers import CLIPTokenizer

    vocab = _byte_vocab()
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    if len(tok) <= 2:  # a missing vocabulary fails silently into a 2-token tokenizer
        raise RuntimeError("tiny tokenizer has no vocabulary")
    tok.save_pretrained(out)
    return len(vocab)


def _randomise_controlnet(controlnet: Any, generator: torch.Generator) -> None:
    """Give the zero-initialised convolutions weights (and no bias: a bias would add the same
    offset whatever the layout), and amplify the conditioning embedding, so that the layout
    visibly steers the tiny model as it steers a trained one."""
    with torch.no_grad():
        outputs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        for module in outputs:
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.5)
            module.bias.zero_()
        for conv in [
            *controlnet.controlnet_cond_embedding.blocks,
            controlnet.controlnet_cond_embedding.conv_out,
        ]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.6)
            conv.bias.zero_()


def _text_config(vocab_size: int, hidden: int = 32, projection_dim: int | None = None) -> Any:
    from transformers import CLIPTextConfig

    kwargs: dict[str, Any] = {"projection_dim": projection_dim} if projection_dim else {}
    return CLIPTextConfig(
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        hidden_size=hidden,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        max_position_embeddings=77,
        hidden_act="gelu",
        **kwargs,
    )


def _vae() -> Any:
    from diffusers import AutoencoderKL

    # four blocks: the real 8x latent downscale, so size rules match real models
    # diffusers annotates these tuples as one-element (tuple[str]): a config dict passes them
    config: dict[str, Any] = dict(
        block_out_channels=(8, 8, 8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=64,
    )
    return AutoencoderKL(**config)


def _scheduler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )


def _build_sd15(base: Path, cn: Path, g: torch.Generator) -> None:
    from diffusers import ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    controlnet = ControlNetModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        conditioning_embedding_out_channels=(8, 8, 8, 16),
        norm_num_groups=2,
    )
    _randomise_controlnet(controlnet, g)
    vocab_size = _tokenizer(base / "tokenizer")
    text_encoder = CLIPTextModel(_text_config(vocab_size))
    _save_pipeline_parts(
        base,
        "StableDiffusionPipeline",
        unet=unet,
        vae=_vae(),
        text_encoder=text_encoder,
        scheduler=_scheduler(),
    )
    controlnet.save_pretrained(cn, safe_serialization=True)


def _build_sdxl(base: Path, cn: Path, g: torch.Generator) -> None:
    from diffusers import ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    common: dict[str, Any] = dict(
        block_out_channels=(32, 64),
        layers_per_block=1,
        in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 * 8 time ids + 32 pooled text
        cross_attention_dim=64,
    )
    unet = UNet2DConditionModel(
        **common,
        sample_size=16,
        out_channels=4,
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    controlnet = ControlNetModel(**common, conditioning_embedding_out_channels=(8, 8, 8, 16))
    _randomise_controlnet(controlnet, g)
    vocab_size = _tokenizer(base / "tokenizer")
    _tokenizer(base / "tokenizer_2")
    text_encoder = CLIPTextModel(_text_config(vocab_size))
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(vocab_size, projection_dim=32))
    _save_pipeline_parts(
        base,
        "StableDiffusionXLPipeline",
        unet=unet,
        vae=_vae(),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        scheduler=_scheduler(),
    )
    controlnet.save_pretrained(cn, safe_serialization=True)


def _save_pipeline_parts(base: Path, class_name: str, **parts: Any) -> None:
    index: dict[str, object] = {"_class_name": class_name, "_diffusers_version": "0.42.0"}
    for name, part in parts.items():
        part.save_pretrained(
            base / name,
            **({} if name == "scheduler" else {"safe_serialization": True}),
        )
        lib = "diffusers" if type(part).__module__.startswith("diffusers") else "transformers"
        index[name] = [lib, type(part).__name__]
    for name in ("tokenizer", "tokenizer_2"):
        if (base / name).exists():
            index[name] = ["transformers", "CLIPTokenizer"]
    if class_name == "StableDiffusionPipeline":
        index["safety_checker"] = [None, None]
        index["feature_extractor"] = [None, None]
        index["requires_safety_checker"] = False
    (base / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")


def build_tiny_models(root: Path, arch: str = "sd15", seed: int = 0) -> Path:
    """Build a tiny base model + ControlNet under ``root/src`` and a weights.lock for them.

    Returns the lock's path. Its entries are named ``tiny-<arch>`` and
    ``tiny-controlnet-<arch>`` and point at ``file://`` sources with full sha256 pins, so
    ``bgart weights pull`` copies and verifies them exactly as it would hub downloads.
    """
    if arch not in ("sd15", "sdxl"):
        raise ValueError(f"unknown architecture {arch!r}")
    root = Path(root)
    base = root / "src" / f"tiny-{arch}"
    cn = root / "src" / f"tiny-controlnet-{arch}"
    if not (base / "model_index.json").exists():
        from bgart.generation.engine import _quiet_libraries

        _quiet_libraries()
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        (_build_sd15 if arch == "sd15" else _build_sdxl)(base, cn, g)
    lock = root / "weights.lock"
    write_lock_for_local_models(
        lock,
        {
            f"tiny-{arch}": dict(
                source=base,
                kind="pipeline",
                architecture=arch,
                controlnet=f"tiny-controlnet-{arch}",
                license="test-only",
                note=TINY_NOTE,
            ),
            f"tiny-controlnet-{arch}": dict(
                source=cn,
                kind="controlnet",
                architecture=arch,
                license="test-only",
                note=TINY_NOTE,
            ),
        },
        merge=True,
    )
    return lock


def _build_ip_adapter(base: Path, out: Path, g: torch.Generator) -> None:
    """A random IP-Adapter for the tiny UNet at ``base``, in h94/IP-Adapter's layout
    (``models/ip-adapter_<arch>.safetensors`` + ``models/image_encoder/``) and key names
    (``image_proj.proj/norm``; ``ip_adapter.<1, 3, 5…>.to_k_ip/to_v_ip``, one pair per
    cross-attention processor in the UNet's order), loaded by diffusers' own loader."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    embed_dim = 32
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=embed_dim,
            image_size=32,
            patch_size=4,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
        )
    )
    encoder.save_pretrained(out / "models" / "image_encoder", safe_serialization=True)
    unet = UNet2DConditionModel.from_pretrained(base / "unet", local_files_only=True)
    config: Any = unet.config
    cross = int(config.cross_attention_dim)
    channels = list(config.block_out_channels)
    weights = {
        "image_proj.proj.weight": torch.randn(cross * 4, embed_dim, generator=g) * 0.2,
        "image_proj.proj.bias": torch.zeros(cross * 4),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        for proj in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{key}.{proj}.weight"] = (
                torch.randn(hidden, cross, generator=g) * 0.5
            )
        key += 2
    arch = base.name.removeprefix("tiny-")
    save_file(weights, str(out / "models" / f"ip-adapter_{arch}.safetensors"))


def build_tiny_adapter(root: Path, arch: str = "sd15", seed: int = 0) -> Path:
    """A tiny random IP-Adapter + CLIP vision encoder for the tiny model of ``arch`` built
    by :func:`build_tiny_models` under ``root``: pinned in its weights.lock as
    ``tiny-ip-adapter-<arch>`` (kind ``ip_adapter``) and named by the pipeline's
    ``ip_adapter`` field. Returns the lock's path."""
    import tomlkit

    root = Path(root)
    lock = build_tiny_models(root, arch, seed)
    name = f"tiny-ip-adapter-{arch}"
    out = root / "src" / name
    if not (out / "models" / "image_encoder" / "config.json").exists():
        torch.manual_seed(seed)
        _build_ip_adapter(root / "src" / f"tiny-{arch}", out, torch.Generator().manual_seed(seed))
    write_lock_for_local_models(
        lock,
        {
            name: dict(
                source=out,
                kind="ip_adapter",
                architecture=arch,
                license="test-only",
                note=TINY_NOTE,
            )
        },
        merge=True,
    )
    doc = tomlkit.parse(lock.read_text(encoding="utf-8"))
    doc["models"][f"tiny-{arch}"]["ip_adapter"] = name  # type: ignore[index]
    lock.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return lock
