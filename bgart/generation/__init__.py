"""Generation: the one place that runs a diffusion model.

:mod:`~bgart.generation.engine` (the only module that imports diffusers) turns an engine
request into images and their :class:`~bgart.generation.record.GenerationRecord` (everything
needed to regenerate them byte for byte); :mod:`~bgart.generation.replay` runs a record
again; :mod:`~bgart.generation.levers` holds the GPU speed and determinism levers;
:mod:`~bgart.generation.device` picks cuda, mps or cpu and the dtype;
:mod:`~bgart.generation.weights` pins, pulls and verifies model files (weights.lock);
:mod:`~bgart.generation.tiny_models` builds tiny random-weight models for tests and the demo.
Generation never reads or writes the ledger.
"""

# The package's public surface: code outside bgart.generation imports these names from here,
# so the modules inside can be split and renamed without touching it. The engine (torch,
# diffusers) loads on first use: reading a record or the lock must not import torch.

from typing import TYPE_CHECKING

from bgart.generation.record import (
    RECORD_KEY,
    GenerationRecord,
    png_bytes,
    read_record,
)
from bgart.generation.weights import (
    WeightsLock,
    ensure_ready,
    hub_reachable,
    lock_back,
    model_dir,
    pull,
    pull_if_missing,
    store_lock,
    verify,
)
from bgart.lazy import lazy_getattr

if TYPE_CHECKING:
    from bgart.generation.engine import (
        SEED_MAX,
        SEED_MIN,
        Engine,
        Generated,
        GenerationRequest,
        InpaintRequest,
        OutOfMemory,
        Progress,
    )
    from bgart.generation.replay import check_record, regenerate
    from bgart.generation.tiny_models import (
        TINY_NOTE,
        build_tiny_models,
    )

_LAZY = {
    "SEED_MAX": "engine",
    "SEED_MIN": "engine",
    "Engine": "engine",
    "Generated": "engine",
    "GenerationRequest": "engine",
    "InpaintRequest": "engine",
    "OutOfMemory": "engine",
    "Progress": "engine",
    "check_record": "replay",
    "regenerate": "replay",
    "TINY_NOTE": "tiny_models",
    "build_tiny_models": "tiny_models",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "RECORD_KEY",
    "SEED_MAX",
    "SEED_MIN",
    "TINY_NOTE",
    "Engine",
    "Generated",
    "GenerationRecord",
    "GenerationRequest",
    "InpaintRequest",
    "OutOfMemory",
    "Progress",
    "WeightsLock",
    "build_tiny_models",
    "check_record",
    "ensure_ready",
    "hub_reachable",
    "lock_back",
    "model_dir",
    "png_bytes",
    "pull",
    "pull_if_missing",
    "read_record",
    "regenerate",
    "store_lock",
    "verify",
]
