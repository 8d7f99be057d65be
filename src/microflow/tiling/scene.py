"""Whole-scene estimation in one process with bounded memory.

Pipeline (rows flow top to bottom, nothing scene-sized is ever held)::

    window-row k:  read the band [o_k, o_k + window) x [0, W) of pre and post (one windowed read)
                   -> predict its windows in batches -> add them to a float32 accumulator that
                   covers only this band -> rows [o_k, o_{k+1}) are final: blend, restore NaN
    rows        -> regroup into chunks of ``block`` rows, regularize in tiles with a halo, add sigma
                -> write each tile into the tiled, compressed product (ProductWriter windows)

Memory: one band of windows (the accumulator and the band read, ~``window`` x W), the rows kept as
regularization context (``block + 2 halo + window`` rows), ``threads`` regularization tiles and
GDAL's block cache (capped at 64 MB), whatever the scene height; the scene width enters linearly.
Before each window-row the heap's free pages go back to the system (:mod:`.heap`), so that
fragmentation does not make the resident set creep up from row to row.
Progress: windows done / total on stderr (tqdm, ETA).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Iterator

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm.auto import tqdm

from microflow.convention import check_metric_units
from microflow.io.raster import RasterPair, open_pair, pair_parameters
from microflow.io.remote import remote_env
from microflow.products.geotiff import ProductWriter, check_output_path
from microflow.tiling.blending import Accumulator, mask_invalid, nodata_growth, predict_windows
from microflow.tiling.heap import release_free_memory
from microflow.tiling.normalization_stats import scene_statistics
from microflow.tiling.plan import ScenePlan, plan_scene
from microflow.tiling.predictors import Stats, WindowPredictor, normalization_of
from microflow.tiling.row_stream import RowChunk, regularized_tiles

GDAL_CACHE_MB = 64    # GDAL's block cache (default 5 % of the RAM) unless GDAL_CACHEMAX is set


def bounded_gdal_cache() -> rasterio.Env:
    """GDAL environment with the block cache capped at ``GDAL_CACHE_MB`` (unless GDAL_CACHEMAX is set).

    rasterio passes an integer GDAL_CACHEMAX to GDAL in BYTES: ``64`` would be a 64-byte cache, with
    which every read decompresses its tiles again (a decimated overview of a 2048² deflate GeoTIFF:
    6.4 s instead of 0.07 s)."""
    if "GDAL_CACHEMAX" in os.environ:  # GDAL reads the variable itself, with its own units
        return rasterio.Env()
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2 ** 20)


def blended_bands(pair: RasterPair, plan: ScenePlan, predictor: WindowPredictor,
                  stats: tuple[Stats, Stats], bar: tqdm | None = None) -> Iterator[RowChunk]:
    """Yield ``(row_start, field (3, n, W))``: the blended, NaN-masked rows each window-row finishes.

    Each band read holds ``grow`` (:func:`~.blending.nodata_growth`) extra rows above and below the
    windows, so the dilated no-data mask of its rows equals that of the whole scene.
    """
    grid = plan.grid
    rows = grid.shape[0]
    grow = nodata_growth(plan.spec)
    acc = Accumulator.zeros(0, 0, rows, grid.width)
    for k, origin in enumerate(grid.row_origins):
        origin = int(origin)
        acc.advance(origin)
        release_free_memory()  # what the last rows' windows and regularization tiles freed
        top, bottom = max(origin - grow, 0), min(origin + rows + grow, grid.height)
        band = np.stack(pair.read(Window(0, top, grid.width, bottom - top)))
        windows = [(origin, int(col)) for col in grid.col_origins]
        done = 0
        for (row, col), field in predict_windows(band, (top, 0), windows, grid.shape, predictor, stats,
                                                 plan.batch_size):
            acc.add(row, col, field, grid.weights(row, col))
            done += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.update(len(windows) - done)  # windows without data are skipped, count them done
        n = grid.rows_finished_after(k) - origin
        yield origin, mask_invalid(acc.result(n), band, grow, (origin - top, 0))


def estimate_scene(pre_path, post_path, out_path, method: str = "microflow", *, band: int | str = "auto",
                   units: str = "pixel", window: int | None = None, overlap: int | None = None,
                   batch_size: int | None = None, regularize: str | None = None, reg_params: dict | None = None,
                   device: str = "auto", threads: int | None = None, overwrite: bool = False,
                   progress: bool = True, method_params: dict | None = None, predictor_factory=None,
                   align: str = "exact", nodata: float | str | None = "auto", aoi=None, halo: int = 0,
                   tags: dict | None = None, **more_method_params) -> dict:
    """Estimate the displacement of a raster pair of any size and write the product GeoTIFF.

    window, overlap: tile size and overlap [px] (defaults: see :mod:`microflow.tiling.plan`);
    batch_size: windows per predictor call; regularize: "ltv", "tv", "none" or None (method
    default), with ``reg_params`` (lam, eps, outer_iters, inner_iters, norm, gap_tol, halo, block);
    device, threads: compute settings (torch). The method's own parameters go as extra keywords or,
    for names the tiler also uses (a correlator's ``window``), in the ``method_params`` dict;
    predictor_factory: a custom window predictor (see :class:`~microflow.tiling.predictors.PredictorSpec`).
    align: "exact" (whole-pixel offsets: the overlap, no resampling), "resample" or "resample:KERNEL"
    (post reprojected onto pre's grid); nodata: an undeclared no-data value of both images, None, or
    "auto" (0 for zero-filled images; see :func:`~microflow.io.raster.open_pair`). The product covers the
    pair's overlap on pre's grid, or the area of interest ``aoi`` (:class:`~microflow.io.aoi.Aoi`) of it,
    which is read with ``halo`` px of context around it (the windows covering the area and its halo are all that is read). Inputs
    may be URLs (:mod:`microflow.io.remote`). ``tags``: extra product tags (e.g. SOURCES).
    Returns a summary dict (output, method, seconds, valid_fraction, shape, windows, ...).
    """
    start = time.perf_counter()
    out_path = check_output_path(out_path, (os.fspath(pre_path), os.fspath(post_path)), overwrite)
    with bounded_gdal_cache(), remote_env(pre_path, post_path), \
            open_pair(pre_path, post_path, band, align=align, nodata=nodata, aoi=aoi, halo=halo) as pair:
        check_metric_units(units, pair.pre.transform)
        plan, predictor = plan_scene(pair.shape, method, window=window, overlap=overlap,
                                     batch_size=batch_size, regularize=regularize, reg_params=reg_params,
                                     device=device, threads=threads, predictor_factory=predictor_factory,
                                     method_params={**(method_params or {}), **more_method_params})
        plan.limit_threads(threads)
        stats = scene_statistics(pair, normalization_of(predictor))
        valid = 0
        area = pair.product_window or Window(0, 0, pair.shape[1], pair.shape[0])
        with ProductWriter(out_path, pair.product_profile, method, units,
                           {**pair_parameters(pair), **plan.parameters()},
                           tags={"ALIGNMENT": pair.alignment, **(tags or {})}) as writer, \
                tqdm(total=plan.grid.count, unit="window", desc=method, disable=not progress,
                     file=sys.stderr, dynamic_ncols=True) as bar:
            bands = blended_bands(pair, plan, predictor, stats, bar)
            grid = plan.grid
            for row, col, field in regularized_tiles(bands, grid.height, grid.width, plan.regularization,
                                                     grid.shape[0]):
                tile = clip_tile(row, col, field, area)
                if tile is None:
                    continue  # a tile of the halo only
                window, field = tile
                writer.write(field[0], field[1], field[2], window, sigma=field[3])
                valid += int(np.count_nonzero(np.isfinite(field[0]) & np.isfinite(field[1])))
    summary = plan.summary(out_path, time.perf_counter() - start, valid, backend="single-process", band=pair.band)
    if pair.product_window is not None:
        summary.update(shape=(int(area.height), int(area.width)), valid_fraction=valid / (area.height * area.width))
    return summary


def clip_tile(row: int, col: int, field: np.ndarray, area: Window) -> tuple[Window, np.ndarray] | None:
    """The part of a ``(bands, h, w)`` tile at ``(row, col)`` of the pair's grid inside ``area``:
    ``(its window in the area's pixels, its values)``, or None when it misses the area."""
    r0, c0 = max(row, int(area.row_off)), max(col, int(area.col_off))
    r1 = min(row + field.shape[1], int(area.row_off + area.height))
    c1 = min(col + field.shape[2], int(area.col_off + area.width))
    if r0 >= r1 or c0 >= c1:
        return None
    part = field[:, r0 - row:r1 - row, c0 - col:c1 - col]
    return Window(c0 - int(area.col_off), r0 - int(area.row_off), c1 - c0, r1 - r0), part
