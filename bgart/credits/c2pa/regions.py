"""Where a person's pixels are: a few rectangles covering every pixel credited to them.

A C2PA 2.x action states where it changed the asset in ``changes``, a list of regions of
interest (C2PA 2.1 §18.2 "Regions of interest": ``region`` is a list of ranges, a spatial
range a ``shape``; a rectangle has an ``origin``, a ``width`` and a ``height`` in ``pixel``
or ``percent`` units). bgart states each human act's part of the final plate this way:
:func:`cover_rects` turns the act's credited pixels into at most :data:`MAX_RECTS` bounding
rectangles, one per connected patch of paint (8-connected), patches merged pairwise
(cheapest added area first) until at most that many remain. Every credited pixel lies in a
rectangle; the rectangles may also hold pixels the act did not make (they bound, they do
not trace).

Connected patches are found on a grid of cells of at most :data:`MAX_GRID` per side (a
cell is one pixel up to that size, so small plates are traced pixel by pixel; a 4K plate's
cells are 15 px, and patches closer than a cell count as one). Each rectangle is then
tightened to the credited pixels of its cells.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

#: At most this many rectangles per act (C2PA sets no limit; a viewer draws them).
MAX_RECTS = 16
#: Longest side of the cell grid the patches are found on.
MAX_GRID = 256

Rect = tuple[int, int, int, int]  # x, y, width, height in pixels


def _cells(mask: np.ndarray, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of ``cell``×``cell`` pixels: whether it holds a credited pixel, and the
    tight box of those pixels within the whole image (x0, y0, x1, y1 exclusive)."""
    h, w = mask.shape
    gh, gw = -(-h // cell), -(-w // cell)
    padded = np.zeros((gh * cell, gw * cell), bool)
    padded[:h, :w] = mask
    blocks = padded.reshape(gh, cell, gw, cell)
    rows: np.ndarray = np.any(blocks, axis=3)  # (gh, cell, gw): rows of each cell in use
    cols: np.ndarray = np.any(blocks, axis=1)  # (gh, gw, cell)
    occupied: np.ndarray = np.any(rows, axis=1)
    first_row = rows.argmax(axis=1)
    last_row = cell - 1 - rows[:, ::-1, :].argmax(axis=1)
    first_col = cols.argmax(axis=2)
    last_col = cell - 1 - cols[:, :, ::-1].argmax(axis=2)
    gy, gx = np.mgrid[0:gh, 0:gw]
    boxes = np.stack(
        [
            gx * cell + first_col,
            gy * cell + first_row,
            gx * cell + last_col + 1,
            gy * cell + last_row + 1,
        ],
        axis=-1,
    )
    return occupied, boxes


def _components(occupied: np.ndarray) -> np.ndarray:
    """8-connected labels (0 = empty, 1..n) of the occupied cells."""
    gh, gw = occupied.shape
    labels = np.zeros((gh, gw), np.int32)
    count = 0
    for y0, x0 in zip(*np.nonzero(occupied), strict=True):
        if labels[y0, x0]:
            continue
        count += 1
        labels[y0, x0] = count
        queue = deque([(int(y0), int(x0))])
        while queue:
            y, x = queue.popleft()
            for ny in (y - 1, y, y + 1):
                if ny < 0 or ny >= gh:
                    continue
                for nx in (x - 1, x, x + 1):
                    if 0 <= nx < gw and occupied[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = count
                        queue.append((ny, nx))
    return labels


def _patch_boxes(mask: np.ndarray, cell: int) -> np.ndarray:
    """(n, 4) boxes x0, y0, x1, y1 (exclusive) of the connected patches at ``cell``."""
    occupied, boxes = _cells(mask, cell)
    labels = _components(occupied)
    n = int(labels.max())
    out = np.empty((n, 4), np.int64)
    out[:, :2] = np.iinfo(np.int64).max
    out[:, 2:] = -1
    lab = labels[occupied] - 1
    cells = boxes[occupied]
    np.minimum.at(out[:, 0], lab, cells[:, 0])
    np.minimum.at(out[:, 1], lab, cells[:, 1])
    np.maximum.at(out[:, 2], lab, cells[:, 2])
    np.maximum.at(out[:, 3], lab, cells[:, 3])
    return out


def _merge(boxes: np.ndarray, limit: int) -> np.ndarray:
    """Merge pairs of boxes, the one adding the least area first, until ``limit`` remain."""
    boxes = boxes.copy()
    while len(boxes) > limit:
        x0 = np.minimum.outer(boxes[:, 0], boxes[:, 0])
        y0 = np.minimum.outer(boxes[:, 1], boxes[:, 1])
        x1 = np.maximum.outer(boxes[:, 2], boxes[:, 2])
        y1 = np.maximum.outer(boxes[:, 3], boxes[:, 3])
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        cost = (x1 - x0) * (y1 - y0) - area[:, None] - area[None, :]
        np.fill_diagonal(cost, np.iinfo(np.int64).max)
        i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
        merged = [x0[i, j], y0[i, j], x1[i, j], y1[i, j]]
        boxes = np.vstack([np.delete(boxes, [i, j], axis=0), np.array([merged], np.int64)])
    return boxes


def cover_rects(mask: np.ndarray, limit: int = MAX_RECTS) -> list[Rect]:
    """At most ``limit`` rectangles (x, y, width, height) covering every True pixel of
    ``mask``, top to bottom then left to right; [] when there is none."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2 or not mask.any():
        return []
    cell = max(1, -(-max(mask.shape) // MAX_GRID))
    boxes = _patch_boxes(mask, cell)
    # Thousands of specks (a textured brush): coarser cells until a few dozen patches remain,
    # so the pairwise merge below stays small.
    while len(boxes) > 4 * limit and cell < max(mask.shape):
        cell *= 2
        boxes = _patch_boxes(mask, cell)
    boxes = _merge(boxes, limit)
    order = np.lexsort((boxes[:, 0], boxes[:, 1]))
    return [(int(b[0]), int(b[1]), int(b[2] - b[0]), int(b[3] - b[1])) for b in boxes[order]]


def region(rect: Rect, description: str, *, role: str | None = None) -> dict[str, Any]:
    """One C2PA region of interest: a pixel rectangle (a spatial range), with a ``role``
    from the C2PA vocabulary when given (``c2pa.edited``: this area has had edits)."""
    x, y, w, h = (int(v) for v in rect)
    out: dict[str, Any] = {
        "region": [
            {
                "type": "spatial",
                "shape": {
                    "type": "rectangle",
                    "unit": "pixel",
                    "origin": {"x": x, "y": y},
                    "width": w,
                    "height": h,
                },
            }
        ],
        "description": description,
    }
    if role:
        out["role"] = role
    return out
