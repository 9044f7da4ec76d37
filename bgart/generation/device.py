"""Choosing where and in what precision models run: cuda > mps > cpu."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from bgart.errors import InputError

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cuda" | "mps" | "cpu"
    dtype: torch.dtype
    name: str  # what the hardware calls itself
    index: int | None = None  # the CUDA device of this process (its rank's own GPU)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def target(self) -> str:
        """The torch device string models go to: ``cuda:<index>`` on CUDA, so that every
        rank of a multi-GPU batch (and its offload hooks) uses its own GPU, never GPU 0."""
        return f"{self.device}:{self.index}" if self.index is not None else self.device

    @property
    def accelerator(self) -> bool:
        return self.device in ("cuda", "mps")

    def describe(self) -> str:
        return f"{self.target} ({self.name}), {self.dtype_name}"


def _cuda_ok() -> bool:
    return torch.cuda.is_available()


def _mps_ok() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def cuda_index(env: Mapping[str, str], count: int, current: int) -> int:
    """This process's GPU: ``LOCAL_RANK`` (set by accelerate/torchrun for each rank) when it
    names a visible device, else the current device."""
    local = env.get("LOCAL_RANK", "")
    if local.isdigit() and int(local) < count:
        return int(local)
    return current


def pick_device(requested: str = "auto", dtype: str = "auto") -> DeviceChoice:
    """The device to run on, and its dtype.

    ``auto`` prefers CUDA, then Apple MPS, then the CPU. On CUDA the dtype defaults to
    bfloat16 where the GPU supports it (no fp16 overflow in the VAE), else float16; the CPU
    runs float32 unless bfloat16 is asked for by name (slow, but the same dtype paths as a
    GPU run: the tests exercise the GPU's dtype contract this way); float16 is refused there.
    """
    if requested not in ("auto", "cuda", "mps", "cpu"):
        raise InputError(f"setting 'device': '{requested}' is not one of auto, cuda, mps, cpu")
    if dtype not in ("auto", *DTYPES):
        raise InputError(f"setting 'dtype': '{dtype}' is not one of auto, {', '.join(DTYPES)}")
    device = requested
    if requested == "auto":
        device = "cuda" if _cuda_ok() else "mps" if _mps_ok() else "cpu"
    elif requested == "cuda" and not _cuda_ok():
        raise InputError("setting 'device': cuda requested but no CUDA GPU is available")
    elif requested == "mps" and not _mps_ok():
        raise InputError("setting 'device': mps requested but Apple MPS is not available")
    index = None
    if device == "cuda":
        index = cuda_index(os.environ, torch.cuda.device_count(), torch.cuda.current_device())
        torch.cuda.set_device(index)
        name = torch.cuda.get_device_name(index)
        auto = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif device == "mps":
        name, auto = "Apple GPU", torch.float16
    else:
        name, auto = f"{torch.get_num_threads()} threads", torch.float32
    chosen = auto if dtype == "auto" else DTYPES[dtype]
    if device == "cpu" and chosen == torch.float16:
        raise InputError(
            "setting 'dtype': float16 is not supported on the CPU; use float32 (or bfloat16)"
        )
    return DeviceChoice(device, chosen, name, index)
