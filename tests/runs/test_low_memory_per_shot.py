"""Out of memory in a batch: low-memory mode for the shot that needs it, not the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from bgart.generation import OutOfMemory, read_record
from bgart.runs.batch import BatchOptions, run_batch

HEADER = "shot,layout,prompt,preset,width,height,variations,seed,photo,layout_artist,notes\n"


class TooBigForPans:
    """The real tiny engine, except that a pan plate does not fit until low-memory mode is
    on (as a 4096-wide pan on a small GPU). Records whether each call ran low."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[tuple[str, bool]] = []

    def enable_low_memory(self) -> None:
        self.real.enable_low_memory()

    def disable_low_memory(self) -> None:
        self.real.disable_low_memory()

    def generate(self, req: Any, progress: Any = None) -> Any:
        low = self.real.low_memory
        self.calls.append((req.prompt.split(",")[0], low))
        if "wide pan" in req.prompt and not low:
            raise OutOfMemory("out of GPU memory on cuda (simulated)")
        return self.real.generate(req, progress)


def _shot_list(folder: Path) -> Path:
    (folder / "layouts").mkdir(parents=True)
    for k in range(3):
        img = Image.new("RGB", (96, 64), (205, 200, 190))
        ImageDraw.Draw(img).line((0, 64, 48, 10 + 5 * k), fill=(80, 80, 80), width=2)
        img.save(folder / "layouts" / f"l{k}.png")
    rows = [
        "EP01_C001,layouts/l0.png,street,street,64,64,1,,,Sato,",
        "EP01_C002,layouts/l1.png,wide pan over fields,countryside,64,64,1,,,Sato,",
        "EP01_C003,layouts/l2.png,station,street,64,64,1,,,Sato,",
    ]
    path = folder / "ep01.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_low_memory_applies_to_the_shot_that_ran_out_only(
    tmp_path: Path, tiny_settings: Any, tiny_engine: Any
) -> None:
    engine = TooBigForPans(tiny_engine)
    summary = run_batch(
        BatchOptions(shot_list=_shot_list(tmp_path / "list"), project=tmp_path / "p", steps=2),
        engine_factory=lambda settings, say: engine,
    )
    assert summary.rendered == ["EP01_C001", "EP01_C002", "EP01_C003"]
    assert engine.calls == [("street", False), ("wide pan over fields", False),
                            ("wide pan over fields", True), ("station", False)]  # fmt: skip
    assert not tiny_engine.low_memory
    shots = tmp_path / "p" / "shots"
    done = {d.name: json.loads((d / "done.json").read_text()) for d in shots.iterdir()}
    assert done["EP01_C002"]["retried"] == "offload + VAE tiling"
    assert done["EP01_C003"]["retried"] is None
    # the records say how each plate was made: tiling for the pan only
    levers = {
        name: read_record(next((shots / name).glob("*.png"))).extra.get("levers") for name in done
    }
    assert levers == {"EP01_C001": None, "EP01_C002": {"vae_tiling": True}, "EP01_C003": None}
