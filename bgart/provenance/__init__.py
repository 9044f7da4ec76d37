"""Provenance: who made each pixel of a plate, computed from the pixels.

The modules: :mod:`~bgart.provenance.raster` (the per-pixel raster, its serialisation and
figures), :mod:`~bgart.provenance.colour` (sRGB → CIELAB, the ΔE76 visible-change test),
:mod:`~bgart.provenance.tone` (telling a levels/colour adjustment from paint),
:mod:`~bgart.provenance.kernel` (the fused per-pixel compositing pass) on
:mod:`~bgart.provenance.parallel` (its chunked thread pool), :mod:`~bgart.provenance.edits`
(each event's edit, and :data:`EDITS`, the edits by :class:`~bgart.events.EditKind`) and
:mod:`~bgart.provenance.heatmap`. The definition is in docs/contribution.md.
"""

# The package's public surface: code outside bgart.provenance imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.provenance.colour import DELTA_E_THRESHOLD, delta_e76, visibly_different
from bgart.provenance.edits import (
    EDITS,
    Applied,
    BlobInput,
    Edit,
    EditSpec,
    Noise,
    adjust,
    apply,
    definition_version,
    final,
    generated,
    imported,
    inpaint,
    lossy_final,
    mask_from_image,
    paint,
    resample,
    resample_edit,
)
from bgart.provenance.heatmap import HEAT_COLOURS, heatmap
from bgart.provenance.kernel import composite
from bgart.provenance.noise import Codec, codec_of, noise_floor
from bgart.provenance.parallel import keep_freed_memory, use_threads
from bgart.provenance.raster import (
    ADJUSTED,
    AI_GEN,
    AI_INPAINT,
    BASE_PAINTED,
    DEFINITION_VERSION,
    DEFINITION_VERSIONS,
    HUMAN_BASE,
    TOUCHED,
    Raster,
    figures,
    pct,
    same_pixels,
)
from bgart.provenance.resample import carry, keep_human, plain_resample, source_index
from bgart.provenance.restore import (
    RESTORE_WINDOW,
    Earlier,
    restore_earlier,
    restore_window,
    returned_to,
)
from bgart.provenance.variant import variant, whole_mask

__all__ = [
    "ADJUSTED",
    "AI_GEN",
    "AI_INPAINT",
    "BASE_PAINTED",
    "DEFINITION_VERSION",
    "DEFINITION_VERSIONS",
    "DELTA_E_THRESHOLD",
    "EDITS",
    "HEAT_COLOURS",
    "HUMAN_BASE",
    "RESTORE_WINDOW",
    "TOUCHED",
    "Applied",
    "BlobInput",
    "Codec",
    "Earlier",
    "Edit",
    "EditSpec",
    "Noise",
    "Raster",
    "adjust",
    "apply",
    "carry",
    "codec_of",
    "composite",
    "definition_version",
    "delta_e76",
    "figures",
    "final",
    "generated",
    "heatmap",
    "imported",
    "inpaint",
    "keep_freed_memory",
    "keep_human",
    "lossy_final",
    "mask_from_image",
    "noise_floor",
    "paint",
    "pct",
    "plain_resample",
    "resample",
    "resample_edit",
    "restore_earlier",
    "restore_window",
    "returned_to",
    "same_pixels",
    "source_index",
    "use_threads",
    "variant",
    "visibly_different",
    "whole_mask",
]
