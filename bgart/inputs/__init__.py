"""Inputs: what a render is made from, checked before anything runs.

:mod:`~bgart.inputs.layout` cleans a pencil layout into a control image;
:mod:`~bgart.inputs.prompts` loads style presets (prompts/*.toml); :mod:`~bgart.inputs.shots`
reads shot lists (CSV/YAML), naming the file, line and field of a bad value;
:mod:`~bgart.inputs.request` is the one typed render request (:class:`RenderRequest`) that the
CLI, the batch and the UI fill in. Delivery size, references, LoRA and regions belong there.
"""

# The package's public surface: code outside bgart.inputs imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.inputs.delivery import (
    base_size_for,
    check_base_within,
    delivery_size,
    parse_delivery,
)
from bgart.inputs.layout import (
    check_plate_size,
    fit_box,
    load_layout,
    plate_size_for,
    prepare_layout,
)
from bgart.inputs.loras import (
    LORA_NAME,
    LoraSpec,
    active_loras,
    format_loras,
    merge_loras,
    parse_loras,
)
from bgart.inputs.prompts import (
    DEFAULTS,
    Preset,
    compose,
    get_preset,
    join_prompt,
    load_presets,
)
from bgart.inputs.regions import MAX_REGIONS, RegionsInput, load_regions
from bgart.inputs.request import (
    ImageInput,
    RenderRequest,
    consecutive_seeds,
)
from bgart.inputs.shots import (
    MAX_SHOT_LIST_BYTES,
    SHOT_ID,
    Shot,
    ShotList,
    ShotListError,
    check_shot_id,
    derive_seed,
    load_shot_list,
)

__all__ = [
    "DEFAULTS",
    "LORA_NAME",
    "MAX_REGIONS",
    "MAX_SHOT_LIST_BYTES",
    "SHOT_ID",
    "ImageInput",
    "LoraSpec",
    "Preset",
    "RegionsInput",
    "RenderRequest",
    "Shot",
    "ShotList",
    "ShotListError",
    "active_loras",
    "base_size_for",
    "check_base_within",
    "check_plate_size",
    "check_shot_id",
    "compose",
    "consecutive_seeds",
    "delivery_size",
    "derive_seed",
    "fit_box",
    "format_loras",
    "get_preset",
    "join_prompt",
    "load_layout",
    "load_presets",
    "load_regions",
    "load_shot_list",
    "merge_loras",
    "parse_delivery",
    "parse_loras",
    "plate_size_for",
    "prepare_layout",
]
