"""The provenance heat map: a picture of who made each pixel, with the figures below it."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bgart.provenance.raster import AI_GEN, AI_INPAINT, HUMAN_BASE, U8, Raster, figures, pct

HEAT_COLOURS = {
    "human paint": (46, 184, 92),
    "AI generated": (66, 120, 245),
    "AI inpainted": (245, 140, 30),
    "human base": (170, 170, 170),
}


def heatmap(raster: Raster, image: U8 | None = None, *, legend: bool = True) -> Image.Image:
    """The provenance heat map: human paint green, AI generation blue, inpaint orange,
    human base grey, blended by h; the plate's luminance shows through faintly. A legend
    with each share sits below."""
    base = np.zeros((3, 3), np.float32)
    base[AI_GEN] = HEAT_COLOURS["AI generated"]
    base[AI_INPAINT] = HEAT_COLOURS["AI inpainted"]
    base[HUMAN_BASE] = HEAT_COLOURS["human base"]
    human = np.array(HEAT_COLOURS["human paint"], np.float32)
    h = raster.human[..., None]
    rgb = base[raster.cls] * (1.0 - h) + human * h
    if image is not None:
        lum = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        rgb = rgb * (0.55 + 0.45 * (lum[..., None] / 255.0))
    heat = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
    if not legend:
        return heat
    figs = figures(raster)
    entries = [
        ("human paint", figs["human_paint_share"]),
        ("AI generated", figs["ai_gen_share"]),
        ("AI inpainted", figs["ai_inpaint_share"]),
        ("human base", figs["human_base_share"]),
    ]
    w = heat.width
    size = max(10, min(32, w // 40))
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    line = size + size // 2
    pad = size // 2
    per_row = max(1, min(4, w // (size * 14)))
    rows = -(-len(entries) // per_row)
    out = Image.new("RGB", (w, heat.height + rows * line + 2 * pad), (255, 255, 255))
    out.paste(heat, (0, 0))
    draw = ImageDraw.Draw(out)
    col_w = w // per_row
    for i, (name, share) in enumerate(entries):
        x = pad + (i % per_row) * col_w
        y = heat.height + pad + (i // per_row) * line
        draw.rectangle([x, y, x + size, y + size], fill=HEAT_COLOURS[name], outline=(0, 0, 0))
        draw.text((x + size + pad, y), f"{name} {pct(share)}", fill=(0, 0, 0), font=font)
    return out
