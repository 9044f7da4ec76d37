"""Production LoRAs in an engine: loaded through diffusers' LoRA loaders, pinned in weights.lock.

A render names its LoRAs with scales (:class:`LoraUse`, filled from the preset and the shot
list). :class:`Loras` keeps, for one engine, the LoRAs loaded so far as peft adapters on the
shared UNet and text encoders (every mode's pipeline shares them: ``from_pipe``):

* each LoRA is a ``kind = "lora"`` entry of weights.lock, verified like any model file
  (:func:`~bgart.generation.weights.ensure_ready`) before its bytes are loaded, and for the
  engine's architecture only;
* before every call :meth:`Loras.activate` sets the adapters the call names, at their scales
  (``set_adapters``), or, for a call that names none, disables every adapter: peft then
  computes each layer as its base layer alone, so a plate without a LoRA is made exactly as
  by an engine that never loaded one;
* :meth:`Loras.record` is what the generation record keeps (``extra["loras"]``: name, file,
  sha256, scale, in the order given, since the adapters' deltas are summed in that order).
  A record's LoRA is run again only from a file with the recorded sha256.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bgart.errors import InputError, WeightsError
from bgart.generation.weights import (
    WeightsLock,
    _expected,
    _read_pin,
    ensure_ready,
    lora_file,
    pull_if_missing,
)
from bgart.settings import Settings

MAX_LORAS = 8  # per render: more is a mistake, not a style
SCALE_MAX = 2.0  # |scale|: past it a LoRA burns the image; refused as a typo


@dataclass(frozen=True)
class LoraUse:
    """One LoRA for one render: its weights.lock name and scale. ``sha256``, when set (a
    record run again), is the file the LoRA must still be."""

    name: str
    scale: float = 1.0
    sha256: str | None = None


def check_uses(uses: Sequence[LoraUse], what: str = "loras") -> None:
    """Refuse LoRA uses no render can take: a scale out of range, a name twice, too many."""
    if len(uses) > MAX_LORAS:
        raise InputError(f"{what}: {len(uses)} LoRAs, at most {MAX_LORAS} per render")
    seen: set[str] = set()
    for use in uses:
        if not isinstance(use.name, str) or not use.name.strip():
            raise InputError(f"{what}: a LoRA needs a name")
        scale = use.scale
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not math.isfinite(scale)
            or abs(scale) > SCALE_MAX
        ):
            raise InputError(
                f"{what}: LoRA '{use.name}' scale {scale!r} is not a number "
                f"-{SCALE_MAX}..{SCALE_MAX}"
            )
        if use.name in seen:
            raise InputError(f"{what}: LoRA '{use.name}' is named twice")
        seen.add(use.name)


def uses_from_record(extra: dict[str, Any]) -> tuple[LoraUse, ...]:
    """The LoRAs a record's ``extra`` names (a record is input: checked like one)."""
    raw = extra.get("loras")
    if raw is None:
        return ()
    where = "generation record: extra 'loras'"
    if not isinstance(raw, list):
        raise InputError(f"{where} must be a list of {{name, file, sha256, scale}}")
    uses: list[LoraUse] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InputError(f"{where}: each entry needs a 'name'")
        sha = item.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64:
            raise InputError(f"{where}: LoRA '{item['name']}' has no sha256 of its file")
        uses.append(LoraUse(item["name"], item.get("scale", 1.0), sha))
    check_uses(uses, where)
    return tuple(uses)


def _adapter(name: str) -> str:
    """The peft adapter name of a weights.lock name (which may hold dots or spaces)."""
    return "lora_" + hashlib.sha256(name.encode()).hexdigest()[:16]


