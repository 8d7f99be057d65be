"""Run a predictor on grid windows and blend the overlapping estimates.

Blended field at pixel p over the windows k that cover it (w_k from :mod:`.windows`)::

    d(p) = sum_k w_k(p) m_k(p) d_k(p) / sum_k w_k(p) m_k(p),   m_k(p) = 1 if d_k(p) is finite else 0

so a window's NaN border (a correlator's half window) is filled by its neighbours' interiors. The
confidence is blended the same way. Pixels no finite estimate covers, and pixels where pre or post
has no data, are NaN. Sums are float32 and windows are added in row-major grid order, so any
region computed from the same windows gives the same numbers, wherever its borders are.

Next to no-data a correlator's window holds filled pixels and its estimate is biased. For methods
with a correlation window of side ``w`` (:func:`nodata_growth`), the no-data mask of the OUTPUT is
dilated by ``g = w // 2`` px (a square of side ``2 g + 1``, i.e. Chebyshev distance <= g), so every
estimate whose centred window touched a no-data pixel is NaN. The dilation sees the context around
the region (pixels outside the scene count as valid), so band-wise, block-wise and whole-scene runs
give the same mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from microflow.tiling.predictors import PredictorSpec, Stats, WindowPredictor, correlation_window, sees_no_data
from microflow.tiling.windows import WindowGrid


@dataclass
class Accumulator:
    """Weighted sums over the region [row0, row0 + h) x [col0, col0 + w) of the scene."""

    row0: int
    col0: int
    sums: np.ndarray    # (3, h, w) float32: sum of w * [dx, dy, confidence]
    weight: np.ndarray  # (h, w) float32: sum of w

    @classmethod
    def zeros(cls, row0: int, col0: int, height: int, width: int) -> "Accumulator":
        return cls(row0, col0, np.zeros((3, height, width), np.float32), np.zeros((height, width), np.float32))

    def add(self, row: int, col: int, field: np.ndarray, weights: np.ndarray) -> None:
        """Add one window's field (3, m, n) with origin (row, col), cropped to the region."""
        h, w = self.weight.shape
        m, n = field.shape[1:]
        r0, r1 = max(row, self.row0), min(row + m, self.row0 + h)
        c0, c1 = max(col, self.col0), min(col + n, self.col0 + w)
        if r0 >= r1 or c0 >= c1:
            return
        src = (slice(r0 - row, r1 - row), slice(c0 - col, c1 - col))
        dst = (slice(r0 - self.row0, r1 - self.row0), slice(c0 - self.col0, c1 - self.col0))
        part = field[(slice(None),) + src]
        finite = np.isfinite(part[0]) & np.isfinite(part[1])
        wk = np.where(finite, weights[src], np.float32(0))
        self.weight[dst] += wk
        self.sums[(slice(None),) + dst] += wk * np.nan_to_num(part)

    def result(self, rows: int | None = None) -> np.ndarray:
        """(3, n, w) float32 weighted means of the first ``rows`` rows (all by default), NaN where no
        finite estimate was added; one new array, no scene-wide temporaries."""
        n = self.weight.shape[0] if rows is None else int(rows)
        weight = self.weight[:n]
        out = np.full((3, n, weight.shape[1]), np.nan, np.float32)
        np.divide(self.sums[:, :n], weight, out=out, where=weight > 0)
        return out

    def advance(self, row0: int) -> None:
        """Move the region down to start at ``row0``: drop rows above, zero rows that enter."""
        shift = row0 - self.row0
        if shift <= 0:
            return
        h = self.weight.shape[0]
        keep = max(h - shift, 0)
        self.sums[:, :keep] = self.sums[:, h - keep:]
        self.sums[:, keep:] = 0
        self.weight[:keep] = self.weight[h - keep:]
        self.weight[keep:] = 0
        self.row0 = row0


