"""The one module that touches diffusers.

One :class:`Engine` per process loads a model (base + ControlNet) once and serves every
mode from shared components (``from_pipe``): layout→plate (ControlNet txt2img),
photo→plate (img2img, with or without the layout) and masked inpaint. Each call returns
images with their :class:`~bgart.generation.record.GenerationRecord`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

import bgart
from bgart.errors import BgartError, InputError, WeightsError
from bgart.generation import adapters
from bgart.generation.device import DeviceChoice, pick_device
from bgart.generation.levers import (
    CompilePlan,
    SpeedLevers,
    activate_fa3,
    apply_deepcache,
    apply_deterministic,
    apply_fp8,
    attention_context,
    compile_nets,
    compile_plan,
    environment,
    module_placement,
    refuse_unsupported,
    speed_levers,
)
from bgart.generation.lora import Loras, LoraUse
from bgart.generation.record import GenerationRecord, png_bytes
from bgart.generation.regions import RegionMap, regional_prompts
from bgart.generation.weights import WeightsLock, _expected, _read_pin, ensure_ready
from bgart.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

SCHEDULERS = {
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "unipc": "UniPCMultistepScheduler",
}

_HALF = [0] * 128 + [255] * 128
"""A lookup table for Image.point: a mask pixel counts when it is at least half on."""


class OutOfMemory(BgartError):
    """The accelerator ran out of memory (or a tensor was too large for one kernel's 32-bit
    indexing); retry with :meth:`Engine.enable_low_memory` (offload + VAE tiling)."""


class PlacementError(RuntimeError):
    """A model component is not in the engine's dtype or on its device: a bug, never a
    plate recorded with a dtype it was not made in."""


def _too_large_for_kernel(exc: RuntimeError) -> bool:
    """The RuntimeError convolutions and upsampling raise on tensors past 2**31 elements
    (a large plate decoded without tiling): VAE tiling is the cure, as for out-of-memory."""
    text = str(exc)
    return "32BitIndexMath" in text or "32-bit index" in text or "int32" in text


def release_memory(device: str) -> None:
    """Free what a failed call left: called outside the ``except`` block, once the
    traceback (whose frames hold the call's activations) is gone."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


@dataclass
class GenerationRequest:
    """Layout→plate or photo→plate. ``layout``/``photo`` are already at width×height."""

    prompt: str
    width: int
    height: int
    seeds: Sequence[int]
    negative: str = ""
    layout: Image.Image | None = None
    photo: Image.Image | None = None
    steps: int = 30
    guidance: float = 7.0
    controlnet_scale: float = 1.0
    strength: float = 0.6
    scheduler: str = "euler"
    preset: str | None = None
    layout_sha256: str | None = None
    photo_sha256: str | None = None
    loras: Sequence[LoraUse] = ()  # production LoRAs (bgart.generation.lora)
    references: adapters.References | None = None  # art boards (bgart.generation.adapters)
    delivery: Any = None  # bgart.generation.delivery.Delivery: refined up to a delivery size
    regions: RegionMap | None = None  # regional prompts (bgart.generation.regions)


@dataclass
class InpaintRequest:
    """Redo the white area of ``mask`` in ``image``; pixels outside the mask are kept exactly."""

    image: Image.Image
    mask: Image.Image
    prompt: str
    seed: int
    negative: str = ""
    steps: int = 30
    guidance: float = 7.0
    strength: float = 0.9
    scheduler: str = "euler"
    preset: str | None = None
    loras: Sequence[LoraUse] = ()


@dataclass
class Generated:
    image: Image.Image
    record: GenerationRecord
    _png: bytes | None = field(default=None, repr=False)

    def png(self) -> bytes:
        if self._png is None:
            self._png = png_bytes(self.image, self.record)
        return self._png


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_sha256(img: Image.Image) -> str:
    """Hash of an image's pixels as PNG without metadata (for masks and init images)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return sha256_bytes(buf.getvalue())


# torch.Generator.manual_seed takes -2**63..2**64-1 (anything else raises a bare ValueError
# mid-render), but it maps a negative seed onto a large positive one (-1 and 2**64-1 give
# the same image): two recorded seeds for one image. Seeds are whole numbers from 0.
SEED_MIN, SEED_MAX = 0, 2**64 - 1


def check_seeds(seeds: Sequence[object], label: str = "seed") -> None:
    """Refuse seeds a torch generator cannot take (they come from users and from records)."""
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_MIN <= seed <= SEED_MAX:
            raise InputError(
                f"{label} {seed!r}: out of range (a seed is a whole number {SEED_MIN}..{SEED_MAX})"
            )


def _check_size(width: int, height: int) -> None:
    for label, v in (("width", width), ("height", height)):
        if v % 8 or v < 64 or v > 4096:
            raise InputError(f"{label} {v}: must be a multiple of 8 between 64 and 4096")


class Engine:
    """A loaded model, ready to generate. Build with :meth:`load`."""

    def __init__(
        self,
        settings: Settings,
        model: str,
        architecture: str,
        pipe: Any,
        choice: DeviceChoice,
        *,
        controlnet: str | None = None,
        files: dict[str, str] | None = None,
    ) -> None:
        """Wrap a loaded pipeline. Use :meth:`load` (verified weights) or
        :meth:`from_pipeline` (a pipeline built elsewhere, e.g. by a benchmark)."""
        self.settings = settings
        self.model = model
        self.controlnet_name = controlnet
        self.choice = choice
        self.architecture = architecture
        self._files = dict(files or {})
        # `offload` (BGART_OFFLOAD) starts in low-memory mode; on the CPU there is nothing
        # to offload to, so it does nothing there.
        self._offload_setting = bool(settings.offload) and choice.accelerator
        self._low_memory = self._offload_setting
        self._tiling_override: bool | None = None  # vae_tiling_as: a record's VAE tiling
        self._compiled: CompilePlan | None = None
        self._environment: dict[str, str] | None = None
        self._speed = speed_levers(settings)
        capability = (
            torch.cuda.get_device_capability(choice.index or 0)
            if choice.device == "cuda" and self._speed != SpeedLevers()
            else None  # asked only when a lever needs it (an engine can be built GPU-less)
        )
        refuse_unsupported(
            self._speed, choice.device, capability, compile=bool(settings.compile)
        )  # before anything is applied: a refused lever leaves the pipeline as it was
        if settings.deterministic:
            apply_deterministic(choice.device)
        self._base = self._prepare(pipe)
        self._pipes: dict[str, Any] = {"layout": self._base}
        self.loras = Loras(settings, model, architecture, self._base)
        self.gpu_seconds = 0.0

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def load(
        cls, settings: Settings, model: str | None = None, say: Callable[[str], None] | None = None
    ) -> Engine:
        """Verify the model's files against weights.lock, then load it once."""
        name = model or settings.model
        lock = WeightsLock.load(settings.weights_lock)
        entry = lock.get(name)
        if entry.kind != "pipeline":
            raise WeightsError(f"model '{name}' is a {entry.kind}, not a base model")
        base_dir = ensure_ready(lock, settings.model_store, name)
        cn_dir = (
            ensure_ready(lock, settings.model_store, entry.controlnet) if entry.controlnet else None
        )
        if settings.cpu_threads:
            torch.set_num_threads(settings.cpu_threads)
        choice = pick_device(settings.device, settings.dtype)
        pipe = _load_pipeline(lock, name, base_dir, cn_dir, choice.dtype)
        files = _file_hashes(lock, name, base_dir, entry.controlnet, cn_dir)
        engine = cls(
            settings,
            name,
            entry.architecture,
            pipe,
            choice,
            controlnet=entry.controlnet,
            files=files,
        )
        if say:
            extra = f" + {entry.controlnet}" if entry.controlnet else ""
            say(f"model {name}{extra} on {choice.describe()}")
        return engine

    @classmethod
    def from_pipeline(
        cls,
        settings: Settings,
        pipe: Any,
        model: str,
        architecture: str,
        controlnet: str | None = None,
    ) -> Engine:
        """An engine around a pipeline already built (no weights.lock: records carry no file
        hashes). For benchmarks and integrations."""
        choice = pick_device(settings.device, settings.dtype)
        return cls(settings, model, architecture, pipe, choice, controlnet=controlnet)

    def _prepare(self, pipe: Any) -> Any:
        pipe.set_progress_bar_config(disable=True)
        self._place(pipe)
        if self.choice.device == "cuda":
            self._speed_levers(pipe)
        elif self.settings.compile or self.settings.fuse_qkv:
            log.info("compile/fuse_qkv apply on CUDA only; running eager on %s", self.choice.device)
        if self._speed.deepcache:  # any device with the DeepCache package
            apply_deepcache(pipe, self._speed.deepcache)
        return pipe

    def _place(self, pipe: Any) -> None:
        """Model CPU offload to this process's own device (``cuda:<rank's GPU>``, never the
        default GPU 0) in low-memory mode, else every component on that device."""
        if self._low_memory and self.choice.accelerator:  # the CPU: VAE tiling only
            pipe.enable_model_cpu_offload(device=self.choice.target)
        else:
            if getattr(pipe, "_all_hooks", None):
                pipe.remove_all_hooks()
                pipe._all_hooks = []
            pipe.to(self.choice.target)

    def _speed_levers(self, pipe: Any) -> None:
        """GPU speed settings, each off by default except channels_last (exact). Applied
        once, at load; compiled code serves only full-GPU calls of the sizes it was
        compiled for (:meth:`_compile_stance`)."""
        nets = [pipe.unet] + ([pipe.controlnet] if getattr(pipe, "controlnet", None) else [])
        if self.settings.channels_last:
            for net in nets:
                net.to(memory_format=torch.channels_last)
        if self.settings.fuse_qkv:
            pipe.fuse_qkv_projections()
        if self._speed.fp8:  # quantized before compile, as torchao's guide does
            apply_fp8(pipe)
        if self._speed.attention == "fa3":
            activate_fa3()
        if self.settings.compile:
            cache = Path(self.settings.model_store) / ".inductor-cache"
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
            os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
            os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
            self._compiled = compile_plan(self.settings)
            compile_nets(pipe, self._compiled)

    def _compile_stance(self, width: int, height: int) -> contextlib.AbstractContextManager[Any]:
        """Compiled code for the compiled sizes; eager, on purpose and recorded, for any
        other size or in low-memory mode (no recompile, no silent fallback)."""
        if self._compiled is None or self._compiles(width, height):
            return contextlib.nullcontext()
        return torch.compiler.set_stance("force_eager")

    def _compiles(self, width: int, height: int) -> bool:
        plan = self._compiled
        return plan is not None and not self._low_memory and plan.covers(width, height)

    def _pipe(self, mode: str) -> Any:
        """The pipeline for ``mode``, made from the loaded components on first use."""
        if mode in self._pipes:
            return self._pipes[mode]
        import diffusers

        xl = self.architecture == "sdxl"
        has_cn = getattr(self._base, "controlnet", None) is not None
        prefix = "StableDiffusionXL" if xl else "StableDiffusion"
        names = {
            "photo+layout": f"{prefix}ControlNetImg2ImgPipeline",
            "photo": f"{prefix}Img2ImgPipeline",
            "inpaint": f"{prefix}InpaintPipeline",
            "text": f"{prefix}Pipeline",
        }
        if mode in ("photo+layout",) and not has_cn:
            raise WeightsError(f"model '{self.model}' has no ControlNet: layouts need one")
        cls = getattr(diffusers, names[mode])
        # SDXL: no pipeline watermark (bgart's declared soft binding is added at export)
        extra = (
            dict(add_watermarker=False)
            if xl
            else dict(safety_checker=None, requires_safety_checker=False)
        )
        # from_pipe casts the shared components to its `dtype`, float32 unless told: without
        # it one photo call turns the whole model (and every later plate) to float32.
        pipe = cls.from_pipe(self._base, dtype=self.choice.dtype, **extra)
        pipe.set_progress_bar_config(disable=True)
        self._pipes[mode] = pipe
        return pipe

    @property
    def low_memory(self) -> bool:
        return self._low_memory

    @property
    def speed_levers(self) -> SpeedLevers:
        """The optional speed levers this engine runs with (from its settings)."""
        return self._speed

    @property
    def model_files(self) -> dict[str, str]:
        """sha256 of each verified weight file (empty for :meth:`from_pipeline`)."""
        return dict(self._files)

    @contextlib.contextmanager
    def vae_tiling_as(self, tiling: bool) -> Iterator[None]:
        """VAE tiling on or off for the calls inside, whatever the settings say: a record
        made with (or without) tiling is run again the same way (tiling changes pixels)."""
        self._tiling_override = tiling
        try:
            yield
        finally:
            self._tiling_override = None

    def enable_low_memory(self) -> None:
        """Model CPU offload (to this process's device) + VAE tiling, for GPUs too small
        for the whole model. The components are shared by every mode's pipeline, so the
        hooks serve them all."""
        if self._low_memory:
            return
        self._low_memory = True
        self._place(self._base)
        release_memory(self.choice.device)

    def disable_low_memory(self) -> None:
        """Back to the whole model on the device (the next shot may fit): low-memory mode
        is per shot. With the `offload` setting on, it stays."""
        if not self._low_memory or self._offload_setting:
            return
        self._low_memory = False
        self._place(self._base)

    def placement(self) -> dict[str, tuple[str, str]]:
        """``component -> (dtype, device)`` over every mode's pipeline made so far."""
        seen: dict[int, tuple[str, Any]] = {}
        for mode, pipe in self._pipes.items():
            for name, comp in pipe.components.items():
                if isinstance(comp, torch.nn.Module) and id(comp) not in seen:
                    seen[id(comp)] = (name if mode == "layout" else f"{mode}.{name}", comp)
        return module_placement(seen.values())

    def check_placement(self) -> None:
        """The dtype contract: every component in the chosen dtype, on this process's device
        (its offload hooks' target in low-memory mode). Checked after every call, so that a
        record never names a dtype or device its plate was not made with."""
        want = (self.choice.dtype_name, str(torch.device(self.choice.target)))
        wrong = {n: p for n, p in self.placement().items() if p != want}
        if wrong:
            found = ", ".join(f"{n} {d} on {dev}" for n, (d, dev) in sorted(wrong.items()))
            raise PlacementError(f"expected {want[0]} on {want[1]}; found {found}")

    def levers(self, width: int, height: int) -> dict[str, Any]:
        """The levers in force for a call at this size, as its record states them: those
        that change pixels or kernels. Empty on the CPU with the defaults, so records made
        there keep the exact bytes earlier versions wrote."""
        out: dict[str, Any] = {}
        if self._tiling(width, height):
            out["vae_tiling"] = True
        if self.settings.deterministic:
            out["deterministic"] = True
        if self.choice.device != "cpu":
            out |= {
                "offload": self._low_memory,
                "compile": self.settings.compile_mode if self._compiles(width, height) else "",
                "fuse_qkv": bool(self.settings.fuse_qkv),
                "channels_last": bool(self.settings.channels_last),
                "tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            }
        return out | self._speed.record()

    def _tiling(self, width: int, height: int) -> bool:
        if self._tiling_override is not None:
            return self._tiling_override
        return bool(self.settings.vae_tiling) or self._low_memory

    def _set_tiling(self, width: int, height: int) -> None:
        vae = self._base.vae
        if self._tiling(width, height):
            vae.enable_tiling()
        else:
            vae.disable_tiling()

    def environment(self) -> dict[str, str]:
        if self._environment is None:
            self._environment = environment(self.choice.device, self.choice.index)
        return self._environment

    # ---- generation ----------------------------------------------------------------------
    def _scheduler(self, pipe: Any, name: str) -> None:
        if name not in SCHEDULERS:
            raise InputError(f"scheduler '{name}': not one of {', '.join(SCHEDULERS)}")
        import diffusers

        cls = getattr(diffusers, SCHEDULERS[name])
        if type(pipe.scheduler).__name__ != cls.__name__:
            pipe.scheduler = cls.from_config(pipe.scheduler.config)

    def _callback(self, progress: Progress | None, steps: int) -> Any:
        if progress is None:
            return None

        def on_step_end(_pipe: Any, step: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            progress(step + 1, steps)  # no tensor is touched: no host-device sync
            return kwargs

        return on_step_end

    def _run(
        self, pipe: Any, kwargs: dict[str, Any], width: int, height: int
    ) -> tuple[list[Image.Image], float]:
        self._set_tiling(width, height)
        start = time.perf_counter()
        failure = None
        try:
            with (
                torch.inference_mode(),
                self._compile_stance(width, height),
                attention_context(self._speed.attention),
            ):
                images = pipe(**kwargs, output_type="pil").images
        except torch.OutOfMemoryError as exc:
            failure = f"out of GPU memory on {self.choice.describe()}: {_first_line(exc)}"
        except RuntimeError as exc:
            if not _too_large_for_kernel(exc):
                raise
            failure = f"plate too large for one kernel on {self.choice.describe()}: {exc}"
        if failure is not None:
            # Here, not in the except block: there the traceback still holds the failed
            # call's tensors and empty_cache() frees little.
            release_memory(self.choice.device)
            raise OutOfMemory(failure)
        if self.choice.device == "cuda":
            torch.cuda.synchronize()
        self.check_placement()
        seconds = time.perf_counter() - start
        self.gpu_seconds += seconds
        return images, seconds

    def _record(
        self, mode: str, req: Any, seeds: Sequence[int], index: int, seconds: float, **kw: Any
    ) -> GenerationRecord:
        extra: dict[str, Any] = {}
        if self.choice.device == "cpu":
            extra["cpu_threads"] = torch.get_num_threads()
        levers = self.levers(kw["width"], kw["height"])
        if levers:
            extra["levers"] = levers
        extra |= self.loras.record()  # {} without LoRA: earlier records keep their bytes
        extra |= adapters.record_extra(self, req)  # {} without art-board references
        if getattr(req, "regions", None) is not None:  # omitted when unused: bytes kept
            extra["regions"] = req.regions.record() | adapters.region_extra(self, req)
        return GenerationRecord(
            mode=mode,
            model=self.model,
            architecture=self.architecture,
            model_files=dict(self._files),
            controlnet=kw.pop("controlnet", None),
            prompt=req.prompt,
            negative=req.negative,
            preset=req.preset,
            scheduler=req.scheduler,
            steps=req.steps,
            guidance=req.guidance,
            controlnet_scale=kw.pop("controlnet_scale", 0.0),
            strength=kw.pop("strength", None),
            width=kw.pop("width"),
            height=kw.pop("height"),
            seeds=tuple(int(s) for s in seeds),
            batch_index=index,
            device=self.choice.device,
            dtype=str(self._base.unet.dtype).removeprefix("torch."),  # checked: the truth
            seconds=round(seconds / max(len(seeds), 1), 4),
            bgart_version=bgart.__version__,
            extra=extra,
            environment=self.environment(),
            **kw,
        )

    def generate(self, req: GenerationRequest, progress: Progress | None = None) -> list[Generated]:
        """One batched call: an image per seed in ``req.seeds``."""
        if req.delivery is not None:  # base pass, then tiled up to the delivery size
            from bgart.generation.delivery import deliver

            return deliver(self, req, progress)
        _check_size(req.width, req.height)
        if not req.seeds:
            raise InputError("seeds: at least one seed is needed")
        check_seeds(req.seeds)
        if not 1 <= req.steps <= 150:
            raise InputError(f"steps {req.steps}: must be 1..150")
        for label, img in (("layout", req.layout), ("photo", req.photo)):
            if img is not None and img.size != (req.width, req.height):
                raise InputError(
                    f"{label} is {img.size[0]}x{img.size[1]}, plate is {req.width}x{req.height}"
                )
        has_cn = getattr(self._base, "controlnet", None) is not None
        if req.layout is not None and not has_cn:
            raise WeightsError(f"model '{self.model}' has no ControlNet: layouts need one")
        if req.photo is not None:
            mode = "photo+layout" if req.layout is not None else "photo"
        else:
            mode = "layout" if req.layout is not None else "text"
        pipe = self._pipe(mode)
        self._scheduler(pipe, req.scheduler)
        n = len(req.seeds)
        kwargs: dict[str, Any] = dict(
            prompt=[req.prompt] * n,
            negative_prompt=[req.negative] * n,
            num_inference_steps=req.steps,
            guidance_scale=req.guidance,
            generator=[torch.Generator("cpu").manual_seed(int(s)) for s in req.seeds],
            callback_on_step_end=self._callback(progress, self._steps_run(req, mode)),
        )
        if mode in ("layout", "text"):
            kwargs.update(width=req.width, height=req.height)
        if mode == "layout":
            kwargs.update(image=req.layout, controlnet_conditioning_scale=req.controlnet_scale)
        elif mode == "photo":
            kwargs.update(image=req.photo, strength=req.strength)
        elif mode == "photo+layout":
            kwargs.update(
                image=req.photo,
                control_image=req.layout,
                strength=req.strength,
                controlnet_conditioning_scale=req.controlnet_scale,
            )
        self.loras.activate(req.loras)
        with adapters.applied(self, pipe, req, kwargs), regional_prompts(pipe, req, n):
            images, seconds = self._run(pipe, kwargs, req.width, req.height)
        uses_cn = mode in ("layout", "photo+layout")
        return [
            Generated(
                img,
                self._record(
                    "photo" if req.photo is not None else "layout",
                    req,
                    req.seeds,
                    i,
                    seconds,
                    controlnet=self.controlnet_name if uses_cn else None,
                    controlnet_scale=req.controlnet_scale if uses_cn else 0.0,
                    strength=req.strength if req.photo is not None else None,
                    width=req.width,
                    height=req.height,
                    layout_sha256=req.layout_sha256,
                    photo_sha256=req.photo_sha256,
                ),
            )
            for i, img in enumerate(images)
        ]

    @staticmethod
    def _steps_run(req: GenerationRequest, mode: str) -> int:
        if mode.startswith("photo"):
            return max(1, min(req.steps, int(req.steps * req.strength)))
        return req.steps

    def inpaint(self, req: InpaintRequest, progress: Progress | None = None) -> Generated:
        """Regenerate the masked area. Outside the mask the result is the input, exactly:
        the VAE round trip would otherwise shift every pixel and erase human paint."""
        w, h = req.image.size
        _check_size(w, h)
        check_seeds([req.seed])
        if req.mask.size != req.image.size:
            raise InputError(f"mask is {req.mask.size[0]}x{req.mask.size[1]}, plate is {w}x{h}")
        mask = req.mask.convert("L").point(_HALF)
        if mask.getbbox() is None:
            raise InputError("mask is empty: paint the area to redo")
        image = req.image.convert("RGB")
        pipe = self._pipe("inpaint")
        self._scheduler(pipe, req.scheduler)
        steps_run = max(1, min(req.steps, int(req.steps * req.strength)))
        kwargs = dict(
            prompt=req.prompt,
            negative_prompt=req.negative,
            image=image,
            mask_image=mask,
            width=w,
            height=h,
            strength=req.strength,
            num_inference_steps=req.steps,
            guidance_scale=req.guidance,
            generator=torch.Generator("cpu").manual_seed(int(req.seed)),
            callback_on_step_end=self._callback(progress, steps_run),
        )
        self.loras.activate(req.loras)
        images, seconds = self._run(pipe, kwargs, w, h)
        result = Image.composite(images[0].convert("RGB"), image, mask)
        record = self._record(
            "inpaint",
            req,
            [req.seed],
            0,
            seconds,
            strength=req.strength,
            width=w,
            height=h,
            init_sha256=image_sha256(image),
            mask_sha256=image_sha256(mask),
        )
        return Generated(result, record)


def _file_hashes(
    lock: WeightsLock, model: str, base_dir: Path, controlnet: str | None, cn_dir: Path | None
) -> dict[str, str]:
    """sha256 of every weight file, as verified, for the records."""
    out: dict[str, str] = {}
    for name, folder in ((model, base_dir), (controlnet, cn_dir)):
        if name is None or folder is None:
            continue
        for rel, (_size, sha) in _expected(lock.get(name), _read_pin(folder)).items():
            if rel.endswith(".safetensors"):
                out[f"{name}/{rel}"] = sha
    return out


def _load_pipeline(
    lock: WeightsLock, model: str, base_dir: Path, cn_dir: Path | None, dtype: torch.dtype
) -> Any:
    """Load base + ControlNet from verified local folders: safetensors only, no network."""
    import diffusers

    _quiet_libraries()
    entry = lock.get(model)
    common: dict[str, Any] = dict(dtype=dtype, use_safetensors=True, local_files_only=True)
    extra: dict[str, Any] = {}
    if cn_dir is not None and entry.controlnet:
        variant = lock.get(entry.controlnet).variant
        extra["controlnet"] = diffusers.ControlNetModel.from_pretrained(
            cn_dir, **common, variant=variant
        )
    if entry.variant:
        common["variant"] = entry.variant
    if entry.architecture == "sdxl":
        # diffusers hides its own DWT-DCT watermark in every SDXL image when the
        # invisible-watermark package is present (bgart depends on it for its declared soft
        # binding): that would change pixels undeclared and refuses images under 256 px
        extra["add_watermarker"] = False
        cls = (
            diffusers.StableDiffusionXLControlNetPipeline
            if extra
            else diffusers.StableDiffusionXLPipeline
        )
    else:
        cls = (
            diffusers.StableDiffusionControlNetPipeline
            if extra
            else diffusers.StableDiffusionPipeline
        )
        extra.update(safety_checker=None, requires_safety_checker=False, feature_extractor=None)
    try:
        pipe = cls.from_pretrained(base_dir, **common, **extra)
    except (OSError, ValueError) as exc:
        raise WeightsError(
            f"model '{model}' in {base_dir} did not load: {str(exc).splitlines()[0]}"
        ) from None
    tok = pipe.tokenizer
    if tok is None or len(tok) <= 2:  # a missing vocabulary fails silently
        raise WeightsError(f"model '{model}': tokenizer in {base_dir} is missing")
    return pipe


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _quiet_libraries() -> None:
    """Loader progress bars and warnings are noise on a render node's log."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))
