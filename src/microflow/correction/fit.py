"""Robust fit of a correction model on stable pixels, and the fitted correction with its uncertainty.

Model, per component ``c`` of ``d = (dx, dy)`` [pre pixels], at pixel ``p``:
``m_c(p) = P(p) a_c + s_c(t(p)) + g_c(u(p))`` (polynomial, stripes, steps: :mod:`.models`).

Fit: iteratively reweighted least squares. Each reweighting step solves the weighted least-squares
problem ``min Σ w (d_c - m_c)²`` by backfitting: the polynomial and the step levels jointly by weighted
least squares on the partial residual (:func:`solve_block`), the stripe profile as the weighted mean of
its residual per ``t`` bin, the track profiles kept free of the polynomials they share with ``P`` (:func:`~.models.project_out_poly`: powers of ``t`` up to the
polynomial degree for the stripes, the mean alone for the steps, whose piecewise-constant span holds
no other polynomial); sweeps repeat until no value
moves by more than :data:`BACKFIT_TOL_PX`. Weights are Tukey's biweight of the normalized residual
``ρ = sqrt(((r_x / σ_x)² + (r_y / σ_y)²) / 2)``: ``w = (1 - (ρ / c)²)²`` for ``ρ < c = 4.685``, else 0,
with ``σ_c = 1.4826 MAD(r_c)``, after :data:`HUBER_ITERATIONS` steps with Huber's ``min(1, 1.345 / ρ)``
(never zero, so a least-squares start pulled by outliers cannot reject every pixel).

Uncertainty (standard deviations, pre pixels). Residuals of a correlator are spatially correlated,
so ``n`` pixels carry fewer than ``n`` independent samples. The inflation
``F = mean_blocks(n_b (m_b - m̄)²) / σ²`` over 16 x 16 blocks (``m_b`` the mean residual of a block of
``n_b`` stable pixels) is 1 for white noise and about the correlation area otherwise (clipped to
[1, 256]). Then ``Cov(a_c) = F σ_c² (Pᵀ W P)⁻¹``, ``Var(s_c[bin]) = √F σ_c² / Σ_bin w`` (a line
average, correlated along one dimension) and ``Var(g_c[seg]) = √F σ_c² / Σ_seg w``. The variance of
the correction at a pixel is ``P(p) Cov(a_c) P(p)ᵀ + Var(s_c) + Var(g_c)`` (the blocks taken as
independent).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from microflow.correction.models import (STRIPE_BIN_PX, ModelSpec, interpolate_profile, normalized_xy, poly_design,
                                         project_out_poly, step_labels, track_coordinates)

TUKEY_C = 4.685
HUBER_K = 1.345
HUBER_ITERATIONS = 4
MAD_TO_SIGMA = 1.4826
BACKFIT_TOL_PX = 1e-6
BACKFIT_SWEEPS = 200
IRLS_ITERATIONS = 10
BLOCK_PX = 16


@dataclass
class Track:
    """Track frame of the stripes and steps: azimuth [deg], the geotransform, stripe-bin origin
    ``t0`` and count, and the step boundaries (sorted ``u`` [px])."""

    azimuth: float
    transform: object = None
    t0: float = 0.0
    n_bins: int = 0
    boundaries: np.ndarray = field(default_factory=lambda: np.zeros(0))
    azimuth_estimated: bool = False
    boundaries_found: bool = False


@dataclass
class FitResult:
    """Fitted parameters and their variances (all pre pixels); :meth:`evaluate` gives the correction."""

    spec: ModelSpec
    shape: tuple[int, int]
    poly: np.ndarray            # (2, k)
    poly_cov: np.ndarray        # (2, k, k)
    stripes: np.ndarray         # (2, n_bins)
    stripes_var: np.ndarray     # (2, n_bins)
    steps: np.ndarray           # (2, n_segments)
    steps_var: np.ndarray       # (2, n_segments)
    track: Track | None
    scale: np.ndarray           # (2,) robust residual sigma
    inflation: float
    weights: np.ndarray         # (n,) final IRLS weights of the stable pixels
    iterations: int

    def evaluate(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correction ``m`` (2, n) and its variance (2, n) at pixels (``rows``, ``cols`` 1-D)."""
        x, y = normalized_xy(rows, cols, self.shape)
        design = poly_design(x, y, self.spec.degree)
        corr = (design @ self.poly.T).T if self.poly.size else np.zeros((2, np.size(rows)))
        var = (np.stack([np.einsum("nk,kl,nl->n", design, self.poly_cov[c], design) for c in range(2)])
               if self.poly.size else np.zeros_like(corr))
        if self.spec.needs_track:
            t, u = track_coordinates(rows, cols, self.track.azimuth, self.track.transform)
            if self.spec.stripes:
                corr = corr + interpolate_profile(self.stripes, t, self.track.t0, STRIPE_BIN_PX)
                var = var + interpolate_profile(self.stripes_var, t, self.track.t0, STRIPE_BIN_PX)
            if self.spec.steps:
                seg = step_labels(u, self.track.boundaries)
                corr = corr + self.steps[:, seg]
                var = var + self.steps_var[:, seg]
        return corr, var


