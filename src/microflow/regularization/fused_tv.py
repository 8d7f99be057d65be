"""Fused CPU kernels (numba) for anisotropic log-TV and plain TV: the torch solver, reordered.

Same problem and same iteration as :func:`.weighted_tv.solve_weighted_tv` with ``norm="aniso"`` and
:func:`.log_tv.log_tv_denoise`; only the order of evaluation changes. For a field u = (u_c), c = 1..C
[px], data f [px] (0 on invalid pixels) and dual bounds b_x = w_x e_x, b_y = w_y e_y [px] shared by
the components (e = 1 on an edge between two valid in-image pixels, else 0), iteration t, with the
steps σ_t, τ_t, θ_t of the torch solver (τ σ ||D||² = 1, θ = 1 once τ <= MIN_PRIMAL_STEP), is per
pixel (i, j) and component:

    p_x <- clip(p_x + σ_t (ū[i, j+1] - ū[i, j]), -b_x, b_x)     (p_y likewise with ū[i+1, j])
    r   =  f + p_x + p_y - p_x[i, j-1] - p_y[i-1, j]             (= f - Dᵀp, terms in torch's order)
    u'  =  u + a_t (r - u),          a_t = τ_t / (1 + τ_t)       (torch.lerp, small weight)
    ū   =  u - (u - u') (1 + θ_t)    (= u' + θ_t (u' - u), torch.lerp with weight -θ_t)

in float32 with the scalars rounded to float32 once, as torch does (no fastmath, no FMA contraction),
so both paths agree to float32 rounding. Row i of iteration t reads ū of rows i and i+1 from iteration
t-1 and p_y of row i-1 from iteration t. A sweep that runs iteration t0 + s on row r - 2s for
s = 0..depth-1 therefore updates every array in place, and keeps the ~2 depth rows it touches in the
L2 cache: one pass over memory per ``depth`` iterations instead of ~35 array passes per iteration in
torch. The arithmetic of each pixel does not depend on ``depth``, nor does the result.

Log-TV (majorize-minimize): before each of the ``outer_iters`` solves, from the current u,
b_x = e_x λ / (2 (g_x + ε)) with g_x = Σ_c |D_x u_c| [px] (likewise y; λ [px²], ε [px]; computed as
torch does, (1 / (2 (g + ε))) λ), the previous dual is clipped onto the new bounds and u = ū = f - Dᵀp
(warm start). Plain TV: one solve with b = e λ / 2 (λ [px]) from p = 0. Invalid pixels (NaN or inf in
either component) have no edge, hence no influence, and come back NaN in both components.

numba is optional: without it ``FUSED_AVAILABLE`` is False and the entry points raise ImportError.
Kernels compile on their first call (a few seconds, then cached in __pycache__), release the GIL
(``nogil``) and are single-threaded: run tiles in threads for parallelism.
"""

from __future__ import annotations

import math

import numpy as np

from microflow.errors import ParameterError
from microflow.regularization.weighted_tv import MIN_PRIMAL_STEP, OPERATOR_NORM_SQ, STRONG_CONVEXITY

try:
    from numba import njit
    FUSED_AVAILABLE = True
except ImportError:             # the torch path remains; the entry points below refuse to run
    FUSED_AVAILABLE = False

    def njit(**_kwargs):
        return lambda function: function

CACHE_BYTES = 768 * 1024        # rows a wavefront may keep hot (about 3/4 of a 1 MiB L2 cache)
_JIT = {"cache": True, "nogil": True, "fastmath": False}


@njit(**_JIT)
def _clip(v, b):
    """torch.clamp(v, -b, b) for b >= 0."""
    if v < -b:
        v = -b
    if v > b:
        v = b
    return v


@njit(**_JIT)
def _primal(fr, ur, ubr, pxr, pyr, pyu, a, k1):
    """Primal update of one row; pyu is the dual p_y of the row above (zeros on row 0: x - 0 = x
    exactly, so the missing terms cost no rounding)."""
    r = fr[0] + pxr[0] + pyr[0] - pyu[0]
    uo = ur[0]
    un = uo + a * (r - uo)
    ur[0] = un
    ubr[0] = uo - (uo - un) * k1
    for j in range(1, fr.shape[0]):
        r = fr[j] + pxr[j] + pyr[j] - pxr[j - 1] - pyu[j]
        uo = ur[j]
        un = uo + a * (r - uo)
        ur[j] = un
        ubr[j] = uo - (uo - un) * k1


