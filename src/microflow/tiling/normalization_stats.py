"""GLOBAL normalization statistics of a scene, shared by every window.

Each image is normalized as ``(img - center) / scale`` with ONE ``(center, scale)`` per image for
the whole scene, computed from a decimated overview read (:meth:`RasterPair.read_overview`, at most
``max_pixels`` pixels, nearest-neighbour decimation) of the valid pixels of both images:

* ``robust`` (our models, correlators): center = median, scale = (p75 - p25) / 1.349;
* ``minmax`` (converted reference checkpoints): center = min, scale = max - min;

see :mod:`microflow.model.normalization`. Per-window statistics would give each window a different
gain and offset and leave seams in the blended field; global ones do not.
The same statistics go to every backend (one process or Dask blocks), computed once by the caller.
"""

from __future__ import annotations

from microflow.io.raster import RasterPair, check_usable
from microflow.tiling.predictors import Stats

OVERVIEW_PIXELS = 4_000_000


def scene_statistics(pair: RasterPair, mode: str = "robust",
                     max_pixels: int = OVERVIEW_PIXELS) -> tuple[Stats, Stats]:
    """``(pre_stats, post_stats)``, each ``(center, scale)``, from an overview read of the pair."""
    from microflow.model.normalization import image_stats  # the model package imports torch

    pre, post = pair.read_overview(max_pixels)
    check_usable(pre, post)
    return image_stats(pre, mode), image_stats(post, mode)
