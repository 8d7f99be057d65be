"""Weighted total-variation denoising, batched, in torch: the inner problem of log-TV.

For ``f`` of shape (B, H, W) (or (H, W)) it solves

    u* = argmin_u  1/2 ||u - f||²  +  R(D u)

with ``D`` the *masked* forward differences

    (D u)_x[i, j] = e_x[i, j] (u[i, j+1] - u[i, j]),   (D u)_y[i, j] = e_y[i, j] (u[i+1, j] - u[i, j]),

where an edge exists (``e = 1``) when both of its pixels are inside the image and valid (finite).
A masked pixel therefore has no link to its neighbours: it neither pulls them nor is pulled, and it
comes back NaN. Two penalties ``R`` (all weights >= 0, in the units of u, e.g. pixels):

* ``norm="aniso"``: ``R = Σ w_x |D_x u| + w_y |D_y u|`` per slice and per edge. This is prox-tv's
  ``tv1w_2d(f, w_col, w_row)``: its ``w_col`` (H-1, W), on vertical differences, is our ``w_y[:-1]``,
  its ``w_row`` (H, W-1), on horizontal differences, is our ``w_x[:, :-1]``.
* ``norm="iso"``: ``R = Σ_p w_p sqrt(Σ_b (D_x u_b)_p² + (D_y u_b)_p²)``: vectorial (joint)
  isotropic TV, one gradient norm per pixel over all B slices. Pass the components of ONE field as
  the batch; with B = 1 it is the usual isotropic TV.

Solver: accelerated primal-dual (Chambolle & Pock 2011, Algorithm 2, using the 1-strong convexity of
the data term): with ``K = {p : |p_e| <= w_e}`` (aniso) or ``{|p_p| <= w_p}`` (iso), ``||D||² <= 8``,

    p <- P_K(p + σ D ū);   u' = (u + τ (f - Dᵀp)) / (1 + τ);   θ = 1/sqrt(1 + 2τ);
    ū <- u' + θ (u' - u);  u <- u';  τ <- θ τ;  σ <- σ / θ        (τ σ 8 = 1 throughout)

so ``||u - u*||² = O(1/k²)``, until τ reaches ``MIN_PRIMAL_STEP``; from there θ = 1 and the steps stay
fixed (Algorithm 1), which converges much faster late on (tested: 32×40 random weights, 300
iterations, max error 1e-6 instead of 1e-2 with ever-shrinking τ). Chosen over FISTA on the dual
(Beck & Teboulle's FGP): on the second log-TV step of a 256² field, 100 iterations left a relative
energy excess of 5e-3 instead of 2e-2. All buffers are preallocated and
updated in place (the solver is memory-bandwidth bound). The duality gap ``P(u) - D(p) >= P(u) - P(u*)``,
with ``D(p) = 1/2 ||f||² - 1/2 ||f - Dᵀp||²``, certifies accuracy and is the optional stopping rule.
Runs on the device and in the dtype of ``f`` (float32 is enough: see the tests). A dual ``p`` can be
passed back in to warm-start a nearby problem (majorize-minimize).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Union

import torch
from torch import Tensor

from microflow.errors import ParameterError

Norm = Literal["aniso", "iso"]
NORMS = ("aniso", "iso")
Weights = Union[float, Tensor, tuple[Tensor, Tensor]]

DEFAULT_INNER_ITERS = 50        # primal-dual iterations per weighted-TV problem
DEFAULT_CHECK_EVERY = 25        # iterations between duality-gap checks when gap_tol is set
OPERATOR_NORM_SQ = 8.0          # bound on ||D||² (4 per direction)
STRONG_CONVEXITY = 1.0          # modulus of 1/2 ||u - f||², drives the step-size acceleration
MIN_PRIMAL_STEP = 0.05          # τ stops shrinking here (then plain CP, θ = 1): linear convergence late


@dataclass
class TVSolution:
    """Primal ``u`` (NaN where invalid), dual ``(p_x, p_y)`` for warm starts, iterations run, and
    the last measured duality gap per valid pixel [units of u, squared] (None if not measured)."""

    u: Tensor
    dual: tuple[Tensor, Tensor]
    iterations: int
    gap_per_pixel: float | None


def forward_differences(u: Tensor) -> tuple[Tensor, Tensor]:
    """(D_x u, D_y u) of shape u.shape: u[.., j+1] - u[.., j] and u[.., i+1, :] - u[.., i, :]; the
    last column (resp. row) is 0 (no edge leaves the image)."""
    gx = torch.zeros_like(u)
    gy = torch.zeros_like(u)
    torch.sub(u[..., 1:], u[..., :-1], out=gx[..., :-1])
    torch.sub(u[..., 1:, :], u[..., :-1, :], out=gy[..., :-1, :])
    return gx, gy


def adjoint_differences(px: Tensor, py: Tensor) -> Tensor:
    """Dᵀp = -div p for p living on the edges of :func:`forward_differences` (last column of p_x and
    last row of p_y must be 0)."""
    out = -px - py
    out[..., 1:] += px[..., :-1]
    out[..., 1:, :] += py[..., :-1, :]
    return out


def edge_masks(valid: Tensor) -> tuple[Tensor, Tensor]:
    """(e_x, e_y) as 0/1 in float32: an edge exists when both its pixels are in the image and valid."""
    ex = torch.zeros(valid.shape, dtype=torch.float32, device=valid.device)
    ey = torch.zeros_like(ex)
    ex[..., :-1] = (valid[..., 1:] & valid[..., :-1]).float()
    ey[..., :-1, :] = (valid[..., 1:, :] & valid[..., :-1, :]).float()
    return ex, ey


def _check(norm: str, iters: int, check_every: int) -> None:
    if norm not in NORMS:
        raise ParameterError(f"norm must be one of {NORMS}, got {norm!r}")
    if iters < 1 or check_every < 1:
        raise ParameterError(f"iters and check_every must be >= 1, got {iters}, {check_every}")


def _prepare(f: Tensor, valid: Tensor | None, norm: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(f with invalid pixels set to 0, valid, e_x, e_y). valid (and e) keep the smallest shape:
    (1 or B, H, W) for aniso (a mask shared by all slices is not copied), (H, W) for iso."""
    if f.ndim != 3:
        raise ParameterError(f"f must be (H, W) or (B, H, W), got shape {tuple(f.shape)}")
    finite = torch.isfinite(f)
    if valid is None:
        valid = finite.all(dim=0) if norm == "iso" else finite
    valid = valid.to(f.device, torch.bool)
    if norm == "iso":
        valid = torch.broadcast_to(valid, f.shape[-2:])
    elif valid.ndim == 2 or valid.shape[0] != f.shape[0]:
        valid = torch.broadcast_to(valid, (1,) + f.shape[-2:])
    f = torch.where(finite & valid, f, torch.zeros((), dtype=f.dtype, device=f.device))
    ex, ey = edge_masks(valid)
    return f, valid, ex.to(f.dtype), ey.to(f.dtype)


