"""GLOBAL normalization statistics of a scene, shared by every window.

Each image is normalized as ``(img - center) / scale`` with ONE ``(center, scale)`` per image for
the whole scene, computed from a decimated overview (at most ``max_pixels`` pixels) of the valid
pixels of both images (a pixel counts only where pre AND post have data):

* ``robust`` (our models, correlators): center = median, scale = (p75 - p25) / 1.349;
* ``minmax`` (converted reference checkpoints): center = min, scale = max - min;

see :mod:`microflow.model.normalization`. Per-window statistics would give each window a different
gain and offset and leave seams in the blended field; global ones do not.
The same statistics go to every backend (one process, Dask blocks, in-memory arrays), computed once
by the caller: files through :meth:`RasterPair.read_overview` (GDAL nearest-neighbour decimation),
arrays (numpy or dask) through ``img[::f, ::f]`` with the same factor ``f``; below ``max_pixels``
both are the whole images, so file and array inputs get identical statistics.

Pre and post with identical pixels (on that overview) are almost always a mistake (the same file
twice): :func:`array_statistics` warns (:class:`~microflow.errors.MicroflowWarning`) and goes on.
"""

from __future__ import annotations

import warnings

import numpy as np

from microflow.errors import MicroflowWarning
from microflow.io.raster import RasterPair, check_usable
from microflow.tiling.predictors import Stats

OVERVIEW_PIXELS = 4_000_000


def decimation(shape: tuple[int, int], max_pixels: int = OVERVIEW_PIXELS) -> int:
    """Integer factor ``f = ceil(sqrt(H W / max_pixels))`` (at least 1) of an overview of ``shape``."""
    return max(1, int(np.ceil(np.sqrt(shape[0] * shape[1] / max_pixels))))


def warn_if_identical(pre: np.ndarray, post: np.ndarray, where: str = "") -> bool:
    """Warn (and return True) when pre and post have identical pixels (NaN equal to NaN)."""
    if pre.shape != post.shape or not np.array_equal(pre, post, equal_nan=True):
        return False
    warnings.warn(f"pre and post have identical pixels{where}: the same image twice? "
                  "The field will be zero everywhere", MicroflowWarning, stacklevel=3)
    return True


def array_statistics(pre, post, mode: str = "robust", max_pixels: int = OVERVIEW_PIXELS) -> tuple[Stats, Stats]:
    """``(pre_stats, post_stats)``, each ``(center, scale)``, of two (H, W) arrays (numpy or dask;
    NaN = no data), from their overview ``[::f, ::f]`` (module docstring)."""
    step = decimation(pre.shape, max_pixels)
    pre = np.array(pre[::step, ::step], np.float32)  # np.array computes a dask array
    post = np.array(post[::step, ::step], np.float32)
    return _overview_statistics(pre, post, mode, step > 1)


def scene_statistics(pair: RasterPair, mode: str = "robust",
                     max_pixels: int = OVERVIEW_PIXELS) -> tuple[Stats, Stats]:
    """``(pre_stats, post_stats)``, each ``(center, scale)``, from an overview read of the pair."""
    pre, post = pair.read_overview(max_pixels)
    return _overview_statistics(pre, post, mode, decimation(pair.shape, max_pixels) > 1)


def _overview_statistics(pre: np.ndarray, post: np.ndarray, mode: str, decimated: bool) -> tuple[Stats, Stats]:
    from microflow.model.normalization import image_stats  # the model package imports torch

    invalid = ~(np.isfinite(pre) & np.isfinite(post))
    pre[invalid] = np.nan
    post[invalid] = np.nan
    check_usable(pre, post)
    warn_if_identical(pre, post, " (on a decimated overview)" if decimated else "")
    return image_stats(pre, mode), image_stats(post, mode)
