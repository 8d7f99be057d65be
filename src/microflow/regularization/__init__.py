"""A-posteriori regularization of displacement fields (method.md §5): log-TV and plain TV.

``regularize(dx, dy, method="ltv")`` is the numpy entry point; :func:`regularize_tiled` bounds the
memory on big fields; :func:`solve_weighted_tv` is the torch inner solver (prox-tv ``tv1w_2d``
compatible); :func:`log_tv_denoise` / :func:`tv_denoise` work on torch tensors on any device.
"""

from microflow.regularization.log_tv import (DEFAULT_LTV_EPS, DEFAULT_LTV_LAMBDA, DEFAULT_NORM,
                                             DEFAULT_OUTER_ITERS, DEFAULT_TV_LAMBDA, METHODS,
                                             log_tv_denoise, log_tv_energy, log_tv_objective, regularize,
                                             tv_denoise)
from microflow.regularization.tiled import (DEFAULT_HALO, DEFAULT_TILE, regularize_block, regularize_tiled,
                                            tile_windows)
from microflow.regularization.weighted_tv import (DEFAULT_INNER_ITERS, TVSolution, solve_weighted_tv,
                                                  weighted_tv_denoise, weighted_tv_energy)

__all__ = [
    "DEFAULT_HALO", "DEFAULT_INNER_ITERS", "DEFAULT_LTV_EPS", "DEFAULT_LTV_LAMBDA", "DEFAULT_NORM",
    "DEFAULT_OUTER_ITERS", "DEFAULT_TILE", "DEFAULT_TV_LAMBDA", "METHODS", "TVSolution", "log_tv_denoise",
    "log_tv_energy", "log_tv_objective", "regularize", "regularize_block", "regularize_tiled",
    "solve_weighted_tv", "tile_windows", "tv_denoise", "weighted_tv_denoise", "weighted_tv_energy",
]
