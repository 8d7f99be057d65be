"""The whole-scene tiler on in-memory arrays: the numbers of :func:`~microflow.tiling.scene.estimate_scene`
without reading or writing a file.

Same plan (:func:`~microflow.tiling.plan.plan_scene`), same GLOBAL statistics
(:func:`~microflow.tiling.normalization_stats.array_statistics`), same window grid and blending
(:func:`~microflow.tiling.blending.blend_region` over the whole array) and the same block-wise
regularization with a halo (:func:`~microflow.tiling.row_stream.regularized_tiles`), so a pair gives
the field the file path writes for it (within float32 batching noise, ~1e-6 px). Memory: both images,
the (4, H, W) float32 field and one batch of windows.

The API sends MicroFlow arrays too large for one window (``MAX_SINGLE_WINDOW_PIXELS``) here, and
:func:`microflow.estimate_dataarrays` sends numpy-backed DataArrays here.
"""

from __future__ import annotations

import numpy as np

from microflow.methods.base import DisplacementField
from microflow.tiling.blending import blend_region, nodata_growth
from microflow.tiling.normalization_stats import array_statistics
from microflow.tiling.plan import ScenePlan, plan_scene
from microflow.tiling.predictors import Stats, WindowPredictor, normalization_of
from microflow.tiling.row_stream import regularized_tiles


def stack_images(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """(2, H, W) float32 [pre, post], NaN where either has no data (NaN or inf)."""
    images = np.stack([np.asarray(pre, np.float32), np.asarray(post, np.float32)])
    images[:, ~np.isfinite(images).all(axis=0)] = np.nan
    return images


def tiled_field(images: np.ndarray, plan: ScenePlan, predictor: WindowPredictor, stats: tuple[Stats, Stats],
                progress: bool = False) -> np.ndarray:
    """(4, H, W) float32 [dx, dy, confidence, sigma] of ``images`` (2, H, W): blended windows of
    ``plan.grid``, then ``plan.regularization`` and sigma in blocks with a halo; NaN where pre or post
    has no data (grown by a correlator's half window, :func:`~microflow.tiling.blending.nodata_growth`)."""
    grid = plan.grid
    blended = blend_region(images, (0, 0), (0, grid.height, 0, grid.width), grid, predictor, stats,
                           plan.batch_size, progress, nodata_growth(plan.spec))
    reg = plan.regularization
    out = np.empty((4,) + blended.shape[1:], np.float32)
    rows = ((r, blended[:, r:r + reg.block]) for r in range(0, grid.height, reg.block))  # as the rows stream in
    for row, col, tile in regularized_tiles(rows, grid.height, grid.width, reg, reg.block):
        out[:, row:row + tile.shape[1], col:col + tile.shape[2]] = tile
    return out


def estimate_in_windows(pre: np.ndarray, post: np.ndarray, method: str = "microflow", *, progress: bool = False,
                        window: int | None = None, overlap: int | None = None, regularize: str | None = "none",
                        reg_params: dict | None = None, device: str = "auto", threads: int | None = None,
                        batch_size: int | None = None, **params) -> DisplacementField:
    """Field of an in-memory pair with the tiler: windows of ``window`` px (default: the method's),
    blended, every window normalized with the whole images' statistics; ``regularize`` "none" by
    default (the API's arrays are not regularized), or "ltv"/"tv"/None (method default).

    ``params`` are the method's own (MicroFlow: model, iterations). Images are (H, W), NaN = no data.
    """
    images = stack_images(pre, post)
    plan, predictor = plan_scene(images.shape[1:], method, window=window, overlap=overlap, batch_size=batch_size,
                                 regularize=regularize, reg_params=reg_params, device=device, threads=threads,
                                 method_params=params)
    plan.limit_threads(threads)
    stats = array_statistics(images[0], images[1], normalization_of(predictor))
    dx, dy, confidence, sigma = tiled_field(images, plan, predictor, stats, progress)
    return DisplacementField(dx, dy, confidence, sigma=sigma)
