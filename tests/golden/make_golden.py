"""Make the golden project: a small production recorded by bgart, committed as it was made.

Run once (``python tests/golden/make_golden.py``) to (re)make ``tests/golden/project``; the
tests in ``tests/test_golden.py`` then check that today's code still verifies its ledger,
reproduces its credit figures and regenerates its plates byte for byte. It was first made
before the package reorganisation (commit "golden project made by the flat-layout code"), so
those tests prove the reorganisation changed nothing a user can see. Don't remake it unless
a change of the definition is intended and documented.

Every event kind appears: the batch records layouts and generated candidates; the acts below
add a variation choice, a paint layer, a final import, a levels adjustment, an AI inpaint, a
revert, a hand-painted plate, a submission, acceptances and a rejection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROJECT = HERE / "project"
PRODUCTION = "Golden Show 黄金の街"
SEED = 0  # the tiny models' weights: the golden plates' record names their file hashes


def tiny_env(models: Path) -> dict[str, str]:
    from bgart.tiny_models import build_tiny_models
    from bgart.weights import WeightsLock, pull

    lock = build_tiny_models(models, "sd15", seed=SEED)
    store = models / "store"
    pull(WeightsLock.load(lock), store, "tiny-sd15", say=lambda _m: None)
    return {
        "BGART_WEIGHTS_LOCK": str(lock),
        "BGART_MODEL_STORE": str(store),
        "BGART_MODEL": "tiny-sd15",
        "BGART_CPU_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }


def bgart(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "bgart.cli", *args], check=True, env=env, cwd=ROOT)


def acts(env: dict[str, str]) -> None:
    """The human and AI acts a batch does not make, through the same library calls as the UI."""
    os.environ.update(env)
    import torch
    from bgart.engine import Engine, InpaintRequest
    from bgart.store import Project

    from bgart import workflow as plate_acts
    from bgart import workflow as queries
    from bgart.settings import load_settings

    torch.set_num_threads(1)
    with Project.open(PROJECT) as project:
        # C001: the artist prefers candidate 2, paints the sky, then levels the whole plate
        plate_acts.select_variation(project, "EP01_C001", 2, "Sato Yuki")
        plate = queries.plate_state(project, "EP01_C001").image
        h, w = plate.shape[:2]
        layer = np.zeros((h, w, 4), np.uint8)
        layer[: h // 3, :, :3] = (90, 160, 230)
        layer[: h // 3, :, 3] = 255
        layer[h // 3 : h // 3 + 6, :, :3] = (200, 120, 60)
        layer[h // 3 : h // 3 + 6, :, 3] = 128
        plate_acts.record_paint(project, "EP01_C001", layer, "山田 花子", active_seconds=42.5)
        levelled = np.clip(
            queries.plate_state(project, "EP01_C001").image.astype(np.int16) + 12, 0, 255
        ).astype(np.uint8)
        plate_acts.record_adjust(
            project, "EP01_C001", levelled, "山田 花子", {"op": "levels", "black": 0, "white": 243}
        )
        plate_acts.submit(project, "EP01_C001", "山田 花子", "sky repainted")
        plate_acts.accept(project, "EP01_C001", "Kei Director", "OK")

        # C002: an AI fix of a masked area, a paint stroke taken back, a final from outside
        engine = Engine.load(load_settings())
        state = queries.plate_state(project, "EP01_C002")
        h, w = state.image.shape[:2]
        mask = Image.new("L", (w, h), 0)
        mask.paste(255, (w // 4, h // 4, w // 2, h // 2))
        result = engine.inpaint(
            InpaintRequest(
                image=Image.fromarray(state.image, "RGB"),
                mask=mask,
                prompt="a window with curtains",
                seed=77,
                steps=2,
                guidance=5.0,
                strength=0.9,
            )
        )
        plate_acts.record_inpaint(
            project, "EP01_C002", result.png(), mask, result.record, "Mori Ren", active_seconds=8.0
        )
        stroke = np.zeros((h, w, 4), np.uint8)
        stroke[h - 10 :, :, :3] = (30, 30, 30)
        stroke[h - 10 :, :, 3] = 255
        before = queries.plate_versions(project, "EP01_C002")[-1].number
        plate_acts.record_paint(project, "EP01_C002", stroke, "Ito Aoi", active_seconds=5.0)
        plate_acts.undo(project, "EP01_C002", before, "Ito Aoi")
        final = queries.plate_state(project, "EP01_C002").image.copy()
        final[:, : w // 5] = (240, 230, 200)
        plate_acts.record_final(project, "EP01_C002", final, "Tanaka Haruto", active_seconds=60)
        plate_acts.reject(project, "EP01_C002", "Kei Director", "warmer light, please")

        # C003 stays as generated, accepted (grade F); EP02_C001 is painted by hand (grade A)
        plate_acts.accept(project, "EP01_C003", "Kei Director")
        hand = np.zeros((88, 128, 3), np.uint8)
        hand[:44] = (120, 170, 220)
        hand[44:] = (70, 110, 60)
        plate_acts.record_base(project, "EP02_C001", hand, "Kobayashi Mei")
        plate_acts.accept(project, "EP02_C001", "Kei Director")


def main() -> None:
    if PROJECT.exists():
        shutil.rmtree(PROJECT)
    with tempfile.TemporaryDirectory(prefix="bgart-golden-") as tmp:
        env = {**os.environ, **tiny_env(Path(tmp) / "models")}
        bgart("init", str(PROJECT), "--production", PRODUCTION, env=env)
        bgart("batch", str(ROOT / "examples" / "shots.csv"), "--project", str(PROJECT), env=env)
        acts(env)
        bgart("credits", "--project", str(PROJECT), "--format", "json,csv", env=env)
        bgart("ledger", "verify", "--project", str(PROJECT), env=env)
    for scratch in ("contact_sheet", ".bgart-batch.lock"):
        path = PROJECT / scratch
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    print(f"golden project: {PROJECT}")


if __name__ == "__main__":
    main()
