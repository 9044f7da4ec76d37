"""GPU speed and determinism levers, and what a record says about the machine.

Kept apart from :mod:`bgart.generation.engine` (which applies them) so that the settings they
derive from can be read and tested without a GPU:

* :func:`compile_options` / :func:`compile_nets`: ``torch.compile`` that stays compiled
  (``fullgraph=True``, ``dynamic=False``, each module its own code object and so its own
  recompile budget, plate sizes outside the compiled set run eager on purpose);
* :func:`apply_deterministic`: everything CUDA needs for run-to-run identical kernels;
* :func:`environment`: GPU model, driver, CUDA, torch and diffusers versions, for the ledger;
* :class:`SpeedLevers`: the optional speed levers (SDPA kernel choice, FlashAttention-3, fp8
  via torchao, DeepCache, CUDA graphs), each off by default, refused on a device that cannot
  run it (:func:`refuse_unsupported`) and stated in the record when on.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from bgart.errors import InputError

log = logging.getLogger(__name__)

# Each compiled module (UNet, ControlNet, VAE decoder) keeps one graph per input shape it
# meets (dynamic=False). Shapes vary by plate size (a compiled size of compile_sizes), batch
# (the variations of a shot, 1 in the one-at-a-time fallback; 2x under CFG, guidance > 1)
# and the inpaint call (batch 1, 9-channel UNet input on SDXL inpaint checkpoints). Per size
# that is at most 2 batches x 2 CFG states x 2 (generate, inpaint) = 8 graphs; with up to
# MAX_COMPILE_SIZES sizes, 8 x 8 = 64. torch's default limit (8) would silently drop a
# production's second or third plate size to eager after the 8th graph; past 64 something
# is wrong (a shape we did not foresee), and then torch raises rather than fall back
# without a word (fail_on_recompile_limit_hit).
MAX_COMPILE_SIZES = 8
GRAPHS_PER_SIZE = 8
RECOMPILE_LIMIT = MAX_COMPILE_SIZES * GRAPHS_PER_SIZE

# diffusers' "speed up inference" guide for SDXL (torch.compile section): these inductor
# flags gave its quoted speed-ups on an A100/H100.
INDUCTOR_FLAGS = {
    "conv_1x1_as_mm": True,
    "coordinate_descent_tuning": True,
    "epilogue_fusion": False,
    "coordinate_descent_check_all_directions": True,
}

# CUBLAS needs this before its first handle is created for deterministic GEMMs.
CUBLAS_WORKSPACE = ":4096:8"


@dataclass(frozen=True)
class CompilePlan:
    """How the nets are compiled, from the settings."""

    mode: str
    sizes: frozenset[tuple[int, int]]  # plate sizes (width, height) served compiled
    regional: bool  # compile_repeated_blocks (the transformer blocks) instead of whole nets

    def options(self) -> dict[str, Any]:
        return {"mode": self.mode, "fullgraph": True, "dynamic": False}

    def covers(self, width: int, height: int) -> bool:
        return (width, height) in self.sizes


def parse_sizes(text: str, default: tuple[int, int]) -> frozenset[tuple[int, int]]:
    """``"1024x1024,1344x768"`` → sizes; empty → the project's plate size only."""
    sizes: set[tuple[int, int]] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        w, sep, h = part.lower().partition("x")
        if not sep or not w.isdigit() or not h.isdigit() or int(w) % 8 or int(h) % 8:
            raise InputError(
                f"setting 'compile_sizes': '{part}' is not WIDTHxHEIGHT in multiples of 8"
            )
        sizes.add((int(w), int(h)))
    if len(sizes) > MAX_COMPILE_SIZES:
        raise InputError(
            f"setting 'compile_sizes': {len(sizes)} sizes; at most {MAX_COMPILE_SIZES} "
            "(each costs compile time and graphs)"
        )
    return frozenset(sizes or {default})


def compile_plan(settings: Any) -> CompilePlan:
    mode = settings.compile_mode
    if settings.deterministic and "autotune" in mode:
        # max-autotune picks kernels by timing them: two runs may pick two kernels.
        log.info("deterministic: compile mode %s replaced by 'default'", mode)
        mode = "default"
    if getattr(settings, "cuda_graphs", False) and mode not in ("reduce-overhead", "max-autotune"):
        # the modes that capture CUDA graphs; reduce-overhead does not autotune, so it
        # also holds in deterministic mode
        mode = "reduce-overhead"
    sizes = parse_sizes(settings.compile_sizes, (settings.width, settings.height))
    return CompilePlan(mode, sizes, settings.compile_regional)


