"""Triplet closure: a check of a displacement method that needs no reference field.

For three dates A < B < C of one scene and fields ``d_AB``, ``d_BC``, ``d_AC`` (internal convention,
pixels of each pair's pre grid, which here is one common grid), a ground feature at ``p`` in A is at
``p + d_AB(p)`` in B and then at ``p + d_AB(p) + d_BC(p + d_AB(p))`` in C, so a consistent method gives

    r(p) = || d_AB(p) + d_BC(p + d_AB(p)) - d_AC(p) ||_2      [px]

near its noise level, while one that loses range or reads texture as motion gives ``r`` of the order of
the motion itself. ``d_BC`` is sampled at ``p + d_AB(p)`` bilinearly (NaN where it has no estimate).
The summary is the median of ``r`` over a region (e.g. a glacier mask eroded ``margin`` px from the image
border), with the share of the region where ``r`` is finite.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def sample_field(dx: np.ndarray, dy: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dx, dy)`` sampled bilinearly at (rows, cols); NaN outside the grid or next to a NaN."""
    coords = np.stack([rows, cols])
    out = []
    for band in (dx, dy):
        finite = np.isfinite(band)
        values = ndimage.map_coordinates(np.where(finite, band, 0).astype(np.float64), coords, order=1,
                                         mode="constant", cval=np.nan)
        support = ndimage.map_coordinates(finite.astype(np.float64), coords, order=1, mode="constant", cval=0.0)
        out.append(np.where(support > 0.999, values, np.nan).astype(np.float32))
    return out[0], out[1]


def closure_residual(d_ab: tuple[np.ndarray, np.ndarray], d_bc: tuple[np.ndarray, np.ndarray],
                     d_ac: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``r(p)`` (H, W) float32 [px] of three fields ``(dx, dy)`` on one grid; NaN where one is missing."""
    ab_x, ab_y = (np.asarray(a, np.float32) for a in d_ab)
    rows, cols = np.meshgrid(np.arange(ab_x.shape[0], dtype=np.float32),
                             np.arange(ab_x.shape[1], dtype=np.float32), indexing="ij")
    bc_x, bc_y = sample_field(np.asarray(d_bc[0]), np.asarray(d_bc[1]), rows + np.nan_to_num(ab_y, nan=-1e6),
                              cols + np.nan_to_num(ab_x, nan=-1e6))
    return np.hypot(ab_x + bc_x - d_ac[0], ab_y + bc_y - d_ac[1]).astype(np.float32)


def border_region(mask: np.ndarray, margin: int) -> np.ndarray:
    """``mask`` without the pixels within ``margin`` px of the image border."""
    region = np.asarray(mask, bool).copy()
    if margin > 0:
        region[:margin] = region[-margin:] = False
        region[:, :margin] = region[:, -margin:] = False
    return region


def closure_summary(residual: np.ndarray, region: np.ndarray) -> dict:
    """Median, 75th percentile and finite share of ``residual`` over ``region``."""
    values = residual[region]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"median": float("nan"), "p75": float("nan"), "finite_share": 0.0, "pixels": 0}
    return {"median": float(np.median(finite)), "p75": float(np.percentile(finite, 75)),
            "finite_share": float(finite.size / max(values.size, 1)), "pixels": int(finite.size)}