def predict_windows(images: np.ndarray, origin: tuple[int, int], windows: Iterable[tuple[int, int]],
                    shape: tuple[int, int], predictor: WindowPredictor, stats: tuple[Stats, Stats],
                    batch_size: int) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """Yield ``((row, col), field (3, *shape))`` for each window with data, in the given order.

    ``images`` (2, h, w) holds pre and post (NaN = no data) from scene pixel ``origin`` on and must
    contain every window. No-data pixels are filled with each image's global centre, unless the
    predictor takes NaN itself (:func:`~microflow.tiling.predictors.sees_no_data`: MicroFlow, whose
    coarse levels take their statistics from valid pixels only). Windows without any valid pixel are
    skipped.
    """
    (pre_stats, post_stats) = stats
    pending: list[tuple[int, int]] = []

    def run_batch() -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        rows = np.array([r - origin[0] for r, _ in pending])
        cols = np.array([c - origin[1] for _, c in pending])
        pre, post = (sliding_window_view(img, shape)[rows, cols] for img in images)
        if not sees_no_data(predictor):
            pre = np.where(np.isnan(pre), np.float32(pre_stats[0]), pre)
            post = np.where(np.isnan(post), np.float32(post_stats[0]), post)
        fields = predictor.predict(pre, post, pre_stats=pre_stats, post_stats=post_stats)
        yield from zip(list(pending), fields)
        pending.clear()

    valid = ~np.isnan(images[0])
    for row, col in windows:
        r, c = row - origin[0], col - origin[1]
        if not valid[r:r + shape[0], c:c + shape[1]].any():
            continue
        pending.append((row, col))
        if len(pending) == batch_size:
            yield from run_batch()
    if pending:
        yield from run_batch()


def blend_region(images: np.ndarray, origin: tuple[int, int], region: tuple[int, int, int, int],
                 grid: WindowGrid, predictor: WindowPredictor, stats: tuple[Stats, Stats],
                 batch_size: int, progress: bool = False, grow: int = 0) -> np.ndarray:
    """Blended (3, h, w) field [dx, dy, confidence] of the scene region ``(row0, row1, col0, col1)``.

    Every window of ``grid`` that touches the region is predicted, so the region's values equal those
    of a whole-scene run. ``images`` (2, ., .) from scene pixel ``origin`` must contain those windows
    (pixels outside the scene may be NaN padding). ``progress`` shows a bar of windows on stderr;
    ``grow``: dilation of the no-data mask [px] (:func:`mask_invalid`).
    """
    from tqdm import tqdm

    row0, row1, col0, col1 = region
    acc = Accumulator.zeros(row0, col0, row1 - row0, col1 - col0)
    windows = grid.windows_touching(row0, row1, col0, col1)
    predictions = predict_windows(images, origin, windows, grid.shape, predictor, stats, batch_size)
    for (row, col), field in tqdm(predictions, total=len(windows), desc="windows", unit="window",
                                  disable=not progress, leave=False):
        acc.add(row, col, field, grid.weights(row, col))
    top, left = max(origin[0], 0), max(origin[1], 0)  # the part of ``images`` inside the scene
    inside = images[:, top - origin[0]:grid.height - origin[0], left - origin[1]:grid.width - origin[1]]
    return mask_invalid(acc.result(), inside, grow, (row0 - top, col0 - left))


def nodata_growth(spec: PredictorSpec) -> int:
    """Dilation [px] of the output's no-data mask for a plan's predictor: half the correlation window
    (``window // 2``) of a classical method that has one, 0 for MicroFlow and custom predictors."""
    if spec.factory is not None or spec.method == "microflow":
        return 0
    return correlation_window(spec.method, spec.params) // 2


def mask_invalid(field: np.ndarray, images: np.ndarray, grow: int = 0,
                 offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``field`` (3, h, w) set to NaN, IN PLACE, wherever pre or post has no data, that mask dilated
    by ``grow`` px; returns ``field``.

    ``images`` (2, ., .) holds pre and post (NaN = no data) with the field's pixel (0, 0) at
    ``offset``, and any context around it (rows/columns beyond ``images`` count as valid).
    """
    from scipy.ndimage import maximum_filter1d

    h, w = field.shape[1:]
    r0, c0 = offset
    a0, b0 = max(r0 - grow, 0), max(c0 - grow, 0)
    part = images[:, a0:r0 + h + grow, b0:c0 + w + grow]
    invalid = np.isnan(part[0]) | np.isnan(part[1])
    if grow > 0 and invalid.any():
        size = 2 * grow + 1
        invalid = maximum_filter1d(invalid.view(np.uint8), size, axis=0, mode="constant", cval=0)
        invalid = maximum_filter1d(invalid, size, axis=1, mode="constant", cval=0).view(bool)
    invalid = invalid[r0 - a0:r0 - a0 + h, c0 - b0:c0 - b0 + w]
    if invalid.any():
        field[:, invalid] = np.float32(np.nan)
    return field
