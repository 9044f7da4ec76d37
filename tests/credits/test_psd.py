"""Layered PSD export: names and order survive, and the PSD recomposes to the flat plate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

from bgart.credits import (
    PsdLayer,
    ai_layer_name,
    export_psd,
    flatten,
    inpaint_layer_name,
    retouch_layer_name,
)
from bgart.errors import InputError

W, H = 64, 48


def _layers() -> list[PsdLayer]:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    inpaint = np.zeros((H, W, 4), dtype=np.uint8)
    inpaint[10:30, 5:40, :3] = rng.integers(0, 256, (20, 35, 3), dtype=np.uint8)
    inpaint[10:30, 5:40, 3] = 255
    inpaint[12:14, 5:40, 3] = 128  # soft mask edge
    strokes = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    strokes[..., 3] = np.where(rng.random((H, W)) < 0.6, 0, strokes[..., 3])  # partial alpha
    hidden = np.full((H, W, 4), 255, dtype=np.uint8)
    return [
        PsdLayer(ai_layer_name("anime-sd15"), Image.fromarray(base, "RGB")),
        PsdLayer(inpaint_layer_name("anime-sd15", "Ren Mori"), Image.fromarray(inpaint, "RGBA")),
        PsdLayer(retouch_layer_name("山田 花子"), Image.fromarray(strokes, "RGBA")),
        PsdLayer("Retouch – hidden draft", Image.fromarray(hidden, "RGBA"), visible=False),
    ]


def test_psd_keeps_layers_and_recomposes_to_the_flat_plate(tmp_path: Path) -> None:
    layers = _layers()
    dst = export_psd(tmp_path / "plate.psd", layers, (W, H))
    assert [p.name for p in tmp_path.iterdir()] == ["plate.psd"]  # no temp file left

    psd = PSDImage.open(dst)
    assert psd.size == (W, H)
    assert [layer.name for layer in psd] == [
        "AI – anime-sd15",
        "AI inpaint – anime-sd15 (mask by Ren Mori)",
        "Retouch – 山田 花子",
        "Retouch – hidden draft",
    ]
    assert [layer.visible for layer in psd] == [True, True, True, False]

    flat = flatten(layers)
    assert flat.mode == "RGB" and flat.size == (W, H)
    stored = np.asarray(psd.composite().convert("RGB"), dtype=int)
    assert np.array_equal(stored, np.asarray(flat, dtype=int))
    # A re-render from the layers (what an editor without the stored composite does).
    rerender = np.asarray(psd.composite(force=True).convert("RGB"), dtype=int)
    assert np.abs(rerender - np.asarray(flat, dtype=int)).max() <= 1
    # The hidden layer (opaque white) must not have reached the composite.
    assert stored.mean() < 250


def test_flatten_matches_pillow_alpha_compositing_within_a_level() -> None:
    layers = [layer for layer in _layers() if layer.visible]
    ref = layers[0].image.convert("RGBA")
    for layer in layers[1:]:
        ref = Image.alpha_composite(ref, layer.image)
    diff = np.abs(
        np.asarray(flatten(layers), dtype=int) - np.asarray(ref.convert("RGB"), dtype=int)
    )
    assert diff.max() <= 1


def test_flatten_keeps_transparency_when_nothing_is_opaque() -> None:
    img = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    img.putpixel((0, 0), (200, 100, 50, 128))
    out = flatten([PsdLayer("only", img)])
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0)) == (200, 100, 50, 128)
    assert out.getpixel((1, 1))[3] == 0


def test_layer_size_mismatch_names_the_layer(tmp_path: Path) -> None:
    layers = [
        PsdLayer("AI – m", Image.new("RGB", (W, H))),
        PsdLayer("Retouch – X", Image.new("RGBA", (8, 8))),
    ]
    with pytest.raises(InputError, match="layer 'Retouch – X': size 8x8"):
        export_psd(tmp_path / "bad.psd", layers, (W, H))
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    dst = tmp_path / "plate.psd"
    dst.write_bytes(b"old")
    export_psd(dst, _layers()[:1], (W, H))
    assert PSDImage.open(dst).size == (W, H)
    assert [p.name for p in tmp_path.iterdir()] == ["plate.psd"]


def test_layers_carry_real_transparency_not_a_mask_over_an_opaque_plate(tmp_path: Path) -> None:
    """An edit layer holds only its own pixels: editors (and psd-tools, and Pillow) see a
    transparent layer, not the whole plate hidden behind a user mask that can be turned off."""
    layers = _layers()
    dst = export_psd(tmp_path / "plate.psd", layers, (W, H))
    psd = PSDImage.open(dst)
    for layer, given in zip(psd, layers, strict=True):
        assert not layer.has_mask(), layer.name
        assert -1 in [int(c.id) for c in layer._record.channel_info], layer.name
        pixels = layer.topil()
        assert pixels.mode == "RGBA" and pixels.size == (W, H), layer.name
        want = np.asarray(given.image.convert("RGBA"))[..., 3]
        assert np.array_equal(np.asarray(pixels)[..., 3], want), layer.name
    inpaint = np.asarray(psd[1].topil())
    assert (inpaint[..., 3] == 0).sum() == W * H - 20 * 35  # transparent outside the edit
    with Image.open(dst) as pil:
        assert len(pil.layers) == len(layers)
