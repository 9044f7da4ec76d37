"""Recording one act on a 3840×2160 plate: the deflate encoders side by side (issue 18 item 7).

Goal: recording an act on a 4K plate (``bgart.plates.record_paint``: the contribution
kernel, the PNG of the new version, the RGBA layer's PNG, the raster blob, the sha256 and
fsync of each blob, the ledger transaction) in at most 0.5 s on the 2-core CPU.

The same acts on the same project are timed with the old encoder (zlib level 1) and the new
one (ISA-L level 1, :mod:`bgart.deflate`), interleaved act by act so that a slow spell of
this shared machine hits both. The blobs each writes are plain zlib streams: the last lines
check that versions written by both read back to the same pixels and raster.

    python bench/act_4k.py                # 5 acts of each kind and encoder
    python bench/act_4k.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from provenance import H4K, W4K, _image, _record, brush_layer, local_patch, natural_4k

from bgart import deflate
from bgart import plates as wf
from bgart.generation import png_bytes
from bgart.ledger import Project

GOAL_S = 0.5


def _act(
    project: Project, layer_of: Callable[[], np.ndarray], encoder: str, cold: bool
) -> tuple[float, float]:
    """(wall, CPU) seconds of one record_paint with ``encoder`` (``cold``: no deflated
    piece of the version before at hand, as for the first act after a start)."""
    layer = layer_of()
    deflate.use_encoder(encoder)
    if cold:
        deflate.clear_cache()
    start, cpu = time.perf_counter(), time.process_time()
    wf.record_paint(project, "s", layer, "artist")
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    encoders = [e for e in ("zlib", "isal") if e in deflate.ENCODERS]
    rng = np.random.default_rng(4)
    cases: dict[str, tuple[Callable[[], np.ndarray], bool]] = {
        "soft brush, 25 % of the plate": (lambda: brush_layer(rng, 0.25), False),
        "local retouch (300x200 px)": (lambda: local_patch(rng), False),
        "local retouch, nothing deflated before": (lambda: local_patch(rng), True),
    }
    with tempfile.TemporaryDirectory() as tmp, Project.init(Path(tmp) / "p") as project:
        plate = natural_4k()
        png = png_bytes(_image(plate), _record(W4K, H4K))
        wf.record_generated(project, "s", png, _record(W4K, H4K))
        wf.record_paint(project, "s", local_patch(rng), "artist")  # warm-up
        times = {(c, e): [] for c in cases for e in encoders}
        for _ in range(args.repeats):
            for case, (layer_of, cold) in cases.items():
                for enc in encoders:
                    times[case, enc].append(_act(project, layer_of, enc, cold))
        print(
            f"record_paint on a {W4K}x{H4K} plate, best / median of {args.repeats} (goal ≤ 0.5 s):"
        )
        header = "".join(f"{e + ' wall':>22}{'cpu':>8}" for e in encoders)
        print(f"  {'act':<40}{header}")
        for case in cases:
            cells = ""
            for enc in encoders:
                walls = [t[0] for t in times[case, enc]]
                cpus = [t[1] for t in times[case, enc]]
                cells += f"{min(walls) * 1000:>10.0f} / {statistics.median(walls) * 1000:>5.0f} ms"
                cells += f"{min(cpus) * 1000:>6.0f} ms"
            verdict = "ok" if min(t[0] for t in times[case, encoders[-1]]) <= GOAL_S else "OVER"
            print(f"  {case:<40}{cells}  {verdict}")
        if len(encoders) == 2:
            for case in cases:
                old = min(t[0] for t in times[case, "zlib"])
                new = min(t[0] for t in times[case, "isal"])
                print(f"  {case:<40} zlib / isal = {old / new:.2f}x (best wall)")
        _sizes(project)


def _sizes(project: Project) -> None:
    """Each encoder's version blobs read back with the current readers: same pixels."""
    from bgart.images import encode_png
    from bgart.plates.pixels import decode_blob
    from bgart.provenance import Raster

    with project.ledger.write() as tx:
        plate = tx.plate("s", "main")
        assert plate is not None
        cur = tx.current_version(plate)
        assert cur is not None
    image = decode_blob(project.blobs.get(cur.image_sha), "RGB", "latest version")
    raster = Raster.from_bytes(project.blobs.get(cur.raster_sha))
    print("the latest version's blobs written by each encoder, read back by the readers:")
    for enc in deflate.ENCODERS:
        deflate.use_encoder(enc)
        deflate.clear_cache()
        png, ras = encode_png(image), raster.to_bytes()
        same = np.array_equal(decode_blob(png, "RGB", enc), image) and Raster.from_bytes(
            ras
        ).equals(raster)
        print(
            f"  {enc:<5} PNG {len(png) / 1e6:6.2f} MB  raster {len(ras) / 1e6:6.2f} MB  "
            f"read back {'identical' if same else 'DIFFERENT'}"
        )


if __name__ == "__main__":
    main()
