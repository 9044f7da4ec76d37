"""PLACEHOLDER"""

# The package's public surface: code outside bgart.inputs imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.inputs.layout import (
    check_plate_size,
    fit_box,
    load_layout,
    plate_size_for,
    prepare_layout,
)
from bgart.inputs.prompts import (
    DEFAULTS,
    Preset,
    compose,
    get_preset,
    join_prompt,
    load_presets,
)
from bgart.inputs.shots import (
    MAX_SHOT_LIST_BYTES,
    SHOT_ID,
    Shot,
    ShotList,
    ShotListError,
    derive_seed,
    load_shot_list,
)

__all__ = [
    "DEFAULTS",
    "MAX_SHOT_LIST_BYTES",
    "SHOT_ID",
    "Preset",
    "Shot",
    "ShotList",
    "ShotListError",
    "check_plate_size",
    "compose",
    "derive_seed",
    "fit_box",
    "get_preset",
    "join_prompt",
    "load_layout",
    "load_presets",
    "load_shot_list",
    "plate_size_for",
    "prepare_layout",
]
