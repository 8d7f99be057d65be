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


def sample_band(band: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``band`` sampled bilinearly at (rows, cols), float32; NaN outside the grid or next to a NaN."""
    finite = np.isfinite(band)
    coords = np.stack([rows, cols])
    values = ndimage.map_coordinates(np.where(finite, band, 0).astype(np.float64), coords, order=1,
                                     mode="constant", cval=np.nan)
    support = ndimage.map_coordinates(finite.astype(np.float64), coords, order=1, mode="constant", cval=0.0)
    return np.where(support > 0.999, values, np.nan).astype(np.float32)


def sample_field(dx: np.ndarray, dy: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dx, dy)`` sampled bilinearly at (rows, cols); NaN outside the grid or next to a NaN."""
    return sample_band(np.asarray(dx), rows, cols), sample_band(np.asarray(dy), rows, cols)


def _followed(d_ab: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of ``p + d_AB(p)`` on the grid of ``d_AB`` (far outside where d_AB is NaN)."""
    ab_x, ab_y = (np.asarray(a, np.float32) for a in d_ab)
    rows, cols = np.meshgrid(np.arange(ab_x.shape[0], dtype=np.float32),
                             np.arange(ab_x.shape[1], dtype=np.float32), indexing="ij")
    return rows + np.nan_to_num(ab_y, nan=-1e6), cols + np.nan_to_num(ab_x, nan=-1e6)


def closure_residual(d_ab: tuple[np.ndarray, np.ndarray], d_bc: tuple[np.ndarray, np.ndarray],
                     d_ac: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``r(p)`` (H, W) float32 [px] of three fields ``(dx, dy)`` on one grid; NaN where one is missing."""
    ab_x, ab_y = (np.asarray(a, np.float32) for a in d_ab)
    bc_x, bc_y = sample_field(np.asarray(d_bc[0]), np.asarray(d_bc[1]), *_followed(d_ab))
    return np.hypot(ab_x + bc_x - d_ac[0], ab_y + bc_y - d_ac[1]).astype(np.float32)


def closure_sigma(s_ab: np.ndarray, s_bc: np.ndarray, s_ac: np.ndarray,
                  d_ab: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The 68 % radius ``R(p)`` [px] that the three fields' sigma bands predict for ``r(p)``.

    Each sigma is the 68 % radius of an isotropic Gaussian error, sigma = 1.51 s with s the per-component
    standard deviation; if the three errors are independent, r's per-component variance is the sum of
    theirs, so ``R(p) = sqrt(s_AB(p)² + s_BC(p + d_AB(p))² + s_AC(p)²)`` (sigma_BC sampled where r samples
    d_BC). The three pairs share their dates, so the errors are not quite independent: the coverage
    ``P(r <= R)`` (:func:`microflow.uncertainty.coverage_of`) is a check of the sigma bands' level on real data, near 0.68 when they are right."""
    s_bc_followed = sample_band(np.asarray(s_bc, np.float32), *_followed(d_ab))
    total = np.square(np.asarray(s_ab, np.float32)) + np.square(s_bc_followed) + np.square(np.asarray(s_ac, np.float32))
    return np.sqrt(total).astype(np.float32)


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