def weighted_lstsq(design: np.ndarray, values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``argmin_a Σ w (v - design a)²`` for both rows of ``values`` (2, n) -> (2, k)."""
    normal = design.T @ (design * weight[:, None])
    rhs = (design * weight[:, None]).T @ values.T
    return np.linalg.solve(normal, rhs).T


def group_means(index: np.ndarray, n_groups: int, values: np.ndarray, weight: np.ndarray):
    """Weighted mean of ``values`` (2, n) per group (0 where a group has no weight) and the group weights."""
    wsum = np.bincount(index, weights=weight, minlength=n_groups)
    sums = np.stack([np.bincount(index, weights=weight * v, minlength=n_groups) for v in values])
    return np.where(wsum > 0, sums / np.where(wsum > 0, wsum, 1.0), 0.0), wsum


def robust_scale(resid: np.ndarray) -> np.ndarray:
    """``1.4826 MAD`` per component of (2, n) residuals (a floor of 1e-6 px)."""
    med = np.median(resid, axis=1, keepdims=True)
    return np.maximum(MAD_TO_SIGMA * np.median(np.abs(resid - med), axis=1), 1e-6)


def _rho(resid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((resid / scale[:, None]) ** 2, axis=0))


def tukey_weights(resid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Biweight of ``ρ = sqrt(mean_c (r_c / σ_c)²)`` (module doc)."""
    rho = _rho(resid, scale)
    return np.where(rho < TUKEY_C, (1 - (rho / TUKEY_C) ** 2) ** 2, 0.0)


def huber_weights(resid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``min(1, k / ρ)``, ``k = 1.345``: the never-zero weights of the first iterations."""
    return np.minimum(1.0, HUBER_K / np.maximum(_rho(resid, scale), 1e-12))


def correlation_inflation(rows: np.ndarray, cols: np.ndarray, resid: np.ndarray, weight: np.ndarray,
                          scale: np.ndarray, block: int = BLOCK_PX) -> float:
    """``F`` of the module doc from the inlier residuals (1 when no block is at least half full)."""
    keep = weight > 0
    ncol = int(cols.max()) // block + 1
    index = (rows[keep] // block).astype(np.int64) * ncol + (cols[keep] // block).astype(np.int64)
    counts = np.bincount(index)
    full = counts >= block * block // 2
    if not full.any():
        return 1.0
    values = []
    for c in range(2):
        sums = np.bincount(index, weights=resid[c, keep], minlength=counts.size)
        means = sums[full] / counts[full]
        values.append(np.mean(counts[full] * (means - means.mean()) ** 2) / scale[c] ** 2)
    return float(np.clip(np.mean(values), 1.0, block * block))


@dataclass
class _Design:
    poly: np.ndarray
    t_bin: np.ndarray | None
    t_centres: np.ndarray | None
    segment: np.ndarray | None
    u_weights: np.ndarray | None


def _design(spec: ModelSpec, rows, cols, shape, track: Track | None) -> _Design:
    x, y = normalized_xy(rows, cols, shape)
    t_bin = t_centres = segment = u_weights = None
    if spec.needs_track:
        t, u = track_coordinates(rows, cols, track.azimuth, track.transform)
        if spec.stripes:
            t_bin = np.clip(((t - track.t0) / STRIPE_BIN_PX).astype(np.int64), 0, track.n_bins - 1)
            t_centres = track.t0 + (np.arange(track.n_bins) + 0.5) * STRIPE_BIN_PX
        if spec.steps:
            segment = step_labels(u, track.boundaries)
            u_weights = np.bincount(segment, minlength=track.boundaries.size + 1).astype(np.float64)
    return _Design(poly_design(x, y, spec.degree), t_bin, t_centres, segment, u_weights)


def solve_block(des: _Design, values: np.ndarray, weight: np.ndarray, n_seg: int, shared: bool):
    """Joint weighted least squares of the polynomial and the step levels (``n_seg`` segments, 0 for
    none) on ``values`` (2, n): normal equations assembled with ``bincount`` (no dense indicator
    matrix). With ``shared`` (a constant also held by another term) the first level is fixed to 0.
    Returns poly (2, k) and steps (2, n_seg); the steps' weighted mean is moved into the constant."""
    design, k = des.poly, des.poly.shape[1]
    first = 1 if shared else 0
    m = max(n_seg - first, 0)
    normal = np.zeros((k + m, k + m))
    rhs = np.zeros((k + m, 2))
    wd = design * weight[:, None]
    normal[:k, :k] = design.T @ wd
    rhs[:k] = wd.T @ values.T
    if m:
        seg = des.segment
        wseg = np.bincount(seg, weights=weight, minlength=n_seg)
        cross = np.stack([np.bincount(seg, weights=wd[:, j], minlength=n_seg) for j in range(k)])
        normal[:k, k:] = cross[:, first:]
        normal[k:, :k] = cross[:, first:].T
        normal[k:, k:] = np.diag(wseg[first:])
        rhs[k:] = np.stack([np.bincount(seg, weights=weight * v, minlength=n_seg) for v in values]).T[first:]
    sol = np.linalg.lstsq(normal, rhs, rcond=None)[0] if m else np.linalg.solve(normal, rhs)
    poly = sol[:k].T.copy()
    steps = np.zeros((2, n_seg))
    steps[:, first:] = sol[k:].T
    if n_seg and k and des.u_weights is not None:
        mean = steps @ des.u_weights / max(des.u_weights.sum(), 1e-300)
        steps -= mean[:, None]
        poly[:, 0] += mean
    return poly, steps


def _backfit(spec: ModelSpec, des: _Design, values: np.ndarray, weight: np.ndarray, state: list) -> int:
    """Backfitting sweeps from ``state = [poly, stripes, steps]`` (updated in place): the polynomial
    and the steps jointly (:func:`solve_block`), then the stripes; returns the sweeps made."""
    poly, stripes, steps = state
    shared = spec.steps and (spec.degree >= 0 or spec.stripes)
    for sweep in range(1, BACKFIT_SWEEPS + 1):
        before = [a.copy() for a in state]
        partial = values - stripes[:, des.t_bin] if spec.stripes else values
        if spec.n_poly or spec.steps:
            new_poly, new_steps = solve_block(des, partial, weight, steps.shape[1], shared)
            poly[:], steps[:] = new_poly, new_steps
        if not spec.stripes:
            return sweep
        resid = values - _model_values(replace(spec, stripes=False), des, state)
        means, wsum = group_means(des.t_bin, stripes.shape[1], resid, weight)
        stripes[:] = project_out_poly(means, wsum, des.t_centres, spec.degree)
        if max((np.max(np.abs(a - b)) if a.size else 0.0) for a, b in zip(state, before)) < BACKFIT_TOL_PX:
            return sweep
    return BACKFIT_SWEEPS


def _model_values(spec: ModelSpec, des: _Design, state: list) -> np.ndarray:
    poly, stripes, steps = state
    out = (des.poly @ poly.T).T if spec.n_poly else np.zeros((2, des.poly.shape[0]))
    if spec.stripes:
        out = out + stripes[:, des.t_bin]
    if spec.steps:
        out = out + steps[:, des.segment]
    return out


def fit_model(spec: ModelSpec, values: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
              track: Track | None = None, weight: np.ndarray | None = None) -> FitResult:
    """Robust IRLS fit (module doc) of ``values`` (2, n) [pre px] at stable pixels (``rows``, ``cols``)."""
    values = np.asarray(values, np.float64)
    des = _design(spec, rows, cols, shape, track)
    n_bins = track.n_bins if spec.stripes else 0
    n_seg = track.boundaries.size + 1 if spec.steps else 0
    state = [np.zeros((2, spec.n_poly)), np.zeros((2, n_bins)), np.zeros((2, n_seg))]
    weight = np.ones(values.shape[1]) if weight is None else np.asarray(weight, np.float64)
    prior = weight
    iterations = 0
    for iterations in range(1, HUBER_ITERATIONS + IRLS_ITERATIONS + 1):
        _backfit(spec, des, values, weight, state)
        resid = values - _model_values(spec, des, state)
        scale = robust_scale(resid[:, weight > 0] if np.any(weight > 0) else resid)
        huber = iterations <= HUBER_ITERATIONS
        new = prior * (huber_weights(resid, scale) if huber else tukey_weights(resid, scale))
        change = float(np.max(np.abs(new - weight)))
        weight = new
        if not huber and change < 1e-3:
            break
    _backfit(spec, des, values, weight, state)
    resid = values - _model_values(spec, des, state)
    scale = robust_scale(resid[:, weight > 0])
    inflation = correlation_inflation(rows, cols, resid, weight, scale)
    return _result(spec, shape, des, state, weight, scale, inflation, track, iterations)


def _result(spec, shape, des, state, weight, scale, inflation, track, iterations) -> FitResult:
    poly, stripes, steps = state
    var2 = scale ** 2
    poly_cov = np.zeros((2, spec.n_poly, spec.n_poly))
    if spec.n_poly:
        normal_inv = np.linalg.inv(des.poly.T @ (des.poly * weight[:, None]))
        poly_cov = inflation * var2[:, None, None] * normal_inv[None]
    line = np.sqrt(inflation)
    stripes_var = np.zeros_like(stripes)
    if spec.stripes:
        wsum = np.bincount(des.t_bin, weights=weight, minlength=stripes.shape[1])
        stripes, stripes_var = _fill_empty(stripes, line * var2[:, None] / np.where(wsum > 0, wsum, np.nan))
    steps_var = np.zeros_like(steps)
    if spec.steps:
        wsum = np.bincount(des.segment, weights=weight, minlength=steps.shape[1])
        steps, steps_var = _fill_empty(steps, line * var2[:, None] / np.where(wsum > 0, wsum, np.nan))
    return FitResult(spec, tuple(shape), poly.copy(), poly_cov, stripes, stripes_var, steps, steps_var, track,
                     scale, inflation, weight, iterations)


def _fill_empty(profile: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bins without stable pixels (NaN variance) take the linear interpolation of their neighbours."""
    filled = np.isfinite(var[0])
    if filled.all() or not filled.any():
        return profile, np.nan_to_num(var)
    idx = np.arange(profile.shape[1])
    out_p = np.stack([np.interp(idx, idx[filled], p[filled]) for p in profile])
    out_v = np.stack([np.interp(idx, idx[filled], v[filled]) for v in var])
    return out_p, out_v