@njit(**_JIT)
def _row(i, f, u, ub, px, py, bx, by, sig, a, k1, zero_row):
    """One primal-dual iteration on row i of every component (dual first, then primal)."""
    n_comp, height, width = f.shape
    bxr, byr = bx[i], by[i]
    for c in range(n_comp):
        fr, ur, ubr, pxr, pyr = f[c, i], u[c, i], ub[c, i], px[c, i], py[c, i]
        for j in range(width - 1):
            pxr[j] = _clip(pxr[j] + sig * (ubr[j + 1] - ubr[j]), bxr[j])
        pxr[width - 1] = 0.0                    # no edge leaves the image: bound 0
        if i + 1 < height:
            ubn = ub[c, i + 1]
            for j in range(width):
                pyr[j] = _clip(pyr[j] + sig * (ubn[j] - ubr[j]), byr[j])
        else:
            pyr[:] = 0.0
        _primal(fr, ur, ubr, pxr, pyr, py[c, i - 1] if i > 0 else zero_row, a, k1)


@njit(**_JIT)
def _iterate(f, u, ub, px, py, bx, by, sig, a, k1, depth):
    """All iterations of one solve (scalars sig[t], a[t], k1[t]), ``depth`` at a time per sweep."""
    height = f.shape[1]
    n_iter = sig.shape[0]
    zero_row = np.zeros(f.shape[2], np.float32)
    for t0 in range(0, n_iter, depth):
        m = min(depth, n_iter - t0)
        for r in range(height + 2 * (m - 1)):
            for s in range(m):
                i = r - 2 * s
                if 0 <= i < height:
                    t = t0 + s
                    _row(i, f, u, ub, px, py, bx, by, sig[t], a[t], k1[t], zero_row)


@njit(**_JIT)
def _set_bounds(valid, u, bx, by, lam, eps, reweight):
    """b = e λ / (2 (g + ε)) from the joint gradient g of u if ``reweight`` (log-TV), else b = e λ
    (plain TV, λ already halved); 0 on missing edges."""
    n_comp, height, width = u.shape
    one, two, zero = np.float32(1.0), np.float32(2.0), np.float32(0.0)
    for i in range(height):
        vr = valid[i]
        for j in range(width - 1):
            g = zero
            for c in range(n_comp):
                g += abs(u[c, i, j + 1] - u[c, i, j])
            w = one / (two * (g + eps)) * lam if reweight else lam
            bx[i, j] = w if vr[j] & vr[j + 1] else zero
        bx[i, width - 1] = zero
        if i + 1 == height:
            by[i, :] = zero
            continue
        vn = valid[i + 1]
        for j in range(width):
            g = zero
            for c in range(n_comp):
                g += abs(u[c, i + 1, j] - u[c, i, j])
            w = one / (two * (g + eps)) * lam if reweight else lam
            by[i, j] = w if vr[j] & vn[j] else zero


@njit(**_JIT)
def _restart(f, u, ub, px, py, bx, by):
    """Warm start of a solve: clip the dual onto the bounds, then u = ū = f - Dᵀp."""
    n_comp, height, width = f.shape
    zero_row = np.zeros(width, np.float32)
    for i in range(height):
        for c in range(n_comp):
            fr, ur, ubr, pxr, pyr = f[c, i], u[c, i], ub[c, i], px[c, i], py[c, i]
            for j in range(width):
                pxr[j] = _clip(pxr[j], bx[i, j])
                pyr[j] = _clip(pyr[j], by[i, j])
            pyu = zero_row if i == 0 else py[c, i - 1]
            r = fr[0] + pxr[0] + pyr[0] - pyu[0]
            ur[0], ubr[0] = r, r
            for j in range(1, width):
                r = fr[j] + pxr[j] + pyr[j] - pxr[j - 1] - pyu[j]
                ur[j], ubr[j] = r, r


