"""Draw the example pencil layouts in examples/layouts/ (deterministic; re-run to rebuild).

Each layout is drawn the way a background layout artist would block in a cut (perspective
first: horizon and vanishing point, then the big shapes, then detail) and then made to look
like a scan: cream paper with uneven lighting, a vignette and grain, and grey graphite
lines whose width and pressure vary along the stroke, with overshoots at the corners.

    python examples/make_layouts.py            # writes examples/layouts/*.png|jpg
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OUT_DIR = Path(__file__).resolve().parent / "layouts"
SS = 2  # strokes are drawn at this supersampling, then averaged down (anti-aliasing)
Point = tuple[float, float]
Point3 = tuple[float, float, float]


class Camera:
    """Pinhole camera at the origin looking down +Z; Y up; metres in, pixels out."""

    def __init__(self, focal: float, cx: float, cy: float) -> None:
        self.focal, self.cx, self.cy = focal, cx, cy

    def project(self, p: Point3) -> Point:
        x, y, z = p
        return self.cx + self.focal * x / z, self.cy - self.focal * y / z

    def scale(self, z: float) -> float:
        """Pixels per metre at depth ``z``."""
        return self.focal / z


class Sheet:
    """A sheet of layout paper: strokes go onto an ink layer; :meth:`scan` renders it."""

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.width, self.height = width, height
        self.rng = np.random.default_rng(seed)
        self.ink = Image.new("L", (width * SS, height * SS), 0)
        self.draw = ImageDraw.Draw(self.ink)

    # -- strokes ---------------------------------------------------------------------
    def stroke(
        self,
        points: Sequence[Point],
        width: float = 1.6,
        pressure: float = 0.85,
        overshoot: float = 0.0,
    ) -> None:
        """A pencil stroke through ``points`` (image pixels): width and pressure wander."""
        pts = [(float(x), float(y)) for x, y in points]
        if overshoot and len(pts) >= 2:
            pts[0] = _extend(pts[1], pts[0], overshoot * self.rng.uniform(0.4, 1.0))
            pts[-1] = _extend(pts[-2], pts[-1], overshoot * self.rng.uniform(0.4, 1.0))
        dense = _densify(pts, step=6.0)
        n = len(dense)
        # Smooth random walks for width and pressure: a hand, not a plotter.
        wob = np.cumsum(self.rng.normal(0, 0.08, n))
        wob -= np.linspace(wob[0], wob[-1], n)
        press = np.clip(pressure + np.cumsum(self.rng.normal(0, 0.03, n)) * 0.5, 0.35, 1.0)
        taper = np.minimum(1.0, np.minimum(np.arange(n) + 1, n - np.arange(n)) / 3.0)
        for i in range(n - 1):
            w = max(0.6, width * (1.0 + wob[i]) * (0.6 + 0.4 * taper[i]))
            (x0, y0), (x1, y1) = dense[i], dense[i + 1]
            value = int(255 * press[i] * (0.7 + 0.3 * taper[i]))
            self.draw.line(
                [(x0 * SS, y0 * SS), (x1 * SS, y1 * SS)], fill=value, width=round(w * SS)
            )

    def line(self, a: Point, b: Point, width: float = 1.6, pressure: float = 0.85) -> None:
        """A ruled line with the slight overshoot layout artists leave at corners."""
        self.stroke([a, b], width, pressure, overshoot=6.0)

    def sketchy(self, a: Point, b: Point, width: float = 1.3, pressure: float = 0.7) -> None:
        """A line gone over twice, slightly apart: construction then the committed line."""
        j = self.rng.normal(0, 0.8, 4)
        self.stroke(
            [(a[0] + j[0], a[1] + j[1]), (b[0] + j[2], b[1] + j[3])],
            width * 0.8,
            pressure * 0.6,
            overshoot=10.0,
        )
        self.line(a, b, width, pressure)

    def poly(self, pts: Sequence[Point], closed: bool = True, **kw: float) -> None:
        seq = list(pts) + ([pts[0]] if closed else [])
        for a, b in itertools.pairwise(seq):
            self.line(a, b, **kw)

    def curve(self, f: Callable[[float], Point], n: int = 60, **kw: float) -> None:
        """A freehand curve through f(t), t in [0, 1]."""
        self.stroke([f(i / n) for i in range(n + 1)], **kw)

    def erase(self, polygon: Sequence[Point]) -> None:
        """Clear the ink inside ``polygon``: a nearer shape hides what is behind it."""
        self.draw.polygon([(x * SS, y * SS) for x, y in polygon], fill=0)

    def line3(self, cam: Camera, a: Point3, b: Point3, **kw: float) -> None:
        """A ruled line between two points in the scene (metres), through ``cam``."""
        self.line(cam.project(a), cam.project(b), **kw)

    def quad3(self, cam: Camera, corners: Sequence[Point3], **kw: float) -> None:
        self.poly([cam.project(c) for c in corners], **kw)

    def bumpy(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        bumps: int,
        flat_bottom: bool = False,
        erase: bool = True,
        **kw: float,
    ) -> None:
        """A cloud / foliage-mass outline: a loop of arcs, hiding what is behind it."""
        phase = self.rng.uniform(0, math.tau)
        amp = self.rng.uniform(0.10, 0.16)

        def f(t: float) -> Point:
            a = phase + t * math.tau
            r = 1.0 + amp * abs(math.sin(bumps * (a - phase) / 2))
            y = cy + ry * r * math.sin(a)
            if flat_bottom:
                y = min(y, cy + ry * 0.35)
            return cx + rx * r * math.cos(a), y

        outline = [f(i / (bumps * 10)) for i in range(bumps * 10 + 1)]
        if erase:
            self.erase(outline)
        self.stroke(outline, **kw)

    # -- the scan ----------------------------------------------------------------------
    def scan(self, paper: tuple[int, int, int] = (236, 231, 218), mode: str = "RGB") -> Image.Image:
        """Render: paper x lighting x grain, darkened by graphite where there is ink.

        ``mode`` "L" is a greyscale scan; "P" stores the cream paper as a palette of
        tinted greys (looks the same as RGB, a third of the PNG size).
        """
        w, h = self.width, self.height
        ink = np.asarray(self.ink.resize((w, h), Image.Resampling.BOX), dtype=np.float32) / 255
        grain = self.rng.uniform(0.72, 1.0, (h, w)).astype(np.float32)  # graphite on tooth
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w * 0.55) / (w * 0.75)) ** 2 + ((yy - h * 0.45) / (h * 0.8)) ** 2
        light = (1.0 - 0.22 * r2) * (0.90 + 0.10 * xx / w)  # vignette + lid shadow at left
        blotch = self.rng.normal(0, 1, (6, 9)).astype(np.float32)
        blotch_img = Image.fromarray(blotch, "F").resize((w, h), Image.Resampling.BICUBIC)
        light = light * (1.0 + 0.012 * np.asarray(blotch_img, dtype=np.float32))
        dark = 1.0 - 0.68 * ink * grain
        noise = self.rng.normal(0, 1.0, (h, w)).astype(np.float32)
        tint = np.array(paper, dtype=np.float32) / max(paper)
        level = float(max(paper)) * light * dark + noise
        lum = np.clip(level + 0.5, 0, 255).astype(np.uint8)
        if mode == "L":
            return Image.fromarray(np.clip(level * tint.mean() + 0.5, 0, 255).astype(np.uint8))
        if mode == "P":
            img = Image.fromarray(lum, "L").convert("P")  # index = paper level; no dithering
            img.putpalette([min(255, round(i * c)) for i in range(256) for c in tint])
            return img
        rgb = level[..., None] * tint[None, None, :]
        return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB")


def _extend(a: Point, b: Point, d: float) -> Point:
    """The point ``d`` beyond ``b`` on the line a->b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = math.hypot(dx, dy) or 1.0
    return b[0] + dx / n * d, b[1] + dy / n * d