def _bounds(weights: Weights, f: Tensor, ex: Tensor, ey: Tensor, norm: str) -> tuple[Tensor, ...]:
    """Dual bounds: aniso (b_x, b_y, -b_x, -b_y), b = w e of shape (1 or B, H, W) (broadcast over the
    slices by the projection, so shared weights are read once); iso (w_p,) of shape (H, W)."""
    if norm == "iso":
        if isinstance(weights, tuple):
            raise ParameterError("norm='iso' takes one weight per pixel, not a (w_x, w_y) pair")
        w = torch.as_tensor(weights, dtype=f.dtype, device=f.device)
        if bool((w < 0).any()):
            raise ParameterError("TV weights must be >= 0")
        return (torch.broadcast_to(w, f.shape[-2:]).contiguous(),)
    wx, wy = weights if isinstance(weights, tuple) else (weights, weights)
    out = []
    for w, e in ((wx, ex), (wy, ey)):
        w = torch.as_tensor(w, dtype=f.dtype, device=f.device)
        if bool((w < 0).any()):
            raise ParameterError("TV weights must be >= 0")
        b = w * e
        out.append(torch.broadcast_to(b, torch.broadcast_shapes(b.shape, (1,) + f.shape[-2:])).contiguous())
    return out[0], out[1], -out[0], -out[1]


