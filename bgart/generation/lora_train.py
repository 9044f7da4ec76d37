"""Training a production LoRA on a base model's UNet: diffusers + peft + accelerate.

The method of diffusers' ``examples/text_to_image/train_text_to_image_lora.py`` (and its SDXL
twin), written for bgart: the base model's components come from its verified weights.lock
folder; the UNet gets peft LoRA layers on its attention projections (``to_q``, ``to_k``,
``to_v``, ``to_out.0``); each step noises the latents of training images at random
timesteps and fits the UNet's prediction (epsilon or v) with a mean-squared error. The text
encoders and the VAE stay frozen, so each image's latent distribution and each caption's
embeddings are computed once, before the first step.

Everything random in a step (which images, the latent sample, the noise, the timesteps)
comes from a generator seeded by (seed, step), and a checkpoint holds the LoRA weights and
the optimizer's state exactly (safetensors), so a run killed and resumed from its last
checkpoint ends with the same bytes as a run that was never interrupted. The result is a
diffusers-format LoRA (``save_lora_weights``), the file ``load_lora_weights`` reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from bgart.canonical import canonical_json
from bgart.errors import InputError, WeightsError
from bgart.fsutil import sha256_file
from bgart.generation.device import pick_device
from bgart.generation.weights import WeightsLock, _expected, _read_pin, ensure_ready
from bgart.settings import Settings

LORA_FILE = "pytorch_lora_weights.safetensors"  # diffusers' own name for a saved LoRA
TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0"]
CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILE = "state.json"

TrainProgress = Callable[[int, int, float], None]
"""(step done, steps in all, that step's loss)."""


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings (all but ``checkpoint_every`` decide the result)."""

    steps: int = 500
    rank: int = 8
    lr: float = 1e-4
    batch_size: int = 1
    resolution: int = 512
    seed: int = 0
    checkpoint_every: int = 100

    def check(self) -> None:
        def whole(name: str, lo: int, hi: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise InputError(f"--{name.replace('_', '-')} {v!r}: a whole number {lo}..{hi}")

        whole("steps", 1, 1_000_000)
        whole("rank", 1, 256)
        whole("batch_size", 1, 64)
        whole("resolution", 64, 2048)
        whole("seed", 0, 2**32 - 1)
        whole("checkpoint_every", 1, 1_000_000)
        if self.resolution % 8:
            raise InputError(f"--resolution {self.resolution}: a multiple of 8")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise InputError(f"--lr {self.lr!r}: a learning rate 0 < lr <= 1")


@dataclass(frozen=True)
class Example:
    """One training image and its caption; ``sha256`` names the image (a plate version)."""

    image: Image.Image
    caption: str
    sha256: str


@dataclass(frozen=True)
class TrainResult:
    path: Path
    sha256: str
    size: int
    steps: int
    resumed_from: int  # 0: a fresh run
    loss: float


def _fingerprint(model: str, files: dict[str, str], examples: Sequence[Example], cfg: TrainConfig):
    """What a checkpoint must match to be resumed: the same model, data and settings."""
    settings = {k: v for k, v in asdict(cfg).items() if k != "checkpoint_every"}
    data = [(e.sha256, e.caption) for e in examples]
    text = canonical_json({"model": model, "files": files, "data": data, "settings": settings})
    return hashlib.sha256(text.encode()).hexdigest()


def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed * 1_000_003 + step)


def _pixels(image: Image.Image, size: int) -> torch.Tensor:
    """An image scaled to cover ``size`` x ``size``, centre-cropped, in [-1, 1], CHW."""
    img = image.convert("RGB")
    scale = size / min(img.size)
    w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.LANCZOS)
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(size, size, 3)
    return data.permute(2, 0, 1).float() / 127.5 - 1.0


class _Parts:
    """The base model's components, loaded for training (frozen but for the LoRA layers)."""

    def __init__(self, base_dir: Path, architecture: str, dtype: torch.dtype, device: str):
        import diffusers
        from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

        common: dict[str, Any] = dict(local_files_only=True)
        self.xl = architecture == "sdxl"
        self.device = device
        self.dtype = dtype
        try:
            self.scheduler: Any = diffusers.DDPMScheduler.from_pretrained(
                base_dir, subfolder="scheduler", **common
            )
            self.unet: Any = diffusers.UNet2DConditionModel.from_pretrained(
                base_dir, subfolder="unet", use_safetensors=True, **common
            )
            self.vae: Any = diffusers.AutoencoderKL.from_pretrained(
                base_dir, subfolder="vae", use_safetensors=True, **common
            )
            self.tokenizers = [CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer")]
            self.encoders: list[Any] = [
                CLIPTextModel.from_pretrained(base_dir, subfolder="text_encoder", **common)
            ]
            if self.xl:
                self.tokenizers.append(
                    CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer_2")
                )
                self.encoders.append(
                    CLIPTextModelWithProjection.from_pretrained(
                        base_dir, subfolder="text_encoder_2", **common
                    )
                )
        except (OSError, ValueError) as exc:
            raise WeightsError(f"{base_dir}: did not load for training: {exc}") from None
        for module in (self.unet, self.vae, *self.encoders):
            module.requires_grad_(False)
            module.to(device=device, dtype=dtype)

    @torch.no_grad()
    def encode_text(self, caption: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(prompt embeddings, pooled embeddings for SDXL) of one caption."""
        hidden: list[torch.Tensor] = []
        pooled = None
        for tok, enc in zip(self.tokenizers, self.encoders, strict=True):
            ids = tok(
                caption,
                padding="max_length",
                max_length=tok.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(self.device)
            if not self.xl:
                return enc(ids)[0][0].float(), None
            out = enc(ids, output_hidden_states=True)
            pooled = out[0][0].float()
            hidden.append(out.hidden_states[-2][0].float())
        return torch.cat(hidden, dim=-1), pooled

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's latent distribution (mean, std) of one image."""
        dist = self.vae.encode(pixels[None].to(self.device, self.dtype)).latent_dist
        return dist.mean[0].float(), dist.std[0].float()


def _lora_params(unet: Any) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in unet.named_parameters() if p.requires_grad]


def _save_checkpoint(work: Path, step: int, fingerprint: str, unet: Any, optimizer: Any) -> None:
    """``work/checkpoint-<step>``, written whole (a temporary folder, then one rename); the
    older checkpoints go once it is in place."""
    from safetensors.torch import save_file

    params = _lora_params(unet)
    tmp = work / f".{CHECKPOINT_PREFIX}{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({n: p.detach().cpu().contiguous() for n, p in params}, tmp / "lora.safetensors")
    opt: dict[str, torch.Tensor] = {}
    for i, (_n, p) in enumerate(params):
        for key, value in optimizer.state.get(p, {}).items():
            if isinstance(value, torch.Tensor):
                opt[f"{i}.{key}"] = value.detach().cpu().contiguous()
    save_file(opt, tmp / "optimizer.safetensors")
    (tmp / STATE_FILE).write_text(json.dumps({"step": step, "fingerprint": fingerprint}))
    final = work / f"{CHECKPOINT_PREFIX}{step}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in work.glob(f"{CHECKPOINT_PREFIX}*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)


def _last_checkpoint(work: Path, fingerprint: str) -> tuple[Path, int] | None:
    """The newest whole checkpoint of this run (model, data, settings), if any."""
    best: tuple[Path, int] | None = None
    for folder in work.glob(f"{CHECKPOINT_PREFIX}*"):
        try:
            state = json.loads((folder / STATE_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
            continue
        step = state.get("step")
        if isinstance(step, int) and (best is None or step > best[1]):
            best = (folder, step)
    return best


def _load_checkpoint(folder: Path, unet: Any, optimizer: Any) -> None:
    from safetensors.torch import load_file

    params = _lora_params(unet)
    weights = load_file(folder / "lora.safetensors")
    opt = load_file(folder / "optimizer.safetensors")
    if set(weights) != {n for n, _ in params}:
        raise InputError(f"{folder}: checkpoint does not match the LoRA layers (remove it)")
    with torch.no_grad():
        for i, (n, p) in enumerate(params):
            p.copy_(weights[n])
            state = {k.split(".", 1)[1]: v for k, v in opt.items() if k.split(".", 1)[0] == str(i)}
            if state:
                optimizer.state[p] = {k: v.to(p.device) for k, v in state.items()}


def stale_checkpoints(work: Path) -> list[Path]:
    return sorted(work.glob(f"{CHECKPOINT_PREFIX}*"))


def train_lora(
    settings: Settings,
    model: str,
    examples: Sequence[Example],
    config: TrainConfig,
    out_file: Path,
    work: Path,
    progress: TrainProgress | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> TrainResult:
    """Train a UNet LoRA of ``model`` on ``examples``; write it to ``out_file`` (diffusers
    format, safetensors). Checkpoints go to ``work`` every ``config.checkpoint_every`` steps;
    a run with the same model, data and settings resumes from the newest one there."""
    config.check()
    if not examples:
        raise InputError("no training images: accept some plates first")
    lock = WeightsLock.load(settings.weights_lock)
    entry = lock.get(model)
    if entry.kind != "pipeline":
        raise WeightsError(f"model '{model}' is a {entry.kind}, not a base model")
    base_dir = ensure_ready(lock, settings.model_store, model)
    files = {p: sha for p, (_s, sha) in _expected(entry, _read_pin(base_dir)).items()}
    fingerprint = _fingerprint(model, files, examples, config)
    if settings.cpu_threads:
        torch.set_num_threads(settings.cpu_threads)

    from accelerate import Accelerator
    from peft import LoraConfig

    choice = pick_device(settings.device, "float32")
    on_cpu = choice.device == "cpu"
    accelerator = Accelerator(cpu=on_cpu, mixed_precision="no")
    device = str(accelerator.device)
    parts = _Parts(base_dir, entry.architecture, torch.float32, device)
    say(f"training a LoRA of {model} on {len(examples)} images, {config.steps} steps, on {device}")

    cache = []
    for ex in examples:
        mean, std = parts.encode_image(_pixels(ex.image, config.resolution))
        cache.append((mean, std, *parts.encode_text(ex.caption)))
    torch.manual_seed(config.seed)  # the gaussian init of the LoRA layers
    parts.unet.add_adapter(
        LoraConfig(
            r=config.rank,
            lora_alpha=config.rank,
            init_lora_weights="gaussian",
            target_modules=TARGET_MODULES,
        )
    )
    for _n, p in _lora_params(parts.unet):
        p.data = p.data.float()
    optimizer = torch.optim.AdamW([p for _n, p in _lora_params(parts.unet)], lr=config.lr)
    unet, optimizer = accelerator.prepare(parts.unet, optimizer)
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper: its state
    work.mkdir(parents=True, exist_ok=True)
    start = 0
    found = _last_checkpoint(work, fingerprint)
    if found is not None:
        _load_checkpoint(found[0], accelerator.unwrap_model(unet), inner)
        start = found[1]
        say(f"resuming from {found[0]} (step {start} of {config.steps})")
    loss_value = float("nan")
    sched = parts.scheduler
    scaling = float(parts.vae.config.scaling_factor)
    unet.train()
    for step in range(start, config.steps):
        g = _step_generator(config.seed, step)
        idx = torch.randint(len(cache), (config.batch_size,), generator=g).tolist()
        mean = torch.stack([cache[i][0] for i in idx])
        std = torch.stack([cache[i][1] for i in idx])
        latents = (mean + std * torch.randn(mean.shape, generator=g)) * scaling
        noise = torch.randn(latents.shape, generator=g)
        steps_t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), generator=g)
        noisy = sched.add_noise(latents, noise, steps_t)
        if sched.config.prediction_type == "v_prediction":
            target = sched.get_velocity(latents, noise, steps_t)
        else:
            target = noise
        hidden = torch.stack([cache[i][2] for i in idx]).to(device)
        extra: dict[str, Any] = {}
        if parts.xl:
            res = float(config.resolution)
            time_ids = torch.tensor([[res, res, 0.0, 0.0, res, res]] * len(idx))
            pooled = torch.stack([cache[i][3] for i in idx])
            extra["added_cond_kwargs"] = {
                "text_embeds": pooled.to(device),
                "time_ids": time_ids.to(device),
            }
        pred = unet(noisy.to(device), steps_t.to(device), hidden, **extra).sample
        loss = torch.nn.functional.mse_loss(pred.float(), target.to(device).float())
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach().item())
        done = step + 1
        if progress is not None:
            progress(done, config.steps, loss_value)
        if done % config.checkpoint_every == 0 and done < config.steps:
            _save_checkpoint(work, done, fingerprint, accelerator.unwrap_model(unet), inner)
    result = _write_lora(accelerator.unwrap_model(unet), parts.xl, out_file)
    shutil.rmtree(work, ignore_errors=True)  # the run is complete: nothing to resume
    return TrainResult(
        result, sha256_file(result), result.stat().st_size, config.steps, start, loss_value
    )


def _write_lora(unet: Any, xl: bool, out_file: Path) -> Path:
    """The LoRA in diffusers format (what ``load_lora_weights`` reads), written atomically."""
    import diffusers
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    layers = {k: v.detach().float().cpu().contiguous() for k, v in layers.items()}
    cls = diffusers.StableDiffusionXLPipeline if xl else diffusers.StableDiffusionPipeline
    out_file.parent.mkdir(parents=True, exist_ok=True)
    # beside the LoRA folder, not in it: that folder is pinned whole (one file)
    tmp = out_file.parent.parent / f".{out_file.parent.name}.save-{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cls.save_lora_weights(tmp, unet_lora_layers=layers, safe_serialization=True)
    os.replace(tmp / LORA_FILE, out_file)
    shutil.rmtree(tmp, ignore_errors=True)
    return out_file
