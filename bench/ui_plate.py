"""What showing a 4K plate in the browser UI costs the server, per view.

Every act in the UI (a saved stroke, an AI fix, an undo) refreshes four views of the plate:
the plate, the review image and the two editors' backgrounds. Side by side, interleaved:

* **image**: the view gets the plate as an image, which Gradio encodes as PNG itself
  (Pillow, its default level) — what the UI did before;
* **file**: the view gets ``Studio.plate_file``, the plate's blob copied once into Gradio's
  upload folder, and Gradio only hashes and copies that file into its cache.

    python bench/ui_plate.py [--repeats 5]

Printed: best and median per view, and the ratio image / file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="bgart-bench-gradio-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import gradio as gr
    import numpy as np
    from bgart.ui.handlers import Studio
    from gradio import processing_utils
    from PIL import Image
    from provenance import H4K, W4K, _image, _record, natural_4k

    from bgart import plates as wf
    from bgart.generation import png_bytes
    from bgart.ledger import Project

    print(f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    view = gr.Image(type="pil", format="png")
    cache = tempfile.mkdtemp(prefix="bgart-bench-cache-")
    with tempfile.TemporaryDirectory() as tmp, Project.init(Path(tmp) / "p") as project:
        plate = natural_4k()
        wf.record_generated(
            project, "s", png_bytes(_image(plate), _record(W4K, H4K)), _record(W4K, H4K)
        )
        studio = Studio(project)
        times: dict[str, list[float]] = {"image": [], "file": []}
        for i in range(args.repeats):
            # a new version each round, as after an act: nothing cached from the round before
            layer = np.zeros((H4K, W4K, 4), np.uint8)
            layer[i * 8 : i * 8 + 8, :, :] = (200, 30, 30, 255)
            wf.record_paint(project, "s", layer, "bench")
            start = time.perf_counter()
            image = Image.fromarray(wf.plate_state(project, "s").image)
            view.postprocess(image)
            times["image"].append(time.perf_counter() - start)
            start = time.perf_counter()
            path = studio.plate_file("s")
            assert path is not None
            data = view.postprocess(path)
            assert data is not None
            processing_utils.save_file_to_cache(data.path, cache)  # what Gradio does with it
            times["file"].append(time.perf_counter() - start)
    print(f"showing a {W4K}x{H4K} plate in one view, {args.repeats} new versions:")
    for name, t in times.items():
        label = "image (Gradio encodes it)" if name == "image" else "file (Studio.plate_file)"
        print(
            f"  {label:<28} best {min(t) * 1000:7.0f} ms  "
            f"median {statistics.median(t) * 1000:7.0f} ms"
        )
    ratio = min(times["image"]) / min(times["file"])
    print(f"  image / file = {ratio:.1f}x per view; an act refreshes four views")


if __name__ == "__main__":
    main()
