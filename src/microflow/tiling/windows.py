"""The global window grid of a scene and its blending weights.

Windows of ``window`` x ``window`` pixels are placed with a stride ``step = window - overlap``
along each axis, starting at 0; the last window is moved back so that it ends exactly on the
scene edge, so every window lies inside the scene and no padding is ever needed. Along an axis
shorter than ``window`` the window shrinks to the axis (one window spans it: a small image is
estimated as one window, exactly as by the method itself). The grid depends only on the scene
size, the window and the overlap, so every backend (one process, one Dask block) places windows
identically.

Blending weight of a window: ``w(r, c) = t_row(r) * t_col(c)``. Along a side that faces a
neighbouring window, over the ``L = overlap`` pixels ``i = 0 .. L - 1`` counted from the border,

    t(i) = floor + (1 - floor) (0.5 - 0.5 cos(pi s)),   s = clip((i + 0.5 - m) / (L - 2 m), 0, 1),

with a margin ``m = L // 4``: ``floor`` on the outer m pixels, a raised cosine across the middle
of the overlap, 1 beyond. Sides on the scene edge keep 1 (no neighbour to hand over to, so the
weight never vanishes there). Two neighbours' ramps are mirror images, so across their overlap
``t_left + t_right = 1 + floor`` (a partition of unity): the blend is a smooth handover and the
estimates nearest a window border, where a model or a correlator sees the least context, get
almost no weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from microflow.errors import ParameterError

WEIGHT_FLOOR = 1e-3


def axis_origins(length: int, window: int, step: int) -> np.ndarray:
    """Window start positions along one axis of ``length`` >= ``window`` pixels (last one flush
    with the edge)."""
    count = int(np.ceil((length - window) / step)) + 1
    origins = np.minimum(np.arange(count, dtype=np.int64) * step, length - window)
    return np.unique(origins)


def taper(origin: int, window: int, length: int, overlap: int, floor: float = WEIGHT_FLOOR) -> np.ndarray:
    """1-D weights (``window``,) float32: ramps (module docstring) only on sides with a neighbour."""
    weights = np.ones(window, np.float32)
    if overlap <= 0:
        return weights
    n = min(overlap, window // 2)
    margin = overlap // 4
    s = np.clip((np.arange(n) + 0.5 - margin) / (overlap - 2 * margin), 0.0, 1.0)
    ramp = (floor + (1.0 - floor) * (0.5 - 0.5 * np.cos(np.pi * s))).astype(np.float32)
    if origin > 0:
        weights[:n] = ramp
    if origin + window < length:
        weights[window - n:] = ramp[::-1]
    return weights


@dataclass(frozen=True)
class WindowGrid:
    """Window placement over a ``height`` x ``width`` scene (all sizes in pixels)."""

    height: int
    width: int
    window: int
    overlap: int

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ParameterError(f"scene must have at least one pixel, got {self.height}x{self.width}")
        if self.window < 8:
            raise ParameterError(f"window must be at least 8 pixels, got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise ParameterError(f"overlap must be in [0, window) = [0, {self.window}), got {self.overlap}")

    @property
    def step(self) -> int:
        return self.window - self.overlap

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of every window: ``window`` clipped to the scene."""
        return min(self.window, self.height), min(self.window, self.width)

    @cached_property
    def row_origins(self) -> np.ndarray:
        return axis_origins(self.height, self.shape[0], self.step)

    @cached_property
    def col_origins(self) -> np.ndarray:
        return axis_origins(self.width, self.shape[1], self.step)

    @property
    def count(self) -> int:
        """Number of windows in the scene."""
        return len(self.row_origins) * len(self.col_origins)

    def windows_touching(self, row0: int, row1: int, col0: int, col1: int) -> list[tuple[int, int]]:
        """(row, col) origins of every window overlapping the region, in row-major grid order."""
        rows, cols = self.row_origins, self.col_origins
        rows = rows[(rows < row1) & (rows + self.shape[0] > row0)]
        cols = cols[(cols < col1) & (cols + self.shape[1] > col0)]
        return [(int(r), int(c)) for r in rows for c in cols]

    def weights(self, row: int, col: int) -> np.ndarray:
        """Blending weights (``shape``) float32 of the window at origin (row, col)."""
        return np.outer(taper(row, self.shape[0], self.height, self.overlap),
                        taper(col, self.shape[1], self.width, self.overlap))

    def rows_finished_after(self, k: int) -> int:
        """Rows [0, n) that no window after window-row ``k`` touches (the scene height after the last)."""
        origins = self.row_origins
        return self.height if k + 1 >= len(origins) else int(origins[k + 1])


def fitted_window(shape: tuple[int, int], largest: int, overlap: int, multiple: int = 16) -> int:
    """The smallest window (a multiple of ``multiple``, at most ``largest``) that tiles ``shape`` with
    as few windows per axis as ``largest`` does: ``n = ceil((L - overlap) / (largest - overlap))``
    windows cover an axis of L px, and ``ceil((L - overlap) / n) + overlap`` px is enough for n of them.

    The scene's pixels are then computed about ``((L - overlap) / n + overlap) / ((L - overlap) / n)``
    times per axis instead of a ragged last window's extra (2048 px with 1536-px windows: 1.2x, not 1.5x).
    Axes shorter than ``largest`` are one window already; if both are, ``largest`` is returned (the grid
    clips it to the scene).
    """
    need = 0
    for length in shape:
        if length > largest:
            count = int(np.ceil((length - overlap) / (largest - overlap)))
            need = max(need, int(np.ceil((length - overlap) / count)) + overlap)
    if need == 0:
        return largest
    return min(largest, multiple * int(np.ceil(need / multiple)))


def default_overlap(window: int, fraction: float = 0.25) -> int:
    """Overlap of ``fraction`` of the window, rounded to an even number of pixels."""
    return 2 * int(round(window * fraction / 2))