def _project(px: Tensor, py: Tensor, bounds: tuple[Tensor, ...], ex: Tensor | None,
             ey: Tensor | None, norm: str) -> None:
    """In place: Euclidean projection onto K. Iso zeroes the missing edges first (skipped when
    ``ex`` is None: without holes the last column / row of p are never written, so they stay 0)."""
    if norm == "aniso":
        bx, by, neg_bx, neg_by = bounds
        torch.clamp(px, min=neg_bx, max=bx, out=px)
        torch.clamp(py, min=neg_by, max=by, out=py)
        return
    (w,) = bounds
    if ex is not None:
        px.mul_(ex)
        py.mul_(ey)
    squared = torch.sum(px * px + py * py, dim=0)                      # (H, W), joint over slices
    scale = squared.clamp_min_(torch.finfo(px.dtype).tiny).rsqrt_().mul_(w).clamp_max_(1.0)  # min(1, w/|p|)
    px.mul_(scale)
    py.mul_(scale)


def _penalty(gx: Tensor, gy: Tensor, bounds: tuple[Tensor, ...], norm: str) -> Tensor:
    """R at masked differences (gx, gy), per element, in float64."""
    if norm == "aniso":
        return bounds[0].double() * gx.abs() + bounds[1].double() * gy.abs()
    return bounds[0].double() * (gx.square() + gy.square()).sum(dim=0).sqrt()


def _gap(u: Tensor, f: Tensor, px: Tensor, py: Tensor, bounds: tuple[Tensor, ...], ex: Tensor,
         ey: Tensor, norm: str) -> float:
    """P(u) - D(p) in float64, with ||f||² - ||f - Dᵀp||² summed as Σ a (2f - a), a = Dᵀp."""
    u, f, a = u.double(), f.double(), adjoint_differences(px, py).double()
    gx, gy = forward_differences(u)
    gx, gy = gx * ex.double(), gy * ey.double()
    primal = 0.5 * float((u - f).square().sum()) + float(_penalty(gx, gy, bounds, norm).sum())
    dual = 0.5 * float((a * (2.0 * f - a)).sum())
    return primal - dual


def _divergence_plus(f: Tensor, px: Tensor, py: Tensor, out: Tensor) -> None:
    """out = f - Dᵀp = f + div p, in place."""
    torch.add(f, px, out=out)
    out.add_(py)
    out[..., 1:].sub_(px[..., :-1])
    out[..., 1:, :].sub_(py[..., :-1, :])


