"""Side-line fits of a fault profile with serially correlated (AR(1)) bin errors.

The model and the maths are in the docstring of :mod:`microflow.analysis.profile` ("Correlated bin
errors"): a weighted least-squares line per side, the lag-1 correlation ``ρ`` of its whitened
residuals by the method of moments (matched to its expectation under the fit), ``n_eff =
n (1 - ρ)/(1 + ρ)`` in ``[2, n]``, and the intercept's standard error from ``φ² G X̃ᵀ R X̃ G``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_FIT_POINTS = 3
EXACT_FIT = 1e-9
"""Residuals below this fraction of the largest whitened value are rounding: the line is exact."""
DENSE_AR1_MAX = 400
"""Fits of up to this many bins multiply by the AR(1) correlation matrix directly (faster there)."""
RHO_GRID = 21
RHO_BISECTIONS = 20
"""The moment equation ``g(ρ) = q`` is bracketed on RHO_GRID values of ρ, then solved by bisection."""


@dataclass
class SideFit:
    """Line ``a + b·t`` fitted on one side of the trace (``side`` = +1 left, -1 right).

    ``rho``: lag-1 correlation of the bin errors (AR(1) model), ``n_eff = n (1 - rho)/(1 + rho)``.
    """

    side: int
    intercept: float
    slope: float
    intercept_se: float
    n: int
    intercept_se_propagated: float = math.nan   # from the sigma band alone (weighted fits)
    rho: float = math.nan
    n_eff: float = math.nan


@dataclass
class ComponentOffset:
    """Offset of one component at the trace: left-side fit minus right-side fit at ``t = 0``."""

    offset: float
    sigma: float
    left: SideFit
    right: SideFit
    sigma_propagated: float = math.nan   # from the sigma band alone (NaN without one)


def bin_index(t: np.ndarray) -> np.ndarray:
    """Integer bin positions of sorted, evenly spaced bin centres (missing bins leave gaps)."""
    steps = np.diff(t)
    step = float(steps[steps > 0].min()) if (steps > 0).any() else 1.0
    return np.rint((t - t[0]) / step).astype(np.int64)


def ar1_product(index: np.ndarray, rho: float, x: np.ndarray) -> np.ndarray:
    """``R x`` with ``R_ij = rho^|k_i - k_j|``: dense for short fits, else in O(n) as a causal plus an
    anti-causal first-order recursion on the full bin grid (missing bins are zeros), minus the
    doubled diagonal."""
    if rho <= 0:
        return np.array(x, float)
    if index.size <= DENSE_AR1_MAX:
        return (rho ** np.abs(index[:, None] - index[None, :]).astype(float)) @ x
    from scipy.signal import lfilter

    grid = np.zeros((int(index[-1] - index[0]) + 1, x.shape[1]))
    grid[index - index[0]] = x
    forward = lfilter([1.0], [1.0, -rho], grid, axis=0)
    backward = lfilter([1.0], [1.0, -rho], grid[::-1], axis=0)[::-1]
    return (forward + backward - grid)[index - index[0]]


def lag1_ratio(z: np.ndarray, index: np.ndarray) -> float:
    """``Σ z_i z_j`` over bins one index apart divided by ``Σ z_i²`` (``z`` not all zero)."""
    adjacent = np.flatnonzero(np.diff(index) == 1)
    return float(z[adjacent] @ z[adjacent + 1]) / float(z @ z)


def residual_moments(index: np.ndarray, design: np.ndarray, gram_inv: np.ndarray, rho: float):
    """``(Σ_adjacent (P R P)_ij, tr(P R), X̃ᵀ R X̃)`` for ``P = I - X̃ G X̃ᵀ``, in O(n): ``H = X̃ G X̃ᵀ``
    has rank 2, so ``P R P = R - H R - R H + H R H`` needs only ``R X̃`` (module doc)."""
    rx = ar1_product(index, rho, design)
    c = design.T @ rx
    i = np.flatnonzero(np.diff(index) == 1)
    j = i + 1
    g, gcg = gram_inv, gram_inv @ c @ gram_inv
    adjacent = (rho * i.size - np.einsum("ik,kl,il->", design[i], g, rx[j])
                - np.einsum("ik,kl,il->", rx[i], g, design[j]) + np.einsum("ik,kl,il->", design[i], gcg, design[j]))
    return float(adjacent), float(index.size - np.trace(g @ c)), c


def estimate_rho(z: np.ndarray, index: np.ndarray, design: np.ndarray, gram_inv: np.ndarray) -> float:
    """Moment estimate of the AR(1) ``ρ`` of ``u`` from whitened residuals ``z = φ P u``: ``ρ`` with
    ``g(ρ) = q`` (module doc), bracketed on a grid and refined by bisection."""
    n = z.size
    if not float(z @ z) > 0:
        return 0.0
    rho_max = (n - 2) / (n + 2)
    q = lag1_ratio(z, index)

    def expected(rho: float) -> float:  # g(rho) = tr(A P R P) / tr(P R)
        adjacent, trace, _ = residual_moments(index, design, gram_inv, rho)
        return adjacent / trace

    grid = np.linspace(0.0, rho_max, RHO_GRID)
    values = np.array([expected(rho) for rho in grid])
    if q <= values[0]:
        return 0.0
    above = np.flatnonzero(values >= q)
    if above.size == 0:
        return float(rho_max)
    lo, hi = float(grid[above[0] - 1]), float(grid[above[0]])
    for _ in range(RHO_BISECTIONS):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if expected(mid) < q else (lo, mid)
    return 0.5 * (lo + hi)


def fit_side(distance: np.ndarray, values: np.ndarray, side: int, gap: float, fit_distance: float,
             sigmas: np.ndarray | None = None) -> SideFit:
    """Line on ``side`` (+1: t > 0, -1: t < 0) within ``gap < |t| <= fit_distance``, weighted by
    ``1 / sigmas²`` (per-bin 1-sigma) when given, with AR(1)-correlated errors (module doc)."""
    use = np.isfinite(values) & (side * distance > gap) & (side * distance <= fit_distance)
    if sigmas is not None:
        use &= np.isfinite(sigmas) & (sigmas > 0)
    order = np.argsort(distance[use])
    t, v = distance[use][order], np.asarray(values, float)[use][order]
    n = int(t.size)
    if n < MIN_FIT_POINTS or np.ptp(t) == 0:
        return SideFit(side, math.nan, math.nan, math.nan, n)
    s = np.ones(n) if sigmas is None else np.asarray(sigmas, float)[use][order]
    design = np.stack([np.ones_like(t), t], axis=1) / s[:, None]
    gram_inv = np.linalg.inv(design.T @ design)
    intercept, slope = gram_inv @ (design.T @ (v / s))
    z = (v - intercept - slope * t) / s
    if float(np.abs(z).max()) <= EXACT_FIT * float(np.abs(v / s).max()):
        z = np.zeros(n)  # an exact line: rounding residuals carry no correlation
    index = bin_index(t)
    rho = estimate_rho(z, index, design, gram_inv)
    _, trace, c = residual_moments(index, design, gram_inv, rho)
    phi2 = float(z @ z) / trace
    propagated = math.sqrt(float((gram_inv @ c @ gram_inv)[0, 0]))
    n_eff = n * (1 - rho) / (1 + rho)
    if sigmas is None:
        return SideFit(side, float(intercept), float(slope), math.sqrt(phi2) * propagated, n, math.nan, rho, n_eff)
    se = propagated * math.sqrt(max(1.0, phi2))
    return SideFit(side, float(intercept), float(slope), se, n, propagated, rho, n_eff)


def offset_at_trace(distance: np.ndarray, values: np.ndarray, gap: float, fit_distance: float,
                    sigmas: np.ndarray | None = None) -> ComponentOffset:
    """Offset ``a₊ - a₋`` of the two side fits at ``t = 0`` with its standard error (weighted by the
    per-bin 1-sigma ``sigmas`` when given; AR(1) errors on each side, the sides independent)."""
    left = fit_side(distance, values, +1, gap, fit_distance, sigmas)
    right = fit_side(distance, values, -1, gap, fit_distance, sigmas)
    return ComponentOffset(left.intercept - right.intercept, math.hypot(left.intercept_se, right.intercept_se),
                           left, right, math.hypot(left.intercept_se_propagated, right.intercept_se_propagated))
