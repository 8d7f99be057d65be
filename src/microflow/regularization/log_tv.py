"""Log-TV a-posteriori regularization of a displacement field (method.md §5), by majorize-minimize.

Objective, for the field u = (dx, dy) [pixels] and the raw estimate u0, over valid pixels:

    Φ(u) = ||u - u0||²  +  λ Σ_k log(g_k(u) + ε)

with the JOINT gradient magnitude g of both components (it couples the EW and NS weights):

* ``norm="aniso"`` (default): one term per edge e = (p, p + x̂) or (p, p + ŷ) between two valid
  pixels, ``g_e = |D_e dx| + |D_e dy|`` (l1 over the components: the one joint magnitude whose
  majorizer splits into per-component anisotropic problems with shared weights, i.e. exactly what
  prox-tv's ``tv1w_2d`` solves);
* ``norm="iso"``: one term per valid pixel p, ``g_p = sqrt(|∇dx|_p² + |∇dy|_p²)`` (forward
  differences, missing edges count 0).

log is concave, so ``log(g + ε) <= log(g_k + ε) + (g - g_k) / (g_k + ε)`` with equality at g = g_k.
One MM step therefore minimizes ``||u - u0||² + Σ λ / (g_k + ε) · g(u)``, i.e. (dividing by 2, the
1/2 ||.||² form of a proximal operator) a weighted-TV problem

    u_{k+1} = argmin 1/2 ||u - u0||² + Σ w · g(u),   w = λ / (2 (g(u_k) + ε)),

which for "aniso" splits into one prox-tv ``tv1w_2d`` problem per component with SHARED edge weights
and for "iso" is a vectorial TV problem (see :mod:`.weighted_tv`). Φ(u_{k+1}) <= Φ(u_k) when the inner
problem is solved exactly. Small gradients (noise) get weights ~ λ / (2ε) and are flattened; a fault
jump J gets ~ λ / (2J) and stays sharp. The weights use the same forward differences as the inner
problem; the authors' code instead takes w = λ max(G) / max(G, min(G)) from a Sobel magnitude G with
forward-difference TV, which is not the MM of a fixed objective.

Plain TV (convex baseline): ``||u - u0||² + λ Σ g(u)``, one weighted-TV problem with w = λ / 2.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from microflow.errors import ParameterError
from microflow.regularization.weighted_tv import (DEFAULT_INNER_ITERS, NORMS, Norm, edge_masks,
                                                  forward_differences, solve_weighted_tv)

METHODS = ("ltv", "tv", "none")
BACKENDS = ("auto", "torch", "fused")   # solver of regularize(): see its docstring
# log-TV defaults chosen on the synthetic VALIDATION split with the shipped model
# (benchmarks/diagnosis/tune_logtv.py, docs/LOGTV_TUNING.md: λ in {0.05 .. 0.8} x ε in {0.1, 0.3, 1},
# lowest mean EPE over the categories): λ 0.4, ε 1.0. The surface is flat near the optimum (λ 0.1, ε 0.3
# was within 1.5 %); ε = 1 px keeps the penalty TV-like on sub-pixel wiggles and logarithmic on fault-size
# jumps.
DEFAULT_LTV_LAMBDA = 0.4        # λ of log-TV [px²]: data cost worth one log-unit of joint gradient
DEFAULT_LTV_EPS = 1.0           # ε of log-TV [px]: below it the penalty is ~linear (TV), above ~log
DEFAULT_TV_LAMBDA = 0.1         # λ of plain TV [px] (the authors' 0.01 in prox scaling is 0.02 here)
DEFAULT_OUTER_ITERS = 3         # majorize-minimize steps (the authors' code uses 3)
DEFAULT_NORM: Norm = "aniso"    # per-edge penalty, as the authors' prox-tv inner solver


def _check_params(lam: float, eps: float, outer_iters: int, inner_iters: int, norm: str) -> None:
    if not lam >= 0:
        raise ParameterError(f"lam must be >= 0, got {lam}")
    if not eps > 0:
        raise ParameterError(f"eps must be > 0, got {eps}")
    if outer_iters < 1 or inner_iters < 1:
        raise ParameterError(f"outer_iters and inner_iters must be >= 1, got {outer_iters}, {inner_iters}")
    if norm not in NORMS:
        raise ParameterError(f"norm must be one of {NORMS}, got {norm!r}")


def joint_gradient(u: Tensor, valid: Tensor, norm: Norm) -> tuple[Tensor, ...]:
    """Joint gradient magnitude of u (C, H, W) over its components [px]: aniso (g_x, g_y) per edge
    (0 on missing edges), iso (g_p,) per pixel; each (H, W)."""
    ex, ey = (e.to(u.dtype) for e in edge_masks(valid))
    gx, gy = forward_differences(torch.where(valid, u, torch.zeros((), dtype=u.dtype, device=u.device)))
    gx, gy = gx * ex, gy * ey
    if norm == "aniso":
        return gx.abs().sum(dim=0), gy.abs().sum(dim=0)
    return ((gx.square() + gy.square()).sum(dim=0).sqrt(),)


def log_tv_weights(u: Tensor, valid: Tensor, lam: float, eps: float,
                   norm: Norm) -> Tensor | tuple[Tensor, Tensor]:
    """MM weights at u in the prox (1/2 ||.||²) scaling: w = λ / (2 (g(u) + ε)); a (w_x, w_y) pair
    for aniso, one (H, W) tensor for iso."""
    weights = tuple(lam / (2.0 * (g + eps)) for g in joint_gradient(u, valid, norm))
    return weights if norm == "aniso" else weights[0]


def log_tv_energy(u: Tensor, u0: Tensor, lam: float, eps: float, norm: Norm = DEFAULT_NORM) -> float:
    """Φ(u) of the module docstring for (C, H, W) tensors, in float64; valid = u0 finite in all
    components. Terms: data over valid pixels, log over existing edges (aniso) or valid pixels (iso)."""
    valid = torch.isfinite(u0).all(dim=0)
    u, u0 = u.double(), u0.double()
    zero = torch.zeros((), dtype=torch.float64, device=u.device)
    data = float(torch.where(valid, u - u0, zero).square().sum())
    grads = joint_gradient(u, valid, norm)
    if norm == "aniso":
        ex, ey = edge_masks(valid)
        terms = [torch.log(g + eps)[e > 0] for g, e in zip(grads, (ex, ey))]
    else:
        terms = [torch.log(grads[0] + eps)[valid]]
    return data + lam * float(sum(t.sum() for t in terms))


@torch.no_grad()
def log_tv_denoise(u0: Tensor, *, lam: float = DEFAULT_LTV_LAMBDA, eps: float = DEFAULT_LTV_EPS,
                   outer_iters: int = DEFAULT_OUTER_ITERS, inner_iters: int = DEFAULT_INNER_ITERS,
                   norm: Norm = DEFAULT_NORM, gap_tol: float | None = None,
                   callback: Callable[[int, Tensor], None] | None = None) -> Tensor:
    """Log-TV of u0 (C, H, W) [px], NaN = no data (a pixel is valid when all components are finite).

    ``outer_iters`` MM steps from u = u0, each a weighted-TV solve of ``inner_iters`` primal-dual iterations
    (or fewer if the per-pixel duality gap reaches ``gap_tol``), warm-started from the previous dual.
    ``callback(k, u)`` is called after step k = 1..outer_iters. Returns u with NaN where invalid.
    """
    _check_params(lam, eps, outer_iters, inner_iters, norm)
    valid = torch.isfinite(u0).all(dim=0)
    f = torch.where(valid, u0, torch.zeros((), dtype=u0.dtype, device=u0.device))
    u, dual = f, None
    for k in range(1, outer_iters + 1):
        weights = log_tv_weights(u, valid, lam, eps, norm)
        solution = solve_weighted_tv(f, weights, norm=norm, valid=valid, iters=inner_iters,
                                     gap_tol=gap_tol, dual_init=dual)
        u, dual = solution.u, solution.dual
        if callback is not None:
            callback(k, u)
    return u


@torch.no_grad()
def tv_denoise(u0: Tensor, *, lam: float = DEFAULT_TV_LAMBDA, inner_iters: int = DEFAULT_INNER_ITERS,
               norm: Norm = DEFAULT_NORM, gap_tol: float | None = None) -> Tensor:
    """Plain TV of u0 (C, H, W): argmin ||u - u0||² + λ Σ g(u), i.e. weighted TV with w = λ / 2."""
    _check_params(lam, 1.0, 1, inner_iters, norm)
    valid = torch.isfinite(u0).all(dim=0)
    return solve_weighted_tv(u0, lam / 2.0, norm=norm, valid=valid, iters=inner_iters, gap_tol=gap_tol).u


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _fused_available() -> bool:
    """Whether numba imports (the fused module is imported on first use only)."""
    try:
        from microflow.regularization.fused_tv import FUSED_AVAILABLE
    except ImportError:
        return False
    return FUSED_AVAILABLE


def _use_fused(backend: str, device: torch.device, norm: str, gap_tol: float | None) -> bool:
    """"fused" is taken when asked for (or refused with the reason), "auto" when it applies."""
    supported = norm == "aniso" and gap_tol is None
    if backend == "fused":
        if not supported:
            raise ParameterError(f"backend='fused' needs norm='aniso' and gap_tol=None, got {norm!r}, {gap_tol}")
        if not _fused_available():
            raise ParameterError("backend='fused' needs numba (pip install numba); use backend='torch'")
        return True
    return backend == "auto" and device.type == "cpu" and supported and _fused_available()


def _stack(dx: np.ndarray, dy: np.ndarray, device: torch.device) -> Tensor:
    dx, dy = np.asarray(dx), np.asarray(dy)
    if dx.ndim != 2 or dx.shape != dy.shape:
        raise ParameterError(f"dx and dy must be 2-D arrays of equal shape, got {dx.shape}, {dy.shape}")
    return torch.from_numpy(np.stack([dx, dy]).astype(np.float32)).to(device)


def regularize(dx: np.ndarray, dy: np.ndarray, method: str = "ltv", *, lam: float | None = None,
               eps: float = DEFAULT_LTV_EPS, outer_iters: int = DEFAULT_OUTER_ITERS,
               inner_iters: int = DEFAULT_INNER_ITERS, norm: Norm = DEFAULT_NORM,
               gap_tol: float | None = None, device: str | torch.device | None = None,
               backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Regularize a displacement field (dx, dy) [px], float32 (H, W) each, NaN = no data.

    ``method``: "ltv" (log-TV, λ default :data:`DEFAULT_LTV_LAMBDA`), "tv" (plain TV, λ default
    :data:`DEFAULT_TV_LAMBDA`) or "none" (copies). A pixel with either component NaN is NaN in both
    outputs and has no influence on its neighbours. ``eps`` and ``outer_iters`` apply to "ltv" only;
    ``inner_iters`` / ``gap_tol`` bound each weighted-TV solve (see :func:`solve_weighted_tv`).
    ``device``: None = CUDA if available, else CPU. ``backend``: "torch" (any device), "fused" (the
    numba kernels of :mod:`.fused_tv` on the CPU, same iteration and result to float32 rounding, several
    times faster; needs numba, norm "aniso" and gap_tol None) or "auto" (fused when all that holds and
    the device is the CPU, else torch). Returns float32 numpy (dx, dy).
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {METHODS}, got {method!r}")
    if backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if lam is None:
        lam = DEFAULT_TV_LAMBDA if method == "tv" else DEFAULT_LTV_LAMBDA
    resolved = _resolve_device(device)
    if method != "none" and _use_fused(backend, resolved, norm, gap_tol):
        from microflow.regularization.fused_tv import log_tv_fused, tv_fused
        if method == "tv":
            _check_params(lam, 1.0, 1, inner_iters, norm)
            return tv_fused(dx, dy, lam=lam, inner_iters=inner_iters)
        _check_params(lam, eps, outer_iters, inner_iters, norm)
        return log_tv_fused(dx, dy, lam=lam, eps=eps, outer_iters=outer_iters, inner_iters=inner_iters)
    u0 = _stack(dx, dy, resolved)
    if method == "none":
        valid = torch.isfinite(u0).all(dim=0)
        u = torch.where(valid, u0, torch.full((), float("nan"), device=u0.device))
    elif method == "tv":
        u = tv_denoise(u0, lam=lam, inner_iters=inner_iters,
                       norm=norm, gap_tol=gap_tol)
    else:
        u = log_tv_denoise(u0, lam=lam, eps=eps,
                           outer_iters=outer_iters, inner_iters=inner_iters, norm=norm, gap_tol=gap_tol)
    out = u.cpu().numpy().astype(np.float32, copy=False)
    return out[0], out[1]


def log_tv_objective(dx: np.ndarray, dy: np.ndarray, dx0: np.ndarray, dy0: np.ndarray, *,
                     lam: float = DEFAULT_LTV_LAMBDA, eps: float = DEFAULT_LTV_EPS,
                     norm: Norm = DEFAULT_NORM) -> float:
    """Φ(u) of the module docstring for u = (dx, dy) and u0 = (dx0, dy0) [px], numpy in, float64 out."""
    _check_params(lam, eps, 1, 1, norm)
    u = torch.from_numpy(np.stack([np.asarray(dx), np.asarray(dy)]).astype(np.float64))
    u0 = torch.from_numpy(np.stack([np.asarray(dx0), np.asarray(dy0)]).astype(np.float64))
    if u.shape != u0.shape or u.ndim != 3:
        raise ParameterError(f"fields must be 2-D of equal shape, got {tuple(u.shape)}, {tuple(u0.shape)}")
    return log_tv_energy(u, u0, lam, eps, norm)
