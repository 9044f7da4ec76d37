"""Runs: rendering plates for a caller, from one request to files and ledger events.

:mod:`bgart.runs.render` makes a :class:`~bgart.inputs.RenderRequest` into the engine's
request and runs it with the out-of-memory fallback; :mod:`bgart.runs.generate` is
``bgart generate`` / ``bgart regenerate``; :mod:`bgart.runs.batch` renders a shot list into a
project (with :mod:`bgart.runs.distributed`, :mod:`bgart.runs.write_behind` and
:mod:`bgart.runs.contact_sheet`).
"""

# The package's public surface: code outside bgart.runs imports these names from here, so
# the modules inside can be split and renamed without touching it. The modules load on
# first use: importing the package (the CLI does, to start) must not import torch.

from typing import TYPE_CHECKING

from bgart.lazy import lazy_getattr

if TYPE_CHECKING:
    from bgart.runs.artboard import plate_drift
    from bgart.runs.batch import (
        EXIT_FAILED_SHOTS,
        BatchOptions,
        BatchSummary,
        QuietReporter,
        Reporter,
        ShotOutcome,
        run_batch,
    )
    from bgart.runs.distributed import Dist, launched_world_size
    from bgart.runs.generate import GenerateJob, output_paths, run_generate, run_regenerate
    from bgart.runs.refine import RefineJob, run_refine
    from bgart.runs.render import (
        EngineState,
        Renderer,
        generate_with_fallback,
        inpaint_with_fallback,
        place_photo,
        plate_images,
        plate_request,
    )

_LAZY = {
    "EXIT_FAILED_SHOTS": "batch",
    "BatchOptions": "batch",
    "BatchSummary": "batch",
    "QuietReporter": "batch",
    "Reporter": "batch",
    "ShotOutcome": "batch",
    "run_batch": "batch",
    "plate_drift": "artboard",
    "Dist": "distributed",
    "launched_world_size": "distributed",
    "GenerateJob": "generate",
    "output_paths": "generate",
    "run_generate": "generate",
    "run_regenerate": "generate",
    "RefineJob": "refine",
    "run_refine": "refine",
    "EngineState": "render",
    "Renderer": "render",
    "generate_with_fallback": "render",
    "inpaint_with_fallback": "render",
    "place_photo": "render",
    "plate_images": "render",
    "plate_request": "render",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "EXIT_FAILED_SHOTS",
    "BatchOptions",
    "BatchSummary",
    "Dist",
    "EngineState",
    "GenerateJob",
    "QuietReporter",
    "RefineJob",
    "Renderer",
    "Reporter",
    "ShotOutcome",
    "generate_with_fallback",
    "inpaint_with_fallback",
    "launched_world_size",
    "output_paths",
    "place_photo",
    "plate_drift",
    "plate_images",
    "plate_request",
    "run_batch",
    "run_generate",
    "run_refine",
    "run_regenerate",
]
