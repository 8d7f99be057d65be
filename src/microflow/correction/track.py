"""Track geometry found from the field itself: the track azimuth of stripes, detector boundaries of steps.

Binned profiles. For a direction of azimuth ``φ`` the pixels are binned by their coordinate ``t``
along ``φ`` (:func:`~microflow.correction.models.track_coordinates`, bins of 1 px); with weights
``w`` and residuals ``r_c`` (component ``c``), bin ``b`` holds ``W_b = Σ w`` and ``S_cb = Σ w r_c``.
The explained energy ``E(φ) = Σ_c Σ_b (S_cb² / W_b - s_c²)`` (``s_c`` the residual scale) is the
weighted sum of squares the profile along ``φ`` removes, less what noise alone would remove.
Stripes constant along the image lines peak ``E`` at the track azimuth; detector steps peak it at the
across-track azimuth, 90° away.

Step detection (:func:`find_steps`). At every bin edge ``z_b`` a weighted line is fitted to the bin
means on each side within ``window`` bins and both lines are extrapolated to ``z_b``: the jump is
``J_c = right - left`` with variance ``v_c = s_c² F (1/S0 + (z_b - z̄)² / Szz)`` per side (``S0``
the summed weight, ``Szz`` the weighted spread of ``z``, ``F`` the correlation inflation). A smooth
signal gives no jump (both lines meet), a detector step does. Boundaries are the edges with
``Σ_c J_c² / v_c >= z_min²`` and ``max_c |J_c| >= min_jump`` that are the largest of their
``±window`` neighbourhood.
"""

from __future__ import annotations

import numpy as np

from microflow.correction.models import track_coordinates

AZIMUTH_STEP_DEG = 1.0
AZIMUTH_REFINE_DEG = 0.1
STEP_WINDOW_BINS = 16
STEP_Z_MIN = 6.0
STEP_MIN_JUMP_PX = 0.005
MAX_SEARCH_PIXELS = 300_000


def binned_sums(coord: np.ndarray, resid: np.ndarray, weight: np.ndarray, bin_px: float = 1.0):
    """Bin origin, per-bin weight ``W`` (n_bins,) and weighted sums ``S`` (2, n_bins) of ``resid``."""
    origin = float(np.floor(coord.min()))
    index = ((coord - origin) / bin_px).astype(np.int64)
    n = int(index.max()) + 1
    wsum = np.bincount(index, weights=weight, minlength=n)
    sums = np.stack([np.bincount(index, weights=weight * r, minlength=n) for r in resid])
    return origin, wsum, sums


def explained_energy(coord: np.ndarray, resid: np.ndarray, weight: np.ndarray, scale: np.ndarray) -> float:
    """``E`` of the module doc for one direction (``coord`` the pixels' coordinate along it)."""
    _, wsum, sums = binned_sums(coord, resid, weight)
    filled = wsum > 0
    return float(np.sum(sums[:, filled] ** 2 / wsum[filled]) - filled.sum() * np.sum(scale ** 2))


def line_azimuth(rows, cols, resid, weight, scale, transform=None, rng_seed: int = 0) -> float:
    """Azimuth ``φ`` in [0, 180) whose binned profile explains the most energy (module doc):
    1° grid, refined to 0.1°; at most :data:`MAX_SEARCH_PIXELS` pixels are used."""
    rows, cols, resid, weight = _subsample(rows, cols, resid, weight, rng_seed)

    def energy(phi: float) -> float:
        t, _ = track_coordinates(rows, cols, phi, transform)
        return explained_energy(t, resid, weight, scale)

    coarse = np.arange(0.0, 180.0, AZIMUTH_STEP_DEG)
    best = coarse[int(np.argmax([energy(p) for p in coarse]))]
    fine = best + np.arange(-1.5, 1.5 + 1e-9, AZIMUTH_REFINE_DEG)
    return float(fine[int(np.argmax([energy(p) for p in fine]))] % 180.0)


def _subsample(rows, cols, resid, weight, seed: int):
    n = rows.size
    if n <= MAX_SEARCH_PIXELS:
        return rows, cols, resid, weight
    pick = np.random.default_rng(seed).choice(n, MAX_SEARCH_PIXELS, replace=False)
    return rows[pick], cols[pick], resid[:, pick], weight[pick]


