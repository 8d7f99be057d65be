"""Per-pixel features of a finished field that predict its error (no images needed).

``gradient``: the joint Sobel gradient magnitude of the field [px/px]::

    |grad d| = sqrt(sum_{c in dx, dy} (S_col * c / 8)^2 + (S_row * c / 8)^2)

with the 3x3 Sobel kernels S. A NaN neighbour is replaced by the centre pixel's value (so no-data
edges do not print a step) and the array edge is replicated. The result at a pixel depends only
on its 3x3 neighbourhood: a block with a halo of >= 1 px, cropped, equals the whole-field result
(the tiler uses :data:`SIGMA_HALO` = 2 px). NaN where dx or dy is NaN.
"""

from __future__ import annotations

import numpy as np

SIGMA_HALO = 2          # px of context the features need on each side of a block (>= 1)
_SMOOTH = (1.0, 2.0, 1.0)
_DIFF = (-1.0, 0.0, 1.0)


def _sobel_pair(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/dcol, d/drow) Sobel responses / 8 of ``c`` (H, W), NaN neighbours -> centre value."""
    h, w = c.shape
    padded = np.pad(c, 1, mode="edge")
    gcol = np.zeros((h, w), np.float64)
    grow = np.zeros((h, w), np.float64)
    for i in range(3):
        for j in range(3):
            kc = _SMOOTH[i] * _DIFF[j]
            kr = _DIFF[i] * _SMOOTH[j]
            if kc == 0.0 and kr == 0.0:
                continue
            n = padded[i:i + h, j:j + w]
            n = np.where(np.isnan(n), c, n)
            if kc:
                gcol += kc * n
            if kr:
                grow += kr * n
    return gcol / 8.0, grow / 8.0


def field_gradient(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Joint Sobel gradient magnitude |grad d| [px/px] (module doc), float32, NaN where d is NaN."""
    dx = np.asarray(dx, np.float64)
    dy = np.asarray(dy, np.float64)
    bad = ~(np.isfinite(dx) & np.isfinite(dy))
    total = np.zeros(dx.shape, np.float64)
    for c in (np.where(bad, np.nan, dx), np.where(bad, np.nan, dy)):
        gc, gr = _sobel_pair(c)
        total += gc * gc + gr * gr
    out = np.sqrt(total).astype(np.float32)
    out[bad] = np.nan
    return out
