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

from bgart.generation.lora import LoraUse
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
    write_lock_for_local_models,
)
from bgart.lazy import lazy_getattr

if TYPE_CHECKING:
    from bgart.generation.adapters import (
        ImageEmbedder,
        Reference,
        References,
        cosine_distance,
        from_record,
        recorded_images,
    )
    from bgart.generation.delivery import Delivery, RefineRequest, refine, regenerate_refine
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
    from bgart.generation.lora_train import (
        LORA_FILE,
        Example,
        TrainConfig,
        TrainProgress,
        TrainResult,
        train_lora,
    )
    from bgart.generation.regions import (
        RegionMap,
        build_regions,
        parse_colour,
        region_reference_shas,
    )
    from bgart.generation.replay import check_record, paste_crop, regenerate
    from bgart.generation.tiny_models import (
        TINY_NOTE,
        build_tiny_adapter,
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
    "LORA_FILE": "lora_train",
    "Example": "lora_train",
    "TrainConfig": "lora_train",
    "TrainProgress": "lora_train",
    "TrainResult": "lora_train",
    "train_lora": "lora_train",
    "Delivery": "delivery",
    "RefineRequest": "delivery",
    "refine": "delivery",
    "regenerate_refine": "delivery",
    "check_record": "replay",
    "paste_crop": "replay",
    "regenerate": "replay",
    "RegionMap": "regions",
    "build_regions": "regions",
    "parse_colour": "regions",
    "region_reference_shas": "regions",
    "TINY_NOTE": "tiny_models",
    "build_tiny_models": "tiny_models",
    "build_tiny_adapter": "tiny_models",
    "ImageEmbedder": "adapters",
    "Reference": "adapters",
    "References": "adapters",
    "cosine_distance": "adapters",
    "from_record": "adapters",
    "recorded_images": "adapters",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "LORA_FILE",
    "RECORD_KEY",
    "SEED_MAX",
    "SEED_MIN",
    "TINY_NOTE",
    "Delivery",
    "Engine",
    "Example",
    "Generated",
    "GenerationRecord",
    "GenerationRequest",
    "ImageEmbedder",
    "InpaintRequest",
    "LoraUse",
    "OutOfMemory",
    "Progress",
    "Reference",
    "References",
    "RefineRequest",
    "RegionMap",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "WeightsLock",
    "build_regions",
    "build_tiny_adapter",
    "build_tiny_models",
    "check_record",
    "cosine_distance",
    "ensure_ready",
    "from_record",
    "hub_reachable",
    "lock_back",
    "model_dir",
    "parse_colour",
    "paste_crop",
    "png_bytes",
    "pull",
    "pull_if_missing",
    "read_record",
    "recorded_images",
    "refine",
    "regenerate",
    "regenerate_refine",
    "region_reference_shas",
    "store_lock",
    "train_lora",
    "verify",
    "write_lock_for_local_models",
]