@torch.no_grad()
def solve_weighted_tv(f: Tensor, weights: Weights, *, norm: Norm = "aniso", valid: Tensor | None = None,
                      iters: int = DEFAULT_INNER_ITERS, gap_tol: float | None = None,
                      check_every: int = DEFAULT_CHECK_EVERY,
                      dual_init: tuple[Tensor, Tensor] | None = None) -> TVSolution:
    """Weighted-TV denoising of ``f`` (B, H, W) or (H, W); see the module docstring.

    ``weights``: aniso, a float, one tensor for both directions, or ``(w_x, w_y)``, each broadcastable
    to f (w_x[.., i, j] on the edge (i, j)-(i, j+1), w_y[.., i, j] on (i, j)-(i+1, j)); iso, a float or
    an (H, W) tensor. ``valid``: bool mask broadcastable to f (aniso) or (H, W) (iso); default: finite
    pixels (iso: finite in every slice). Stops after ``iters`` iterations, or earlier once the duality
    gap per valid pixel is <= ``gap_tol`` (checked every ``check_every`` iterations). ``dual_init``:
    a previous solution's ``dual`` (projected onto the new constraints), u starts at f - Dᵀp.
    """
    _check(norm, iters, check_every)
    squeeze = f.ndim == 2
    f, valid, ex, ey = _prepare(f.unsqueeze(0) if squeeze else f, valid, norm)
    bounds = _bounds(weights, f, ex, ey, norm)
    iso_masks = (ex, ey) if norm == "iso" and not bool(valid.all()) else (None, None)
    n_valid = max(int(valid.sum()) * (f.shape[0] if valid.ndim == 2 or valid.shape[0] == 1 else 1), 1)

    px, py = torch.zeros_like(f), torch.zeros_like(f)
    if dual_init is not None:
        px.copy_(dual_init[0])
        py.copy_(dual_init[1])
        _project(px, py, bounds, ex, ey, norm)
    u, u_next, work = torch.empty_like(f), torch.empty_like(f), torch.empty_like(f)
    _divergence_plus(f, px, py, u)
    u_bar = u.clone()
    gx, gy = torch.zeros_like(f), torch.zeros_like(f)
    tau = 1.0 / math.sqrt(OPERATOR_NORM_SQ)
    sigma = 1.0 / (tau * OPERATOR_NORM_SQ)
    gap, done = None, 0
    while done < iters:
        torch.sub(u_bar[..., 1:], u_bar[..., :-1], out=gx[..., :-1])            # D ū
        torch.sub(u_bar[..., 1:, :], u_bar[..., :-1, :], out=gy[..., :-1, :])
        px.add_(gx, alpha=sigma)
        py.add_(gy, alpha=sigma)
        _project(px, py, bounds, *iso_masks, norm)
        _divergence_plus(f, px, py, work)                                       # f - Dᵀp
        torch.lerp(u, work, tau / (1.0 + tau), out=u_next)                     # (u + τ work) / (1 + τ)
        theta = 1.0 / math.sqrt(1.0 + 2.0 * STRONG_CONVEXITY * tau) if tau > MIN_PRIMAL_STEP else 1.0
        torch.lerp(u_next, u, -theta, out=u_bar)                                # u' + θ (u' - u)
        u, u_next = u_next, u
        tau, sigma = theta * tau, sigma / theta
        done += 1
        if gap_tol is not None and (done % check_every == 0 or done == iters):
            gap = _gap(u, f, px, py, bounds, ex, ey, norm) / n_valid
            if gap <= gap_tol:
                break
    u = torch.where(valid, u, torch.full((), float("nan"), dtype=u.dtype, device=u.device))
    return TVSolution(u[0] if squeeze else u, (px, py), done, gap)


def weighted_tv_denoise(f: Tensor, weights: Weights, **kwargs) -> Tensor:
    """Just the primal solution of :func:`solve_weighted_tv` (same arguments)."""
    return solve_weighted_tv(f, weights, **kwargs).u


def weighted_tv_energy(u: Tensor, f: Tensor, weights: Weights, *, norm: Norm = "aniso",
                       valid: Tensor | None = None) -> float:
    """Primal objective 1/2 ||u - f||² + R(D u) over valid pixels and existing edges, in float64."""
    _check(norm, 1, 1)
    u, f = (x.unsqueeze(0) if x.ndim == 2 else x for x in (u, f))
    f, valid, ex, ey = _prepare(f.double(), valid, norm)
    bounds = _bounds(weights, f, ex, ey, norm)
    u = torch.where(torch.broadcast_to(valid, f.shape), u.double(), f)
    gx, gy = forward_differences(u)
    return 0.5 * float((u - f).square().sum()) + float(_penalty(gx * ex, gy * ey, bounds, norm).sum())
