"""Regional prompts on a device (the accelerator's attention kernels, its dtypes): a minute.

    python bench/regions_check.py --json $OUT/regions.json     # cuda if present, else CPU bf16

For the tiny SD1.5 and SDXL models in bfloat16 and float16 (on the CPU: bfloat16 only), a
plate with two regions and a batch of two variations: outputs finite and not black, the
regions change the image, the record names them, the UNet's attention processors are put
back after the call, the same request again gives the same bytes, and a variation
regenerates from its record (byte-identical, or the size of the difference where the
device's kernels are not deterministic). Prints PASS/FAIL/INFO per check; exit 1 on a FAIL.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, tiny_settings

RESULTS: dict[str, str] = {}
W, H = 128, 96


def report(name: str, ok: bool | None, detail: str) -> None:
    word = "INFO" if ok is None else "PASS" if ok else "FAIL"
    RESULTS[name] = f"{word} {detail}"
    print(f"{word:4} {name:34} {detail}", flush=True)


def _map() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (W, H), "#804020")
    ImageDraw.Draw(img).rectangle((0, 0, W, H // 2 - 1), fill="#87ceeb")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def check(root: Path, arch: str, dtype: str) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    from bgart.generation import Engine, GenerationRequest, build_regions, regenerate

    tag = f"{arch}/{dtype}"
    engine = Engine.load(tiny_settings(root, arch, dtype=dtype))
    layout = Image.new("RGB", (W, H))
    ImageDraw.Draw(layout).line((0, H // 2, W, H // 3), fill="white", width=4)
    data = _map()
    regions = build_regions(data, "map.png", [("#87ceeb", "sky"), ("#804020", "shops")], W, H)

    def render(with_regions: bool) -> list[Any]:
        req = GenerationRequest(
            prompt="a quiet street",
            width=W,
            height=H,
            seeds=[1, 2],
            layout=layout,
            steps=4,
            guidance=20.0,
            regions=regions if with_regions else None,
        )
        return engine.generate(req)

    before = {k: type(v).__name__ for k, v in engine._base.unet.attn_processors.items()}
    plain, made = render(False), render(True)
    after = {k: type(v).__name__ for k, v in engine._base.unet.attn_processors.items()}
    report(f"{tag} processors restored", before == after, f"{len(after)} processors")
    arr = np.asarray(made[0].image, np.float32)
    report(f"{tag} outputs", bool(np.isfinite(arr).all() and arr.std() > 1), f"std {arr.std():.1f}")
    diff = np.abs(arr - np.asarray(plain[0].image, np.float32)).sum(axis=2)
    sky, town = regions.masks
    report(
        f"{tag} regions change the image",
        bool(diff[sky].any() and diff[town].any()),
        f"mean |Δ| sky {diff[sky].mean():.2f}, town {diff[town].mean():.2f}",
    )
    record = made[1].record
    report(
        f"{tag} record",
        record.extra.get("regions", {}).get("map_sha256") == regions.map_sha256
        and record.dtype == dtype,
        f"dtype {record.dtype}, device {record.device}",
    )
    again = render(True)
    same = again[1].png() == made[1].png()
    cuda = record.device == "cuda"
    report(f"{tag} same request again", same or (None if cuda else False), _delta(again, made))
    regen = regenerate(engine, record, layout=layout, regions_map=data)
    same = regen.png() == made[1].png()
    report(f"{tag} regenerate", same or (None if cuda else False), _delta([None, regen], made))


def _delta(a: list[Any], b: list[Any]) -> str:
    import numpy as np

    x = np.asarray(a[1].image, np.int16)
    y = np.asarray(b[1].image, np.int16)
    d = np.abs(x - y)
    return "byte-identical" if not d.any() else f"max |Δ| {d.max()}, {np.mean(d > 0):.3%} px"


def main() -> int:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    dtypes = ["bfloat16", "float16"] if torch.cuda.is_available() else ["bfloat16"]
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ("sd15", "sdxl"):
            for dtype in dtypes:
                try:
                    check(Path(tmp) / arch, arch, dtype)
                except Exception as exc:  # report and go on with the next case
                    report(f"{arch}/{dtype} run", False, f"{type(exc).__name__}: {exc}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": RESULTS}, indent=2))
    return 1 if any(v.startswith("FAIL") for v in RESULTS.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