def _set_config(module: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if hasattr(module, key):  # names differ between torch versions
            setattr(module, key, value)


def configure_dynamo() -> None:
    """The raised, justified recompile limit (see :data:`RECOMPILE_LIMIT`); past it, fail."""
    import torch._dynamo

    _set_config(
        torch._dynamo.config,
        {
            "recompile_limit": RECOMPILE_LIMIT,
            "cache_size_limit": RECOMPILE_LIMIT,  # its name before torch 2.7
            "accumulated_recompile_limit": max(256, 4 * RECOMPILE_LIMIT),
            "fail_on_recompile_limit_hit": True,
        },
    )


def compile_nets(pipe: Any, plan: CompilePlan, backend: str = "inductor") -> list[str]:
    """Compile the UNet, the ControlNet and the VAE decoder of ``pipe`` in place.

    Each module's own ``forward`` is compiled (not ``torch.compile(module)``, whose wrapper
    compiles ``nn.Module._call_impl``, one code object that every compiled module shares,
    and so one recompile budget for UNet and ControlNet together). With ``regional``, only
    the repeated transformer blocks are compiled (``compile_repeated_blocks``): a fraction of
    the compile time for most of the speed. Returns the names compiled.
    """
    configure_dynamo()
    if backend == "inductor":
        import torch._inductor.config as inductor_config

        _set_config(inductor_config, INDUCTOR_FLAGS)
    opts: dict[str, Any] = plan.options() | {"backend": backend}
    if backend != "inductor":
        opts.pop("mode")
    done: list[str] = []
    for name in ("unet", "controlnet"):
        net = getattr(pipe, name, None)
        if net is None:
            continue
        if plan.regional and getattr(net, "_repeated_blocks", None):
            net.compile_repeated_blocks(**opts)
        else:
            net.forward = functools.partial(torch.compile(own_forward(net), **opts), net)
        done.append(name)
    decoder = pipe.vae.decoder
    decoder.forward = functools.partial(torch.compile(own_forward(decoder), **opts), decoder)
    done.append("vae.decoder")
    return done


def own_forward(module: Any) -> Any:
    """The module class's own ``forward`` function, under diffusers' decorators.

    UNet2DConditionModel.forward and ControlNetModel.forward are both wrapped by
    ``apply_lora_scale`` (``diffusers/utils/peft_utils.py``): compiling the bound methods
    would compile that one ``wrapper`` code object for both nets, whose differing keyword
    arguments then recompile each other's graphs out of a shared budget. The wrapper only
    scales LoRA layers by an ``attention_kwargs`` scale, which bgart never passes.
    Its code object is what dynamo keeps graphs (and counts recompiles) for."""
    return inspect.unwrap(type(module).forward)


def graph_counts(pipe: Any) -> dict[str, int]:
    """Graphs dynamo holds per compiled module (``TORCH_LOGS=recompiles`` tells why each
    was made): what the recompile limit is counted against."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    out: dict[str, int] = {}
    for name, module in (
        ("unet", getattr(pipe, "unet", None)),
        ("controlnet", getattr(pipe, "controlnet", None)),
        ("vae.decoder", pipe.vae.decoder),
    ):
        if module is not None:
            out[name] = len(_debug_get_cache_entry_list(own_forward(module).__code__))
    return out


def apply_deterministic(device: str) -> None:
    """Run-to-run identical kernels: deterministic algorithms (an op without one raises
    rather than run nondeterministically), cuDNN without benchmarking, a fixed cuBLAS
    workspace and inductor's deterministic mode. Costs some speed; off by default."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    os.environ.setdefault("TORCHINDUCTOR_DETERMINISTIC", "1")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    import torch._inductor.config as inductor_config

    _set_config(inductor_config, {"deterministic": True})


def environment(device: str, index: int | None) -> dict[str, str]:
    """What the record says about the machine (kept out of the PNG's recipe: the same recipe
    gives the same bytes on any machine whose kernels agree; the ledger keeps it)."""
    import diffusers

    env = {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
    }
    if device == "cuda":
        i = index or 0
        props = torch.cuda.get_device_properties(i)
        env |= {
            "gpu": props.name,
            "gpu_memory_gib": f"{props.total_memory / 2**30:.1f}",
            "compute_capability": f"{props.major}.{props.minor}",
            "cuda": str(torch.version.cuda),
            "cudnn": str(torch.backends.cudnn.version()),
            "driver": _driver_version(),
        }
    else:
        env["cpu"] = platform.processor() or platform.machine()
    return env


def _driver_version() -> str:
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        pass
    try:
        text = open("/proc/driver/nvidia/version", encoding="ascii").read()  # noqa: SIM115
        return text.split("Kernel Module")[1].split()[0] if "Kernel Module" in text else "unknown"
    except OSError:
        return "unknown"


def module_placement(modules: Iterable[tuple[str, Any]]) -> dict[str, tuple[str, str]]:
    """``name -> (dtype, device)`` of each module's parameters (of its offload hook's
    execution device when offloaded); a module mixing dtypes reads ``mixed``."""
    out: dict[str, tuple[str, str]] = {}
    for name, module in modules:
        if not isinstance(module, torch.nn.Module):
            continue
        dtypes = {str(p.dtype).removeprefix("torch.") for p in module.parameters()}
        devices = {str(p.device) for p in module.parameters()}
        hook = getattr(module, "_hf_hook", None)
        target = getattr(hook, "execution_device", None)
        device = str(target) if target is not None else "/".join(sorted(devices))
        out[name] = ("/".join(sorted(dtypes)) if len(dtypes) == 1 else "mixed", device)
    return out


# ---- speed levers beyond compile: each optional, off by default, recorded when on ----------
# ``attention``: which scaled-dot-product kernel runs, through torch.nn.attention.sdpa_kernel
# around every call ("fa3": FlashAttention-3, Hopper only, activated once per process).
ATTENTION_BACKENDS = ("default", "math", "efficient", "flash", "fa3", "cudnn")
_CUDA_ONLY_ATTENTION = ("efficient", "flash", "fa3", "cudnn")
FP8_CAPABILITY: tuple[int, int] = (8, 9)  # float8 tensor cores: Ada (8.9) and Hopper (9.0) on
FA3_CAPABILITY: tuple[int, int] = (9, 0)  # FlashAttention-3 is written for Hopper


@dataclass(frozen=True)
class SpeedLevers:
    """The optional levers of the settings (docs/gpu.md, "Speed levers"). Each changes which
    kernels run, so each is stated in the record when it is not the default, and
    ``bench/gpu_speed.py`` measures each against diffusers' default in one run."""

    attention: str = "default"
    fp8: bool = False  # torchao float8 weights and activations in the UNet/ControlNet linears
    deepcache: int = 0  # DeepCache interval: the deep UNet features reused for N-1 of N steps
    cuda_graphs: bool = False  # compiled sizes replayed as CUDA graphs (compile mode)

    @staticmethod
    def record_keys() -> tuple[str, ...]:
        """The names the record states these levers under."""
        return ("attention", "fp8", "deepcache", "cuda_graphs")

    def record(self) -> dict[str, Any]:
        """What a record states: the levers that are on (none with the defaults, so plates
        made without them keep their bytes)."""
        out: dict[str, Any] = {}
        if self.attention != "default":
            out["attention"] = self.attention
        if self.fp8:
            out["fp8"] = True
        if self.deepcache:
            out["deepcache"] = self.deepcache
        if self.cuda_graphs:
            out["cuda_graphs"] = True
        return out


def speed_levers(settings: Any) -> SpeedLevers:
    """The levers the settings ask for; a value no lever takes is refused by name."""
    attention = str(settings.attention).strip().lower()
    if attention not in ATTENTION_BACKENDS:
        raise InputError(
            f"setting 'attention': '{settings.attention}' is not one of "
            f"{', '.join(ATTENTION_BACKENDS)}"
        )
    deepcache = settings.deepcache
    if (
        isinstance(deepcache, bool)
        or not isinstance(deepcache, int)
        or deepcache in (1,)
        or not (0 <= deepcache <= 10)
    ):
        raise InputError(f"setting 'deepcache': {deepcache!r}; 0 (off) or a cache interval 2..10")
    return SpeedLevers(attention, bool(settings.fp8), deepcache, bool(settings.cuda_graphs))


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def refuse_unsupported(
    levers: SpeedLevers,
    device: str,
    capability: tuple[int, int] | None,
    *,
    compile: bool,
) -> None:
    """Refuse, one line naming the setting, a lever this device or install cannot run:
    never a silent fallback to kernels other than the record would say."""
    where = f"this engine runs on {device}"
    cap: tuple[int, int] = capability if capability is not None else (0, 0)
    if capability is not None:
        where += f" (compute capability {capability[0]}.{capability[1]})"
    if levers.attention in _CUDA_ONLY_ATTENTION and device != "cuda":
        raise InputError(f"setting 'attention': '{levers.attention}' runs on CUDA only; {where}")
    if levers.attention == "fa3" and cap < FA3_CAPABILITY:
        raise InputError(f"setting 'attention': 'fa3' needs a Hopper GPU (9.0 or later); {where}")
    if levers.fp8:
        if device != "cuda" or cap < FP8_CAPABILITY:
            raise InputError(
                "setting 'fp8': needs an NVIDIA GPU with float8 tensor cores (compute "
                f"capability 8.9 or later: Ada, Hopper); {where}"
            )
        if not _have("torchao"):
            raise InputError("setting 'fp8': needs torchao (pip install torchao)")
    if levers.cuda_graphs:
        if device != "cuda":
            raise InputError(f"setting 'cuda_graphs': CUDA graphs need CUDA; {where}")
        if not compile:
            raise InputError(
                "setting 'cuda_graphs': needs compile = true (torch.compile captures the "
                "graphs, for the compiled sizes only)"
            )
    if levers.deepcache:
        if compile:
            raise InputError(
                "setting 'deepcache': not with compile = true (its step counter is Python "
                "state a full-graph compile cannot hold)"
            )
        if not _have("DeepCache"):
            raise InputError(
                "setting 'deepcache': needs the DeepCache package (pip install DeepCache)"
            )


def attention_context(name: str) -> contextlib.AbstractContextManager[Any]:
    """The SDPA kernel choice for one call (``default``: torch picks, as diffusers does)."""
    if name == "default":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {
        "math": SDPBackend.MATH,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "flash": SDPBackend.FLASH_ATTENTION,
        "fa3": SDPBackend.FLASH_ATTENTION,  # served by FA3 once activate_fa3() ran
        "cudnn": SDPBackend.CUDNN_ATTENTION,
    }[name]
    return sdpa_kernel([backend])


def activate_fa3() -> None:
    """Route torch's flash-attention backend to FlashAttention-3 (process-wide)."""
    from torch.nn import attention

    activate = getattr(attention, "activate_flash_attention_impl", None)
    if activate is None:
        raise InputError(
            f"setting 'attention': 'fa3' needs torch 2.9 or later, not {torch.__version__}"
        )
    try:
        activate("FA3")
    except (ValueError, RuntimeError, ImportError) as exc:
        raise InputError(f"setting 'attention': 'fa3' is not available here ({exc})") from None


def apply_fp8(pipe: Any) -> list[str]:
    """float8 weights with dynamic float8 activations (torchao) in the UNet's and the
    ControlNet's linear layers; applied before compile, as torchao's guide does."""
    from torchao.quantization import (  # type: ignore[import-not-found]
        Float8DynamicActivationFloat8WeightConfig,
        quantize_,
    )

    done = []
    for name in ("unet", "controlnet"):
        net = getattr(pipe, name, None)
        if net is not None:
            quantize_(net, Float8DynamicActivationFloat8WeightConfig())
            done.append(name)
    return done


def apply_deepcache(pipe: Any, interval: int) -> Any:
    """DeepCache on ``pipe``'s UNet (its package wraps the UNet's blocks): the deep features
    are computed every ``interval`` steps and reused in between. Changes pixels."""
    from DeepCache import DeepCacheSDHelper  # type: ignore[import-not-found]

    helper = DeepCacheSDHelper(pipe=pipe)
    helper.set_params(cache_interval=interval, cache_branch_id=0)
    helper.enable()
    return helper