def _side_fits(centres, wsum, sums, window: int):
    """Weighted line fits of the bin means on the left and right of every bin edge ``k`` (between bins
    ``k-1`` and ``k``), extrapolated to the edge: values (2, 2, n+1) [side, comp, edge] and the
    variance factors (2, n+1) per unit residual variance."""
    n = wsum.size
    edges = centres[0] - 0.5 + np.arange(n + 1)
    cum = [np.concatenate([[0.0], np.cumsum(a)]) for a in (wsum, wsum * centres, wsum * centres ** 2)]
    cum_y = [np.concatenate([np.zeros((2, 1)), np.cumsum(a, axis=1)], axis=1) for a in (sums, sums * centres)]
    k = np.arange(n + 1)
    values = np.full((2, 2, n + 1), np.nan)
    factor = np.full((2, n + 1), np.inf)
    for side, (lo, hi) in enumerate(((np.maximum(k - window, 0), k), (k, np.minimum(k + window, n)))):
        s0, s1, s2 = (c[hi] - c[lo] for c in cum)
        t0, t1 = (c[:, hi] - c[:, lo] for c in cum_y)
        ok = s0 > 0
        zbar = np.where(ok, s1 / np.where(ok, s0, 1), 0.0)
        szz = s2 - s1 * zbar
        good = ok & (szz > 1e-9 * np.maximum(s0, 1))
        slope = np.where(good, (t1 - t0 * zbar) / np.where(good, szz, 1), 0.0)
        ybar = np.where(ok, t0 / np.where(ok, s0, 1), np.nan)
        values[side] = ybar + slope * (edges - zbar)
        factor[side] = np.where(good, 1 / np.where(ok, s0, 1) + (edges - zbar) ** 2 / np.where(good, szz, 1), np.inf)
    return edges, values, factor


def find_steps(u: np.ndarray, resid: np.ndarray, weight: np.ndarray, scale: np.ndarray, inflation: float = 1.0,
               window: int = STEP_WINDOW_BINS, z_min: float = STEP_Z_MIN,
               min_jump: float = STEP_MIN_JUMP_PX) -> tuple[np.ndarray, float]:
    """Detector boundaries (sorted ``u`` [px]) in the residuals and their summed ``z²`` (module doc)."""
    origin, wsum, sums = binned_sums(u, resid, weight)
    centres = origin + 0.5 + np.arange(wsum.size)
    edges, values, factor = _side_fits(centres, wsum, sums, window)
    jump = values[1] - values[0]
    var = (factor[0] + factor[1])[None, :] * (np.asarray(scale, np.float64)[:, None] ** 2) * inflation
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 = np.nansum(jump ** 2 / var, axis=0)
    big = np.nanmax(np.abs(np.nan_to_num(jump)), axis=0) >= min_jump
    z2 = np.where(big & np.isfinite(z2), z2, 0.0)
    accepted: list[int] = []
    for k in np.argsort(z2)[::-1]:
        if z2[k] < z_min ** 2:
            break
        if all(abs(int(k) - a) > window for a in accepted):
            accepted.append(int(k))
    return np.sort(edges[accepted]), float(sum(z2[a] for a in accepted))


def step_fraction(u: np.ndarray, resid: np.ndarray, weight: np.ndarray, scale: np.ndarray,
                  inflation: float = 1.0) -> float:
    """Share of the weighted variance of the 1-px bin means along ``u`` that levels between the
    boundaries :func:`find_steps` finds explain (0 when it finds none): near 1 for detector steps,
    small for waves, which a few levels cannot follow."""
    boundaries, _ = find_steps(u, resid, weight, scale, inflation)
    if boundaries.size == 0:
        return 0.0
    origin, wsum, sums = binned_sums(u, resid, weight)
    filled = wsum > 0
    means = sums[:, filled] / wsum[filled]
    w = wsum[filled]
    labels = np.searchsorted(boundaries, origin + 0.5 + np.flatnonzero(filled), side="right")
    total = residual = 0.0
    for m in means:
        level_w = np.bincount(labels, weights=w)
        levels = np.bincount(labels, weights=w * m) / np.maximum(level_w, 1e-300)
        total += np.sum(w * (m - np.average(m, weights=w)) ** 2)
        residual += np.sum(w * (m - levels[labels]) ** 2)
    return float(1.0 - residual / total) if total > 0 else 0.0


def track_azimuth(rows, cols, resid, weight, scale, transform=None, steps: bool = False,
                  inflation: float = 1.0) -> float:
    """Track azimuth estimated from the residuals: the best line azimuth ``φ`` (:func:`line_azimuth`);
    with steps in the model, ``φ`` or ``φ + 90°``, whichever puts the more step-like profile
    (:func:`step_fraction`) across the track."""
    phi = line_azimuth(rows, cols, resid, weight, scale, transform)
    if not steps:
        return phi
    sub = _subsample(rows, cols, resid, weight, 1)
    scores = []
    for candidate in (phi, phi + 90.0):
        _, u = track_coordinates(sub[0], sub[1], candidate, transform)
        scores.append(step_fraction(u, sub[2], sub[3], scale, inflation))
    return float((phi if scores[0] >= scores[1] else phi + 90.0) % 360.0)
