"""Issue 23's first "done when": one shot with an art-board reference, a production LoRA
and two regions renders on the tiny model, is recorded with all three, and regenerates byte
for byte (each input given back as the record names it)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from PIL import Image, ImageDraw

W, H = 64, 64
SKY, TOWN = "#87ceeb", "#804020"


def _map_png() -> bytes:
    img = Image.new("RGB", (W, H), TOWN)
    ImageDraw.Draw(img).rectangle((0, 0, W, H // 2 - 1), fill=SKY)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def engine(tiny_loras: dict[str, Any], tiny_root: Path, tmp_path: Path) -> Any:
    """The tiny SD1.5 engine with the LoRAs' lock plus a tiny IP-Adapter."""
    import torch

    from bgart.generation import Engine, WeightsLock, pull, write_lock_for_local_models
    from bgart.generation.tiny_models import _build_ip_adapter
    from bgart.settings import load_settings

    lock = tmp_path / "weights.lock"
    shutil.copyfile(tiny_loras["lock"], lock)
    src = tmp_path / "src" / "tiny-ip-adapter-sd15"
    _build_ip_adapter(tiny_root / "src" / "tiny-sd15", src, torch.Generator().manual_seed(0))
    name = "tiny-ip-adapter-sd15-combined"
    write_lock_for_local_models(
        lock, {name: dict(source=src, kind="ip_adapter", architecture="sd15", license="test")}
    )
    doc = tomlkit.parse(lock.read_text(encoding="utf-8"))
    doc["models"]["tiny-sd15"]["ip_adapter"] = name  # type: ignore[index]
    lock.write_text(tomlkit.dumps(doc), encoding="utf-8")
    store = tmp_path / "store"
    shutil.copytree(tiny_loras["store"], store, symlinks=True)
    pull(WeightsLock.load(lock), store, name, say=lambda _m: None)
    settings = load_settings(
        None, weights_lock=str(lock), model_store=str(store), model="tiny-sd15", device="cpu"
    )
    return Engine.load(settings)


def test_reference_lora_and_two_regions_render_record_and_regenerate(
    engine: Any, tiny_loras: dict[str, Any]
) -> None:
    from bgart.generation import (
        GenerationRequest,
        LoraUse,
        Reference,
        References,
        build_regions,
        regenerate,
    )

    board = Image.new("RGB", (80, 60), (40, 90, 170))
    ImageDraw.Draw(board).rectangle((10, 30, 70, 58), fill=(230, 140, 40))
    sha = "b" * 64
    data = _map_png()
    layout = Image.new("RGB", (W, H), "black")
    ImageDraw.Draw(layout).line((0, 40, W, 20), fill="white", width=3)
    req = GenerationRequest(
        prompt="river bank at dusk",
        width=W,
        height=H,
        seeds=[11],
        layout=layout,
        steps=2,
        loras=(LoraUse(tiny_loras["sd15"], 0.8),),
        references=References((Reference(board, sha, "location:riverside"),)),
        regions=build_regions(data, "regions.png", [(SKY, "evening sky"), (TOWN, "shops")], W, H),
    )
    made = engine.generate(req)[0]
    extra = made.record.extra
    assert extra["references"]["images"] == [{"sha256": sha, "board": "location:riverside"}]
    assert extra["regions"]["map_sha256"]
    assert tiny_loras["sd15"] in str(extra)  # the LoRA is recorded by name
    again = regenerate(
        engine, made.record, layout=layout, references={sha: board}, regions_map=data
    )
    assert again.png() == made.png()
