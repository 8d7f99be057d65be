"""Log-TV on CPU: the torch solver vs the fused numba kernels (same algorithm, same result).

Field: smooth (two sinusoids per component, ~0.3 px) + a sharp oblique fault step (dx +1 px,
dy -0.5 px) + white noise (``--sigma`` px, default 0.05) + a small NaN hole, ``--size``² pixels,
float32. Both backends run :func:`microflow.regularization.regularize` with the defaults (log-TV,
norm "aniso", 3 MM steps x 50 inner iterations) on ONE thread; the fused kernels are compiled (or
loaded from the numba cache) before timing. Prints the best wall time of ``--repeats`` runs per
backend, the speed ratio, the max |difference| of the outputs [px] and the relative difference of
the log-TV objective Φ.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/diagnosis/logtv_backends.py [--size 1216] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from microflow.regularization import log_tv_objective, regularize


def make_field(size: int, sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    side = (x + 0.3 * y) > 0.6
    dx = 0.3 * np.sin(2 * np.pi * x + y) + 1.0 * side + rng.normal(0, sigma, side.shape)
    dy = 0.3 * np.cos(3 * np.pi * y) - 0.5 * side + rng.normal(0, sigma, side.shape)
    dx[size // 4:size // 4 + size // 20, size // 3:size // 3 + size // 25] = np.nan
    return dx.astype(np.float32), dy.astype(np.float32)


def best_time(function, repeats: int) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = function()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1216, help="field side [px]")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per backend (best is kept)")
    parser.add_argument("--sigma", type=float, default=0.05, help="noise std [px]")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dx, dy = make_field(args.size, args.sigma)

    start = time.perf_counter()
    regularize(dx[:8, :8], dy[:8, :8], backend="fused")      # compile or load the cached kernels
    warmup = time.perf_counter() - start
    times, outs = {}, {}
    for backend in ("torch", "fused"):
        times[backend], outs[backend] = best_time(
            lambda: regularize(dx, dy, "ltv", device="cpu", backend=backend), args.repeats)

    (tx, ty), (fx, fy) = outs["torch"], outs["fused"]
    same_nan = np.array_equal(np.isnan(tx), np.isnan(fx)) and np.array_equal(np.isnan(ty), np.isnan(fy))
    diff = max(float(np.nanmax(np.abs(tx - fx))), float(np.nanmax(np.abs(ty - fy))))
    phi = {b: log_tv_objective(*outs[b], dx, dy) for b in outs}
    print(f"log-TV defaults, {args.size}x{args.size}, 1 thread, best of {args.repeats} "
          f"(fused compile/cache load {warmup:.1f} s)")
    print(f"{'backend':<8} {'time [s]':>9} {'Phi':>16}")
    for backend in ("torch", "fused"):
        print(f"{backend:<8} {times[backend]:>9.3f} {phi[backend]:>16.6f}")
    print(f"speed-up {times['torch'] / times['fused']:.2f}x, max |diff| {diff:.2e} px, "
          f"Phi rel. diff {abs(phi['fused'] - phi['torch']) / abs(phi['torch']):.1e}, NaN pattern "
          f"{'identical' if same_nan else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