def _densify(pts: Sequence[Point], step: float) -> list[Point]:
    out: list[Point] = [pts[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        k = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        out.extend((x0 + (x1 - x0) * i / k, y0 + (y1 - y0) * i / k) for i in range(1, k + 1))
    return out


# -- scenes ----------------------------------------------------------------------------------
def street(w: int = 1024, h: int = 683) -> Image.Image:
    """One-point perspective shopping street: facades, windows, awnings, power poles."""
    s = Sheet(w, h, seed=101)
    cam = Camera(0.9 * w, 0.53 * w, 0.42 * h)
    g = -1.5  # the ground, 1.5 m below the eye
    s.stroke([(0, cam.cy), (w, cam.cy)], width=0.8, pressure=0.3)  # eye level, construction
    # Road: kerbs, the foot of the facades, centre-line dashes.
    for x in (-4.5, 4.2):
        s.line3(cam, (x, g, 1.2), (x, g, 260))
    for z in range(26, 150, 9):
        s.line3(cam, (-0.15, g, z), (-0.15, g, z + 4), width=1.1)
    # A zebra crossing and its stop line; a manhole.
    s.line3(cam, (-4.5, g, 11.0), (4.2, g, 11.0), width=1.3)
    for k in range(9):
        x = -4.2 + k * 0.95
        s.quad3(
            cam, [(x, g, 13.0), (x + 0.5, g, 13.0), (x + 0.5, g, 16.0), (x, g, 16.0)], width=1.1
        )
    s.curve(
        lambda t: cam.project(
            (1.6 + 0.35 * math.cos(t * math.tau), g, 21.0 + 0.35 * math.sin(t * math.tau))
        ),
        n=24,
        width=1.0,
    )
    for xf, blocks in (
        (-6.5, [(1, 14, 11), (14, 26, 7.5), (26, 38, 13), (38, 52, 6.5), (52, 70, 9), (70, 95, 7)]),
        (6.0, [(1, 12, 8), (12, 30, 12), (30, 44, 7), (44, 60, 10), (60, 90, 6.5)]),
    ):
        side = 1 if xf > 0 else -1
        s.line3(cam, (xf, g, 1.0), (xf, g, blocks[-1][1]), width=1.5)
        for z0, z1, height in blocks:
            top = g + height
            s.line3(cam, (xf, g, z0), (xf, top, z0), width=1.7)
            s.line3(cam, (xf, g, z1), (xf, top, z1), width=1.7)
            s.line3(cam, (xf, top, z0), (xf, top, z1), width=1.7)  # roof line, to the VP
            s.line3(cam, (xf, top - 0.4, z0), (xf, top - 0.4, z1), width=1.0, pressure=0.6)
            if z0 > 60:
                continue
            # Ground-floor awning: its outer edge and the two ends.
            xa = xf - side * 1.1
            s.line3(cam, (xa, g + 2.3, z0 + 0.6), (xa, g + 2.3, z1 - 0.6), width=1.4)
            for z in (z0 + 0.6, z1 - 0.6):
                s.line3(cam, (xf, g + 2.8, z), (xa, g + 2.3, z), width=1.2)
                s.line3(cam, (xa, g + 2.3, z), (xa, g + 2.0, z), width=1.0)
            # Upper-floor windows, 3 m a floor.
            for floor in range(1, int(height // 3)):
                y0 = g + floor * 3 + 0.9
                z = z0 + 1.0
                while z + 1.6 < z1 - 0.8:
                    s.quad3(
                        cam,
                        [
                            (xf, y0, z),
                            (xf, y0, z + 1.6),
                            (xf, y0 + 1.3, z + 1.6),
                            (xf, y0 + 1.3, z),
                        ],
                        width=1.0,
                        pressure=0.7,
                    )
                    z += 3.2
        # A vertical shop sign sticking out into the street, face-on to the camera.
        for z in (8.0, 33.0) if side < 0 else (20.0,):
            xo = xf - side * 0.9
            s.quad3(
                cam,
                [(xf, g + 3.2, z), (xo, g + 3.2, z), (xo, g + 7.0, z), (xf, g + 7.0, z)],
                width=1.3,
            )
    # Power poles down the right kerb with cross-arms, and the sagging wires between them.
    arms: list[list[Point3]] = []
    for z in (3.5, 16.0, 28.5, 41.0, 53.5, 66.0, 78.5):
        x = 4.7
        r = 0.16
        if cam.scale(z) * 2 * r > 5:  # near: draw both sides of the pole
            for dx in (-r, r):
                s.line3(cam, (x + dx, g, z), (x + dx, 9.0, z), width=1.6, pressure=0.9)
        else:
            s.line3(cam, (x, g, z), (x, 9.0, z), width=1.5, pressure=0.9)
        s.line3(cam, (x - 1.0, 8.3, z), (x + 1.0, 8.3, z), width=1.4)
        s.quad3(
            cam, [(x + r, 5.6, z), (x + 0.7, 5.6, z), (x + 0.7, 6.6, z), (x + r, 6.6, z)], width=1.1
        )  # transformer
        arms.append([(x - 0.9, 8.3, z), (x, 8.3, z), (x + 0.9, 8.3, z)])
    for near, far in itertools.pairwise(arms):
        for a, b in zip(near, far, strict=True):
            s.curve(
                lambda t, a=a, b=b: cam.project(
                    (
                        a[0] + (b[0] - a[0]) * t,
                        a[1] - 0.6 * 4 * t * (1 - t),
                        a[2] + (b[2] - a[2]) * t,
                    )
                ),
                n=16,
                width=0.8,
                pressure=0.6,
            )
    return s.scan(mode="P")


def interior(w: int = 768, h: int = 512) -> Image.Image:
    """One-point perspective room: window with curtains, desk, chair, shelf, lamp."""
    s = Sheet(w, h, seed=202)
    cam = Camera(470.0, 0.47 * w, 0.47 * h)
    x0, x1, fl, ce, back = -2.2, 2.4, -1.4, 1.2, 6.5
    s.quad3(cam, [(x0, fl, back), (x1, fl, back), (x1, ce, back), (x0, ce, back)], width=1.8)
    for x, y in ((x0, fl), (x1, fl), (x1, ce), (x0, ce)):
        s.line3(cam, (x, y, back), (x, y, 0.9), width=1.8)
    for k in range(1, 12):  # floorboards
        x = x0 + k * (x1 - x0) / 12
        s.line3(cam, (x, fl, back), (x, fl, 0.9), width=0.9, pressure=0.5)
    # Window on the back wall, cross bars, curtain rail and curtains.
    wx0, wx1, wy0, wy1 = -1.0, 1.1, -0.35, 0.85
    s.quad3(
        cam, [(wx0, wy0, back), (wx1, wy0, back), (wx1, wy1, back), (wx0, wy1, back)], width=1.6
    )
    s.quad3(
        cam,
        [
            (wx0 - 0.08, wy0 - 0.1, back),
            (wx1 + 0.08, wy0 - 0.1, back),
            (wx1 + 0.08, wy0 - 0.02, back),
            (wx0 - 0.08, wy0 - 0.02, back),
        ],
        width=1.1,
    )
    s.line3(cam, ((wx0 + wx1) / 2, wy0, back), ((wx0 + wx1) / 2, wy1, back), width=1.2)
    s.line3(cam, (wx0, 0.3, back), (wx1, 0.3, back), width=1.2)
    s.line3(cam, (wx0 - 0.45, 1.0, back), (wx1 + 0.45, 1.0, back), width=1.4)
    for xc in (wx0 - 0.4, wx0 - 0.15, wx1 + 0.15, wx1 + 0.4):
        s.curve(
            lambda t, xc=xc: cam.project((xc + 0.04 * math.sin(t * 11), 1.0 - t * 1.55, back)),
            n=24,
            width=1.0,
            pressure=0.6,
        )
    # Pendant lamp, hung nearer than the window.
    s.line3(cam, (0.1, ce, 2.4), (0.1, 0.62, 2.4), width=1.0)
    s.curve(
        lambda t: cam.project((-0.2 + 0.6 * t, 0.62 - 0.12 * math.sin(t * math.pi), 2.4)),
        n=20,
        width=1.4,
    )
    s.line3(cam, (-0.2, 0.62, 2.4), (0.4, 0.62, 2.4), width=1.3)
    # Bookshelf against the left wall: front face, shelves, books.
    sd, z0, z1 = x0 + 0.4, 3.3, 4.9
    s.line3(cam, (sd, fl, z0), (sd, 0.5, z0), width=1.5)
    s.line3(cam, (sd, fl, z1), (sd, 0.5, z1), width=1.3)
    s.line3(cam, (sd, 0.5, z0), (x0, 0.5, z0), width=1.3)
    s.line3(cam, (sd, 0.5, z1), (x0, 0.5, z1), width=1.1)
    for y in (0.5, -0.1, -0.7, fl + 0.1):
        s.line3(cam, (sd, y, z0), (sd, y, z1), width=1.3)
    for k in range(9):
        z = z0 + 0.15 + k * 0.12
        top = -0.1 - 0.38 - 0.07 * (k % 3)
        s.line3(cam, (sd, -0.1, z), (sd, top, z + 0.02), width=1.0, pressure=0.7)
    # Desk against the right wall: top, apron, legs; book and lamp on it; a chair.
    dx0, dz0, dz1, dy = 1.5, 2.6, 4.2, -0.65
    s.quad3(cam, [(dx0, dy, dz0), (x1, dy, dz0), (x1, dy, dz1), (dx0, dy, dz1)], width=1.5)
    s.line3(cam, (dx0, dy - 0.08, dz0), (dx0, dy - 0.08, dz1), width=1.2)
    s.line3(cam, (dx0, dy - 0.08, dz0), (x1, dy - 0.08, dz0), width=1.2)
    s.line3(cam, (dx0, dy, dz0), (dx0, dy - 0.08, dz0), width=1.2)
    for z in (dz0 + 0.05, dz1 - 0.05):
        s.line3(cam, (dx0 + 0.05, dy - 0.08, z), (dx0 + 0.05, fl, z), width=1.4)
    s.quad3(cam, [(1.7, dy, 3.2), (2.1, dy, 3.2), (2.1, dy, 3.5), (1.7, dy, 3.5)], width=1.0)
    s.line3(cam, (2.0, dy, 3.9), (2.0, dy + 0.45, 3.9), width=1.3)
    s.quad3(
        cam,
        [
            (1.85, dy + 0.45, 3.9),
            (2.15, dy + 0.45, 3.9),
            (2.1, dy + 0.62, 3.9),
            (1.9, dy + 0.62, 3.9),
        ],
        width=1.2,
    )
    seat, cx0, cx1, cz0, cz1 = -0.95, 0.95, 1.4, 2.95, 3.4
    s.quad3(
        cam, [(cx0, seat, cz0), (cx1, seat, cz0), (cx1, seat, cz1), (cx0, seat, cz1)], width=1.4
    )
    for x, z in ((cx0, cz0), (cx1, cz0), (cx0, cz1), (cx1, cz1)):
        s.line3(cam, (x, seat, z), (x, fl, z), width=1.1)
    for z in (cz0 + 0.03, cz1 - 0.03):
        s.line3(cam, (cx0, seat, z), (cx0, seat + 0.55, z), width=1.3)
    s.quad3(
        cam,
        [
            (cx0, seat + 0.3, cz0),
            (cx0, seat + 0.3, cz1),
            (cx0, seat + 0.55, cz1),
            (cx0, seat + 0.55, cz0),
        ],
        width=1.3,
    )
    return s.scan(mode="L")


def countryside(w: int = 1024, h: int = 683) -> Image.Image:
    """Rice fields, a country road to the vanishing point, poles, trees, hills, clouds."""
    s = Sheet(w, h, seed=303)
    cam = Camera(0.6 * w, 0.42 * w, 0.56 * h)
    g = -1.6

    def road_x(z: float) -> float:
        return 1.0 + 0.00008 * z * z

    hy = cam.cy
    for cx, cy, rx in ((0.18, 0.13, 0.10), (0.58, 0.09, 0.15), (0.90, 0.26, 0.07)):
        s.bumpy(
            cx * w,
            cy * h,
            rx * w,
            rx * w * 0.38,
            bumps=9,
            flat_bottom=True,
            width=1.0,
            pressure=0.55,
        )
    far = [
        (t * w, hy - h * 0.08 - h * 0.04 * math.sin(t * 5.1 + 0.6)) for t in np.linspace(0, 1, 80)
    ]
    s.stroke(far, width=1.2, pressure=0.6)
    near = [
        (t * w, hy - 2 - h * 0.19 * math.exp(-((t - 0.8) ** 2) / 0.025))
        for t in np.linspace(0, 1, 80)
    ]
    s.erase([*near, (w, hy), (0, hy)])
    s.stroke(near, width=1.6)
    s.stroke([(0, hy), (w, hy)], width=1.1, pressure=0.6)
    # Paddy ridges: along the road and across it, on both sides.
    for x in (-40, -24, -14, -8, 9, 14, 22, 36):
        s.line3(cam, (x, g, 2.0 if abs(x) < 20 else 4.0), (x, g, 400), width=0.9, pressure=0.5)
    for z in (10, 19, 34, 60, 110):
        s.line3(cam, (-80, g, z), (road_x(z) - 2.6, g, z), width=0.9, pressure=0.5)
        s.line3(cam, (road_x(z) + 2.6, g, z), (90, g, z), width=0.9, pressure=0.5)
    for dx in (-2.5, 2.5):
        s.curve(
            lambda t, dx=dx: cam.project((road_x(2.2 + t * t * 500) + dx, g, 2.2 + t * t * 500)),
            n=60,
            width=1.7,
        )
    # Utility poles down the left of the road, wires between them.
    tops: list[Point] = []
    for z in (6.0, 24.0, 42.0, 60.0, 78.0, 96.0, 114.0):
        x = road_x(z) - 3.6
        s.line3(cam, (x, g, z), (x, 6.5, z), width=1.6 if z < 20 else 1.2)
        s.line3(cam, (x - 0.6, 6.0, z), (x + 0.6, 6.0, z), width=1.1)
        tops.append(cam.project((x, 6.0, z)))
    for a, b in itertools.pairwise(tops):
        s.curve(
            lambda t, a=a, b=b: (
                a[0] + (b[0] - a[0]) * t,
                a[1] + (b[1] - a[1]) * t + 0.06 * (b[0] - a[0]) * 4 * t * (1 - t),
            ),
            n=16,
            width=0.8,
            pressure=0.6,
        )
    # Trees, far to near: trunk, then foliage masses that hide what is behind them.
    for x, z, size in sorted(
        ((16.0, 70.0, 4.0), (-22.0, 55.0, 5.0), (12.0, 30.0, 3.5), (7.5, 13.0, 3.0)),
        key=lambda t: -t[1],
    ):
        k = cam.scale(z)
        bx, by = cam.project((x, g, z))
        half = 0.06 * size * k
        if half > 2.5:  # near: both sides of the trunk, flaring at the root
            for side in (-1, 1):
                s.stroke(
                    [
                        (bx + side * half * 1.4, by),
                        (bx + side * half, by - 0.3 * size * k),
                        (bx + side * half * 0.8, by - 1.1 * size * k),
                    ],
                    width=1.4,
                )
        else:
            s.line((bx, by), (bx, by - 1.1 * size * k), width=max(1.0, 2 * half))
        for ox, oy, r in ((-0.4, 1.2, 0.5), (0.45, 1.25, 0.45), (0.05, 1.6, 0.55)):
            s.bumpy(
                bx + ox * size * k,
                by - oy * size * k,
                r * size * k,
                r * size * k * 0.8,
                bumps=6,
                width=1.3,
                pressure=0.75,
            )
    # Bus stop sign by the road.
    bx, by = cam.project((road_x(9) + 3.2, g, 9.0))
    k = cam.scale(9.0)
    s.line((bx, by), (bx, by - 2.2 * k), width=1.4)
    s.poly(
        [
            (bx - 0.25 * k, by - 2.2 * k),
            (bx + 0.25 * k, by - 2.2 * k),
            (bx + 0.25 * k, by - 2.6 * k),
            (bx - 0.25 * k, by - 2.6 * k),
        ],
        width=1.3,
    )
    return s.scan(paper=(238, 233, 214))


def riverside_pan(w: int = 1536, h: int = 512) -> Image.Image:
    """A 3:1 pan along a river: far levee and town, water, near bank path and cherry trees."""
    s = Sheet(w, h, seed=404)
    s.curve(
        lambda t: (
            t * w,
            h * 0.24 - h * 0.06 * math.sin(t * 6.3) ** 2 - h * 0.03 * math.sin(t * 17 + 1),
        ),
        n=120,
        width=1.2,
        pressure=0.55,
    )
    for cx, cy, rx in ((0.12, 0.10, 0.06), (0.47, 0.07, 0.09), (0.83, 0.12, 0.05)):
        s.bumpy(
            cx * w, cy * h, rx * w, rx * w * 0.3, bumps=8, flat_bottom=True, width=1.0, pressure=0.5
        )
    levee_top, levee_toe = h * 0.42, h * 0.53
    # Town behind the levee: houses with gable roofs, an apartment block, a water tower.
    x = 10.0
    while x < w - 60:
        hw = float(s.rng.uniform(55, 100))
        if 0.44 * w < x < 0.44 * w + 170:  # the apartment block
            bw, top = 150.0, levee_top - 130
            s.erase([(x, levee_top), (x, top), (x + bw, top), (x + bw, levee_top)])
            s.poly(
                [(x, levee_top), (x, top), (x + bw, top), (x + bw, levee_top)],
                closed=False,
                width=1.5,
            )
            for fy in np.arange(top + 16, levee_top, 18):
                s.line((x, fy), (x + bw, fy), width=0.9, pressure=0.6)
            x += bw + 20
            continue
        hh = float(s.rng.uniform(35, 60))
        base = levee_top + 5
        s.erase(
            [
                (x - 8, base),
                (x - 8, base - hh),
                (x + hw / 2, base - hh * 1.45),
                (x + hw + 8, base - hh),
                (x + hw + 8, base),
            ]
        )
        s.poly(
            [(x, base), (x, base - hh), (x + hw, base - hh), (x + hw, base)],
            closed=False,
            width=1.4,
        )
        s.poly(
            [(x - 8, base - hh), (x + hw / 2, base - hh * 1.45), (x + hw + 8, base - hh)],
            closed=False,
            width=1.4,
        )
        s.poly(
            [
                (x + hw * 0.25, base - hh * 0.75),
                (x + hw * 0.5, base - hh * 0.75),
                (x + hw * 0.5, base - hh * 0.45),
                (x + hw * 0.25, base - hh * 0.45),
            ],
            width=1.0,
        )
        x += hw + float(s.rng.uniform(10, 40))
    tx = w * 0.74
    s.erase(
        [
            (tx - 14, levee_top),
            (tx - 8, levee_top - 150),
            (tx + 8, levee_top - 150),
            (tx + 14, levee_top),
        ]
    )
    s.line((tx - 14, levee_top), (tx - 8, levee_top - 150), width=1.3)
    s.line((tx + 14, levee_top), (tx + 8, levee_top - 150), width=1.3)
    s.bumpy(tx, levee_top - 165, 30, 18, bumps=1, width=1.4)
    # The levee hides the houses' feet; its top, toe and a few slope strokes.
    s.erase([(0, levee_top), (w, levee_top), (w, levee_toe), (0, levee_toe)])
    s.line((0, levee_top), (w, levee_top), width=1.7)
    s.line((0, levee_toe), (w, levee_toe), width=1.7)
    for k in range(14):
        lx = 40 + k * w / 14
        s.line((lx, levee_top + 4), (lx - 25, levee_toe - 4), width=0.7, pressure=0.4)
    # Water: ripples, a small boat.
    near_bank = h * 0.74
    for _ in range(30):
        rx = float(s.rng.uniform(0, w))
        ry = float(s.rng.uniform(levee_toe + 10, near_bank - 10))
        s.line((rx, ry), (rx + float(s.rng.uniform(20, 70)), ry), width=0.8, pressure=0.45)
    bx, by = w * 0.30, h * 0.62
    s.poly([(bx, by), (bx + 120, by), (bx + 100, by + 16), (bx + 12, by + 16)], width=1.5)
    s.poly(
        [(bx + 40, by), (bx + 40, by - 20), (bx + 80, by - 20), (bx + 80, by)],
        closed=False,
        width=1.3,
    )
    # Near bank: edge, path with a railing.
    s.curve(lambda t: (t * w, near_bank + h * 0.015 * math.sin(t * 5 + 2)), n=120, width=1.9)
    path = h * 0.86
    s.line((0, path), (w, path), width=1.5)
    for k in range(26):
        px = 20 + k * 60
        s.line((px, path), (px, path - 34), width=1.2)
    for y in (path - 34, path - 20):
        s.line((0, y), (w, y), width=1.2)
    # Cherry trees on the near bank: trunk and branches, then blossom masses over them.
    for tx, size in ((w * 0.10, 1.0), (w * 0.62, 0.85), (w * 0.93, 1.1)):
        root, fork_y = h * 1.0, h * 0.66
        trunk_l = [(tx - 24 * size, root), (tx - 15 * size, h * 0.84), (tx - 13 * size, fork_y)]
        trunk_r = [(tx + 26 * size, root), (tx + 14 * size, h * 0.82), (tx + 12 * size, fork_y)]
        s.erase([*trunk_l, *reversed(trunk_r)])
        s.stroke(trunk_l, width=1.6)
        s.stroke(trunk_r, width=1.6)
        for ang, ln in ((-1.1, 130), (-0.35, 100), (0.5, 110), (1.2, 140)):
            end = (tx + math.sin(ang) * ln * size, fork_y - math.cos(ang) * ln * size * 0.8)
            mid = (tx + math.sin(ang) * ln * size * 0.5, fork_y - math.cos(ang) * ln * size * 0.3)
            for off in (-4.0, 4.0):
                s.stroke(
                    [(tx + off * 2, fork_y + 2), (mid[0] + off, mid[1]), end], width=1.3 * size
                )
        for ox, oy, r in (
            (-95, -95, 60),
            (90, -100, 65),
            (-10, -140, 75),
            (165, -60, 45),
            (-160, -50, 40),
        ):
            s.bumpy(
                tx + ox * size,
                fork_y + oy * size,
                r * size * 1.25,
                r * size * 0.75,
                bumps=8,
                width=1.2,
                pressure=0.7,
            )
    return s.scan(mode="P")


SCENES: dict[str, tuple[Callable[[], Image.Image], str]] = {
    "street": (street, "png"),
    "interior": (interior, "png"),
    "countryside": (countryside, "jpg"),
    "riverside_pan": (riverside_pan, "png"),
    # delivery-size examples (examples/shots_delivery.csv): a 16:9 TV cut and a 6:1 pan
    "street_hd": (lambda: street(1280, 720), "png"),
    "riverside_pan_6to1": (lambda: riverside_pan(2304, 384), "png"),
}


def main(out_dir: Path = OUT_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (draw, ext) in SCENES.items():
        img = draw()
        path = out_dir / f"{name}.{ext}"
        if ext == "jpg":
            img.save(path, quality=88, optimize=True)
        else:
            img.save(path, optimize=True)
        written.append(path)
        print(
            f"{path.relative_to(out_dir.parent.parent)}  {img.size[0]}x{img.size[1]} "
            f"{img.mode}  {path.stat().st_size // 1024} KB"
        )
    return written


if __name__ == "__main__":
    main()
