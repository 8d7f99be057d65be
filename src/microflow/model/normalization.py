"""Input normalization of MicroFlow, identical in training, inference and every iteration.

Each image is normalized once, before iteration 1, with its own statistics
(``n = (img - center) / scale``); later iterations warp the already normalized post.

* ``robust`` (our models): ``center`` = median, ``scale`` = (p75 - p25) / 1.349 (the standard
  deviation of a Gaussian with that inter-quartile range), on finite pixels. Pre and post each get
  their own stats, which absorbs gain/offset changes between acquisitions. The whole-scene tiler
  passes GLOBAL stats so that windows do not get seams.
* ``minmax`` (converted reference checkpoints): ``center`` = min, ``scale`` = max - min, so the image
  spans [0, 1], as the authors' code does at iteration 1.

Statistics are ``(center, scale)`` float tuples; ``scale`` is floored at ``MIN_SCALE`` (constant
images do not divide by zero).
"""

from __future__ import annotations

import numpy as np

from microflow.errors import InputError, ParameterError

NORMALIZATIONS = ("robust", "minmax")
IQR_TO_SIGMA = 1.349
MIN_SCALE = 1e-6
MAX_STAT_SAMPLES = 1 << 22  # a regular subsample above ~4 Mpx keeps global stats fast


def _valid_values(img: np.ndarray) -> np.ndarray:
    flat = np.asarray(img, np.float32).ravel()
    if flat.size > MAX_STAT_SAMPLES:
        flat = flat[:: flat.size // MAX_STAT_SAMPLES + 1]
    values = flat[np.isfinite(flat)]
    if values.size == 0:
        raise InputError("cannot normalize an image with no valid (finite) pixel")
    return values


def _floor(scale: float, fallback: float) -> float:
    if scale > MIN_SCALE:
        return scale
    return fallback if fallback > MIN_SCALE else 1.0


def robust_stats(img: np.ndarray) -> tuple[float, float]:
    """(median, IQR / 1.349) of the finite pixels; falls back to the std, then 1, if the IQR is 0."""
    values = _valid_values(img)
    p25, median, p75 = np.percentile(values, [25, 50, 75])
    return float(median), _floor(float(p75 - p25) / IQR_TO_SIGMA, float(values.std()))


def minmax_stats(img: np.ndarray) -> tuple[float, float]:
    """(min, max - min) of the finite pixels, so that normalization maps them onto [0, 1]."""
    values = _valid_values(img)
    low, high = float(values.min()), float(values.max())
    return low, _floor(high - low, 1.0)


def image_stats(img: np.ndarray, mode: str = "robust") -> tuple[float, float]:
    """(center, scale) of ``img`` for the normalization ``mode`` ("robust" or "minmax")."""
    if mode == "robust":
        return robust_stats(img)
    if mode == "minmax":
        return minmax_stats(img)
    raise ParameterError(f"normalization must be one of {NORMALIZATIONS}, got {mode!r}")


def normalize(img: np.ndarray, center: float, scale: float) -> np.ndarray:
    """(img - center) / scale as float32 (NaN stays NaN)."""
    return ((np.asarray(img, np.float32) - np.float32(center)) / np.float32(scale)).astype(np.float32)


def normalize_pair(pre: np.ndarray, post: np.ndarray, mode: str = "robust",
                   pre_stats: tuple[float, float] | None = None,
                   post_stats: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalize pre and post, each with its own stats (computed from the image when None)."""
    pre_stats = pre_stats if pre_stats is not None else image_stats(pre, mode)
    post_stats = post_stats if post_stats is not None else image_stats(post, mode)
    return normalize(pre, *pre_stats), normalize(post, *post_stats)