class Loras:
    """The LoRAs loaded into one engine's pipeline, and those the current call uses."""

    def __init__(self, settings: Settings, model: str, architecture: str, pipe: Any) -> None:
        self.settings = settings
        self.model = model
        self.architecture = architecture
        self.pipe = pipe
        self._loaded: dict[str, tuple[str, str]] = {}  # name -> (file, sha256)
        self._active: list[dict[str, Any]] = []

    def activate(self, uses: Sequence[LoraUse]) -> None:
        """Make the next call use exactly ``uses`` (none: no LoRA at all). A LoRA that fails
        to load leaves every adapter disabled, never half of a set active."""
        check_uses(uses)
        self._active = []
        if not uses:
            if self._loaded:  # loading enables adapters: disabled whatever came before
                self.pipe.disable_lora()
            return
        try:
            for use in uses:
                self._load(use)
            self.pipe.enable_lora()
            self.pipe.set_adapters(
                [_adapter(u.name) for u in uses], adapter_weights=[float(u.scale) for u in uses]
            )
        except BaseException:
            if self._loaded:
                self.pipe.disable_lora()
            raise
        self._active = [
            {
                "name": u.name,
                "file": self._loaded[u.name][0],
                "sha256": self._loaded[u.name][1],
                "scale": float(u.scale),
            }
            for u in uses
        ]

    def record(self) -> dict[str, Any]:
        """``{"loras": [...]}`` for the record of the call just made; ``{}`` without LoRA, so
        records made without one keep the bytes earlier versions wrote."""
        return {"loras": [dict(a) for a in self._active]} if self._active else {}

    def _load(self, use: LoraUse) -> None:
        name = use.name
        if name in self._loaded:
            self._check_sha(use)
            return
        lock = WeightsLock.load(self.settings.weights_lock)
        try:
            entry = lock.get(name)
        except WeightsError as exc:
            raise WeightsError(f"LoRA '{name}': {exc}") from None
        if entry.kind != "lora":
            raise WeightsError(f"LoRA '{name}': weights.lock names a {entry.kind}, not a lora")
        if entry.architecture != self.architecture:
            raise WeightsError(
                f"LoRA '{name}' is for {entry.architecture}; model '{self.model}' is "
                f"{self.architecture}"
            )
        unet = getattr(self.pipe, "unet", None)
        if unet is not None and any(getattr(m, "fused_projections", False) for m in unet.modules()):
            # the fused to_qkv would bypass the LoRA's to_q/to_k/to_v layers: a plate recorded
            # as made with a LoRA that had no effect
            raise WeightsError(f"LoRA '{name}': not with fused attention projections (fuse_qkv)")
        pull_if_missing(lock, self.settings.model_store, name, say=lambda _m: None)
        folder = ensure_ready(lock, self.settings.model_store, name)
        rel = lora_file(entry)
        sha = _expected(entry, _read_pin(folder))[rel][1]
        if use.sha256 is not None and use.sha256 != sha:
            raise WeightsError(
                f"record was made with other weights: LoRA '{name}' ({rel}) differs "
                "from the file weights.lock pins now"
            )
        try:
            self.pipe.load_lora_weights(
                str(folder), weight_name=rel, adapter_name=_adapter(name), use_safetensors=True
            )
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            raise WeightsError(
                f"LoRA '{name}' ({folder / rel}) does not load into model '{self.model}': "
                f"{(str(exc).splitlines() or [type(exc).__name__])[0][:300]}"
            ) from None
        self._loaded[name] = (rel, sha)
        self._cast()

    def _check_sha(self, use: LoraUse) -> None:
        if use.sha256 is not None and use.sha256 != self._loaded[use.name][1]:
            raise WeightsError(
                f"record was made with other weights: LoRA '{use.name}' differs from the "
                "file weights.lock pins now"
            )

    def _cast(self) -> None:
        """LoRA layers in the dtype and on the device of the model they adapt (the engine's
        dtype contract: every component in one dtype)."""
        for part in ("unet", "text_encoder", "text_encoder_2"):
            module = getattr(self.pipe, part, None)
            if module is None:
                continue
            ref = next(
                (p for n, p in module.named_parameters() if "lora_" not in n),
                None,
            )
            if ref is None:
                continue
            for n, p in module.named_parameters():
                if "lora_" in n and (p.dtype != ref.dtype or p.device != ref.device):
                    p.data = p.data.to(device=ref.device, dtype=ref.dtype)
