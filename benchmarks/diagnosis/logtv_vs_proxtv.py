"""Log-TV: our torch majorize-minimize vs the same reweighting driven by prox-tv's ``tv1w_2d``.

Field: smooth (two sinusoids + a Gaussian bump per component, ~1 px) + a sharp oblique fault step
(dx +1.5 px, dy -0.6 px) + white noise (``--sigma`` px), ``--size``² pixels, float32.

Both sides minimize Φ(u) = ||u - u0||² + λ Σ_edges log(|D dx| + |D dy| + ε) (anisotropic, joint over
the components; see :mod:`microflow.regularization.log_tv`) with ``--outer`` majorize-minimize steps
of weights w = λ / (2 (g(u_k) + ε)) shared by both components:

* ours: :func:`microflow.regularization.regularize` (float32, accelerated primal-dual, ``--inner``
  iterations per step, dual warm start), ``--threads`` torch threads;
* prox-tv: ``tv1w_2d`` per component in float64 with ``max_iters=--dr-iters`` Douglas-Rachford
  iterations (the authors' code uses 10), one thread, weights computed here in numpy.

Prints a table (wall time, final Φ, RMSE to the clean field) and exits 1 unless ours is at least as
fast with an equal or lower Φ. Without prox-tv it runs ours only and says so.

    python benchmarks/diagnosis/logtv_vs_proxtv.py [--size 2048] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from microflow.regularization import log_tv_objective, regularize
from microflow.regularization.log_tv import DEFAULT_LTV_EPS, DEFAULT_LTV_LAMBDA, DEFAULT_OUTER_ITERS
from microflow.regularization.weighted_tv import DEFAULT_INNER_ITERS

try:
    import prox_tv as ptv
except ImportError:          # optional: pip install prox-tv (needs liblapacke-dev to build)
    ptv = None

REFERENCE_DR_ITERS = 10      # Douglas-Rachford iterations of tv1w_2d in the authors' code


def synthetic_fault_field(size: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) fields (2, size, size) float32 [px]: smooth + oblique fault step + noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    bump = np.exp(-((x - 0.3) ** 2 + (y - 0.6) ** 2) / 0.05)
    dent = np.exp(-((x - 0.7) ** 2 + (y - 0.3) ** 2) / 0.08)
    far_side = (x - 0.45 - 0.25 * y) > 0
    dx = 0.8 * np.sin(2 * np.pi * (0.7 * x + 0.3 * y)) + 0.5 * bump + 1.5 * far_side
    dy = 0.6 * np.cos(2 * np.pi * (0.4 * x - 0.5 * y)) - 0.4 * dent - 0.6 * far_side
    clean = np.stack([dx, dy]).astype(np.float32)
    return clean, clean + rng.normal(0.0, sigma, clean.shape).astype(np.float32)


def proxtv_log_tv(u0: np.ndarray, lam: float, eps: float, outer_iters: int, dr_iters: int) -> np.ndarray:
    """Same MM as ours with prox-tv's tv1w_2d per component, float64: weights on horizontal edges
    w_row (H, W-1) and vertical edges w_col (H-1, W), w = λ / (2 (|D dx| + |D dy| + ε))."""
    f = u0.astype(np.float64)
    u = f.copy()
    for _ in range(outer_iters):
        g_rows = np.abs(np.diff(u, axis=2)).sum(axis=0)        # (H, W-1), horizontal differences
        g_cols = np.abs(np.diff(u, axis=1)).sum(axis=0)        # (H-1, W), vertical differences
        w_row = lam / (2.0 * (g_rows + eps))
        w_col = lam / (2.0 * (g_cols + eps))
        u = np.stack([ptv.tv1w_2d(f[c], w_col, w_row, max_iters=dr_iters) for c in range(2)])
    return u


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--sigma", type=float, default=0.1, help="noise [px]")
    parser.add_argument("--lam", type=float, default=DEFAULT_LTV_LAMBDA)
    parser.add_argument("--eps", type=float, default=DEFAULT_LTV_EPS)
    parser.add_argument("--outer", type=int, default=DEFAULT_OUTER_ITERS)
    parser.add_argument("--inner", type=int, default=DEFAULT_INNER_ITERS)
    parser.add_argument("--dr-iters", type=int, default=REFERENCE_DR_ITERS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    clean, noisy = synthetic_fault_field(args.size, args.sigma, args.seed)
    def objective(u: np.ndarray) -> float:
        return log_tv_objective(u[0], u[1], noisy[0], noisy[1], lam=args.lam, eps=args.eps)

    def rmse(u: np.ndarray) -> float:
        return float(np.sqrt(np.mean((u - clean) ** 2)))

    print(f"field {args.size}x{args.size}, noise {args.sigma} px, lambda {args.lam}, eps {args.eps}, "
          f"{args.outer} MM steps; torch threads {args.threads}")

    rows = [("input", 0.0, objective(noisy), rmse(noisy))]
    start = time.perf_counter()
    ours = np.stack(regularize(noisy[0], noisy[1], "ltv", lam=args.lam, eps=args.eps, outer_iters=args.outer,
                               inner_iters=args.inner, device="cpu"))
    rows.append((f"ours (torch, {args.inner} PD it.)", time.perf_counter() - start,
                 objective(ours), rmse(ours)))
    if ptv is not None:
        start = time.perf_counter()
        theirs = proxtv_log_tv(noisy, args.lam, args.eps, args.outer, args.dr_iters)
        rows.append((f"prox-tv tv1w_2d ({args.dr_iters} DR it.)", time.perf_counter() - start,
                     objective(theirs), rmse(theirs)))

    print(f"{'solver':<32} {'time [s]':>9} {'log-TV objective':>18} {'RMSE [px]':>10}")
    for name, seconds, phi, error in rows:
        print(f"{name:<32} {seconds:>9.2f} {phi:>18.2f} {error:>10.4f}")
    if ptv is None:
        print("prox-tv is not installed (pip install prox-tv, needs liblapacke-dev): ours only, no verdict")
        return 0
    (_, t_ours, phi_ours, _), (_, t_ref, phi_ref, _) = rows[1], rows[2]
    faster, lower = t_ours <= t_ref, phi_ours <= phi_ref + 1e-9 * abs(phi_ref)
    print(f"speed-up x{t_ref / t_ours:.2f} ({'ok' if faster else 'SLOWER'}); "
          f"objective difference {phi_ours - phi_ref:+.2f} ({'ok' if lower else 'HIGHER'})")
    return 0 if faster and lower else 1


if __name__ == "__main__":
    sys.exit(main())
