"""Accuracy metrics of a displacement field against a known truth (pure numpy / scipy).

Every flow is a ``(2, H, W)`` array ``[dx, dy]`` in pre pixels (the internal convention of
:mod:`microflow.convention`). NaN in a predicted flow means "no estimate": such pixels are left out
of error means and counted by :func:`valid_fraction`. Every mean is taken over a boolean
``region`` (``True`` = evaluated); :func:`evaluation_regions` builds the usual ones:

* the **interior**: all pixels at least ``border`` px from the image edge (correlators have no
  estimate within half a window of the edge, so the edge is excluded for every method alike);
* **near** the fault: interior pixels within ``radius`` px (Euclidean) of the fault trace;
* **far** from the fault: the other interior pixels.

Definitions (``p`` a pixel, ``d̂`` the prediction, ``d`` the truth, ``R`` the region, ``V`` the
pixels of ``R`` where both are finite):

* end-point error   ``EPE = mean_{p in V} ||d̂(p) - d(p)||_2``  [px]
* bias              ``b = mean_{p in V} (d̂(p) - d(p))``, one value per component [px]
* valid fraction    ``|{p in R : d̂(p) finite}| / |R|``
* smoothness        ``S = mean_{p in R} |∇d|`` with the joint Sobel gradient magnitude
  ``|∇d| = sqrt(Gx(dx)² + Gy(dx)² + Gx(dy)² + Gy(dy)²)`` [px/px] (method.md §8); a pixel
  whose 3×3 neighbourhood holds a NaN has no gradient and is left out.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DEFAULT_BORDER = 16
"""Pixels excluded along every image edge (half of a typical 32-px correlation window)."""

NEAR_FAULT_RADIUS = 5.0
"""A pixel is "near" the fault when its Euclidean distance to the trace is at most this [px]."""

SOBEL_NORM = 8.0
"""Sum of the absolute weights on one side of a 3×3 Sobel kernel: dividing by it makes the
gradient of a ramp of slope ``s`` px/px equal to ``s``."""


def _as_flow(flow: np.ndarray, name: str) -> np.ndarray:
    flow = np.asarray(flow, np.float64)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"{name} must be a (2, H, W) flow [dx, dy], got shape {flow.shape}")
    return flow


def _region(shape: tuple[int, int], region: np.ndarray | None) -> np.ndarray:
    if region is None:
        return np.ones(shape, bool)
    region = np.asarray(region, bool)
    if region.shape != shape:
        raise ValueError(f"region shape {region.shape} does not match the flow's {shape}")
    return region


def finite_mask(flow: np.ndarray) -> np.ndarray:
    """True where both components of a ``(2, H, W)`` flow are finite."""
    flow = _as_flow(flow, "flow")
    return np.isfinite(flow[0]) & np.isfinite(flow[1])


def interior_mask(shape: tuple[int, int], border: int = DEFAULT_BORDER) -> np.ndarray:
    """True at least ``border`` px away from every edge (all True when ``border`` is 0)."""
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    mask = np.zeros(shape, bool)
    h, w = shape
    if 2 * border < h and 2 * border < w:
        mask[border:h - border, border:w - border] = True
    return mask


def fault_zone(fault_mask: np.ndarray, radius: float = NEAR_FAULT_RADIUS) -> np.ndarray:
    """Pixels whose Euclidean distance to a True pixel of ``fault_mask`` is at most ``radius``."""
    fault_mask = np.asarray(fault_mask, bool)
    if not fault_mask.any():
        return np.zeros_like(fault_mask)
    return ndimage.distance_transform_edt(~fault_mask) <= radius


def evaluation_regions(shape: tuple[int, int], fault_mask: np.ndarray | None = None,
                       border: int = DEFAULT_BORDER, radius: float = NEAR_FAULT_RADIUS) -> dict[str, np.ndarray]:
    """``{"all", "near", "far"}`` boolean masks (see the module docstring).

    Without a fault mask, ``near`` is empty and ``far`` equals ``all``.
    """
    interior = interior_mask(shape, border)
    near = np.zeros(shape, bool) if fault_mask is None else fault_zone(fault_mask, radius) & interior
    return {"all": interior, "near": near, "far": interior & ~near}


def endpoint_error_map(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``||d̂ - d||_2`` per pixel [px]; NaN where either flow is not finite."""
    pred, true = _as_flow(pred, "pred"), _as_flow(true, "true")
    if pred.shape != true.shape:
        raise ValueError(f"pred and true shapes differ: {pred.shape} vs {true.shape}")
    return np.hypot(pred[0] - true[0], pred[1] - true[1])


def epe(pred: np.ndarray, true: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean end-point error over the finite pixels of ``region`` [px]; NaN if there are none."""
    err = endpoint_error_map(pred, true)
    values = err[_region(err.shape, region) & np.isfinite(err)]
    return float(values.mean()) if values.size else float("nan")


def mean_bias(pred: np.ndarray, true: np.ndarray, region: np.ndarray | None = None) -> tuple[float, float]:
    """Mean signed error ``(mean(d̂x - dx), mean(d̂y - dy))`` over finite pixels of ``region`` [px]."""
    pred, true = _as_flow(pred, "pred"), _as_flow(true, "true")
    diff = pred - true
    use = _region(diff.shape[1:], region) & np.isfinite(diff[0]) & np.isfinite(diff[1])
    if not use.any():
        return float("nan"), float("nan")
    return float(diff[0][use].mean()), float(diff[1][use].mean())


def valid_fraction(pred: np.ndarray, region: np.ndarray | None = None) -> float:
    """Share of the pixels of ``region`` where the prediction is finite; NaN for an empty region."""
    finite = finite_mask(pred)
    region = _region(finite.shape, region)
    n = int(region.sum())
    return float((finite & region).sum() / n) if n else float("nan")


def gradient_magnitude(flow: np.ndarray) -> np.ndarray:
    """Joint Sobel gradient magnitude ``|∇d|`` of a ``(2, H, W)`` flow [px/px]; NaN near NaN."""
    flow = _as_flow(flow, "flow")
    total = np.zeros(flow.shape[1:])
    for component in flow:
        for axis in (0, 1):
            g = ndimage.sobel(component, axis=axis, mode="nearest") / SOBEL_NORM
            total += g * g
    return np.sqrt(total)


def smoothness(flow: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean joint Sobel gradient magnitude over the finite pixels of ``region`` [px/px]."""
    grad = gradient_magnitude(flow)
    values = grad[_region(grad.shape, region) & np.isfinite(grad)]
    return float(values.mean()) if values.size else float("nan")


def epe_by_magnitude(pred: np.ndarray, true: np.ndarray, edges: np.ndarray,
                     region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin sums of end-point error and pixel counts, binned by the true magnitude ``|d|``.

    Returns ``(error_sum, count)``, each of length ``len(edges) - 1``; pooled over many samples,
    ``error_sum / count`` is the EPE as a function of displacement magnitude [px]. Magnitudes
    outside ``[edges[0], edges[-1]]`` are ignored.
    """
    err = endpoint_error_map(pred, true)
    magnitude = np.hypot(*_as_flow(true, "true"))
    use = _region(err.shape, region) & np.isfinite(err) & np.isfinite(magnitude)
    error_sum, _ = np.histogram(magnitude[use], bins=edges, weights=err[use])
    count, _ = np.histogram(magnitude[use], bins=edges)
    return error_sum, count