def step_schedule(iters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 (σ_t, a_t = τ_t / (1 + τ_t), 1 + θ_t) for t < iters, from the torch solver's float64
    recursion (τ <- θ τ, σ <- σ / θ, θ = 1 / sqrt(1 + 2 γ τ) while τ > MIN_PRIMAL_STEP, else 1)."""
    tau = 1.0 / math.sqrt(OPERATOR_NORM_SQ)
    sigma = 1.0 / (tau * OPERATOR_NORM_SQ)
    out = np.empty((3, iters), np.float32)
    for t in range(iters):
        theta = 1.0 / math.sqrt(1.0 + 2.0 * STRONG_CONVEXITY * tau) if tau > MIN_PRIMAL_STEP else 1.0
        out[0, t], out[1, t] = sigma, tau / (1.0 + tau)
        out[2, t] = np.float32(1.0) - np.float32(-theta)  # torch: weight - 1 with weight = -θ in float32
        tau, sigma = theta * tau, sigma / theta
    return out[0], out[1], out[2]


def _depth(n_comp: int, width: int, iters: int) -> int:
    """Iterations per sweep: ~2 depth rows of the 5 C + 2 float32 arrays fit CACHE_BYTES."""
    row_bytes = (5 * n_comp + 2) * 4 * max(width, 1)
    return int(min(max(CACHE_BYTES // (2 * row_bytes), 1), iters))


def _solve(dx: np.ndarray, dy: np.ndarray, lam: float, eps: float, outer_iters: int, inner_iters: int,
           reweight: bool, depth: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not FUSED_AVAILABLE:
        raise ImportError("the fused TV kernels need numba (pip install numba)")
    dx, dy = np.asarray(dx), np.asarray(dy)
    if dx.ndim != 2 or dx.shape != dy.shape:
        raise ParameterError(f"dx and dy must be 2-D arrays of equal shape, got {dx.shape}, {dy.shape}")
    if not lam >= 0 or not eps > 0 or outer_iters < 1 or inner_iters < 1:
        raise ParameterError(f"need lam >= 0, eps > 0, iterations >= 1, got {lam}, {eps}, "
                             f"{outer_iters}, {inner_iters}")
    if depth is not None and depth < 1:
        raise ParameterError(f"depth must be >= 1, got {depth}")
    u0 = np.stack([dx, dy]).astype(np.float32, copy=False)
    if u0.size == 0:
        return u0[0], u0[1]
    valid = np.isfinite(u0).all(axis=0)
    f = np.where(valid, u0, np.float32(0.0))
    u, ub = f.copy(), np.empty_like(f)
    px, py = np.zeros_like(f), np.zeros_like(f)
    bx, by = np.empty(f.shape[1:], np.float32), np.empty(f.shape[1:], np.float32)
    sig, a, k1 = step_schedule(inner_iters)
    depth = _depth(f.shape[0], f.shape[2], inner_iters) if depth is None else min(depth, inner_iters)
    lam32 = np.float32(lam) if reweight else np.float32(lam / 2.0)
    for _ in range(outer_iters):
        _set_bounds(valid, u, bx, by, lam32, np.float32(eps), reweight)
        _restart(f, u, ub, px, py, bx, by)
        _iterate(f, u, ub, px, py, bx, by, sig, a, k1, depth)
    u[:, ~valid] = np.nan
    return u[0], u[1]


def log_tv_fused(dx: np.ndarray, dy: np.ndarray, *, lam: float, eps: float, outer_iters: int,
                 inner_iters: int, depth: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Anisotropic log-TV of (dx, dy) [px], float32 (H, W) each, NaN = no data: the result of
    ``regularize(dx, dy, "ltv", norm="aniso", gap_tol=None)`` to float32 rounding. ``depth``:
    iterations per sweep (default: from the row width and CACHE_BYTES; it changes only the speed)."""
    return _solve(dx, dy, lam, eps, outer_iters, inner_iters, True, depth)


def tv_fused(dx: np.ndarray, dy: np.ndarray, *, lam: float, inner_iters: int,
             depth: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plain anisotropic TV of (dx, dy) [px] (weights λ / 2 on every existing edge), as
    ``regularize(dx, dy, "tv", norm="aniso", gap_tol=None)``."""
    return _solve(dx, dy, lam, 1.0, 1, inner_iters, False, depth)
