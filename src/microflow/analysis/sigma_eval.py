"""Fields, features and errors for fitting and checking the sigma calibration (:mod:`microflow.uncertainty`).

A calibration key is a method and its post-regularization (``"microflow+ltv"`` is what
``microflow estimate`` runs by default). :func:`final_field` runs it on an in-memory pair as the
benchmarks do (:func:`microflow.api.estimate_arrays`, then the regularizer with its default
parameters); :func:`pixel_table` gathers, over the interior (``border`` px excluded), each finite
pixel's confidence, field gradient [px/px] and end-point error ``||d - d_true||`` [px].
"""

from __future__ import annotations

import numpy as np

from microflow.uncertainty import field_gradient

METHOD_KEYS = ("microflow+ltv", "microflow", "freqcorr", "ncc", "farneback")
DEFAULT_BORDER = 16


def split_key(key: str) -> tuple[str, str]:
    """``"microflow+ltv"`` -> ``("microflow", "ltv")``; ``"ncc"`` -> ``("ncc", "none")``."""
    method, _, reg = key.partition("+")
    return method, reg or "none"


def final_field(pre: np.ndarray, post: np.ndarray, key: str, params: dict | None = None):
    """(dx, dy, confidence) float32 of ``key`` on a pair (pre pixels; NaN = no estimate)."""
    from microflow.api import estimate_arrays
    from microflow.regularization import regularize

    method, reg = split_key(key)
    field = estimate_arrays(pre, post, method, **(params or {}))
    dx, dy, conf = field.dx, field.dy, field.confidence
    if reg != "none":
        dx, dy = regularize(dx, dy, reg)
        conf = np.where(np.isnan(dx), np.float32(np.nan), conf)
    return np.asarray(dx, np.float32), np.asarray(dy, np.float32), np.asarray(conf, np.float32)


def interior(shape: tuple[int, int], border: int = DEFAULT_BORDER) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[border:shape[0] - border, border:shape[1] - border] = True
    return mask


def pixel_table(dx, dy, conf, true_flow, border: int = DEFAULT_BORDER, region=None,
                centre: bool = False) -> dict[str, np.ndarray]:
    """{"confidence", "gradient", "error"} over the finite interior pixels (and ``region``).

    ``error`` = ||d - d_true|| [px]; with ``centre=True`` the field's median (per component) is
    removed first, the error of a zero-motion pair that may carry a constant offset.
    """
    grad = field_gradient(dx, dy)
    ex, ey = np.asarray(dx, np.float64) - true_flow[0], np.asarray(dy, np.float64) - true_flow[1]
    mask = interior(dx.shape, border) & np.isfinite(ex) & np.isfinite(ey)
    if region is not None:
        mask &= region
    if centre and mask.any():
        ex, ey = ex - np.median(ex[mask]), ey - np.median(ey[mask])
    return {"confidence": conf[mask], "gradient": grad[mask], "error": np.hypot(ex, ey)[mask].astype(np.float32)}


def concat(tables: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([t[k] for t in tables]) for k in ("confidence", "gradient", "error")}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
