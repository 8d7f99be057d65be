"""Whole-scene estimation on a Dask cluster, with the numbers of the single-process pipeline.

Graph (``dask.array``)::

    images     = lazy_images(pre, post, ...)  # (2, H, W) float32, NaN = no data, band axis one chunk:
                                              # each block read by RasterPair.read (overlap windows,
                                              # WarpedVRT, masks, nodata) exactly as one process reads
    blended    = map_overlap(blend, images, depth=window, boundary=NaN)   # (3, H, W) [dx, dy, conf]
    field      = map_overlap(regularize, blended, depth=halo, boundary="none")   # (4, H, W) [.., sigma]

The second stage runs even without regularization: it adds sigma on blocks with a halo of at least
``SIGMA_HALO`` px (:class:`~.plan.Regularization`), as the single process does.

Each ``blend`` task predicts every window of the GLOBAL grid that touches its block (the halo of one
window holds their pixels) and blends them in grid order: the block is the restriction of the
whole-scene result, not an approximation of it. Windows straddling two blocks are predicted by both
(extra work ~ (1 + window / block)² - 1: 56 % for 256 px windows on 1024 px blocks). The
regularization has a halo of ``halo`` px and the scene's true edges. Normalization statistics are
computed once by the client (overview read) and sent to every task.

Workers build the predictor once per process (:func:`~.predictors.cached_predictor`). Each task
runs torch on ONE thread and a worker's threads run that many tasks side by side (no nested
parallelism: several torch threads per task stall when tasks share the cores).

Writing: the client gathers finished blocks as they complete and writes each with
:class:`ProductWriter` (compressed, tiled, atomic rename), one writer in one process, so no lock
and no shared writable folder is needed; blocks (default 1024 px, at least one window) that are
multiples of the 256 px output tiles write each tile once. The inputs must be readable by the
workers at the same paths. A worker that dies loses its tasks; the scheduler reruns them
elsewhere and, the tasks being pure, the result is unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import replace

import numpy as np
from rasterio.windows import Window
from tqdm.auto import tqdm

from microflow.convention import check_metric_units
from microflow.errors import ParameterError
from microflow.io.raster import open_pair, pair_parameters
from microflow.products.geotiff import ProductWriter, check_output_path
from microflow.tiling.blending import blend_region, nodata_growth
from microflow.tiling.normalization_stats import scene_statistics
from microflow.tiling.plan import MIN_BLOCK, Regularization, ScenePlan, limit_threads, plan_scene
from microflow.tiling.predictors import Stats, cached_predictor, normalization_of
from microflow.tiling.scene import bounded_gdal_cache, clip_tile

DEFAULT_BLOCK = 1024     # Dask block side [px]


def axis_chunks(length: int, block: int, minimum: int) -> tuple[int, ...]:
    """Chunk sizes ``block, block, ..., rest`` along one axis; a rest below ``minimum`` joins its neighbour."""
    sizes = [block] * (length // block) + ([length % block] if length % block else [])
    if len(sizes) > 1 and sizes[-1] < minimum:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)


class PairBlocks:
    """Array-like (2, H, W) float32 view of a pair for ``dask.array.from_array``: picklable (paths and
    options only); each block opens the pair (:func:`~microflow.io.raster.open_pair`, so the same
    overlap windows or WarpedVRT) and reads its window with :meth:`RasterPair.read`."""

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, pre_path, post_path, band: int, align: str, nodata: float | None,
                 shape: tuple[int, int], aoi=None, halo: int = 0) -> None:
        self.args = (os.fspath(pre_path), os.fspath(post_path), band)
        self.options = {"align": align, "nodata": nodata, "aoi": aoi, "halo": halo}
        self.shape = (2, int(shape[0]), int(shape[1]))

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        bands, rows, cols = (range(n)[k] for k, n in zip(key + (slice(None),) * 3, self.shape))
        if not (len(rows) and len(cols)):
            return np.empty((len(bands), len(rows), len(cols)), np.float32)
        span = [(r[0], r[-1] + 1) for r in (rows, cols)]  # a positive-step range's first and last
        with open_pair(*self.args, **self.options) as pair:
            out = np.stack(pair.read(Window(span[1][0], span[0][0], span[1][1] - span[1][0],
                                            span[0][1] - span[0][0])))
        return out[bands.start:bands.stop:bands.step, ::rows.step, ::cols.step]


def lazy_images(pre_path, post_path, band: int, chunks: tuple[tuple[int, ...], tuple[int, ...]], *,
                align: str = "exact", nodata: float | None = None, aoi=None, halo: int = 0):
    """(2, H, W) float32 dask array of pre and post on the pair's grid (the overlap, or the area of
    interest plus ``halo``), NaN where either has no data; ``align``, ``nodata``, ``aoi`` and ``halo``
    as in :func:`~microflow.io.raster.open_pair`."""
    import dask.array as da
    from dask.base import tokenize

    with open_pair(pre_path, post_path, band, align=align, nodata=nodata, aoi=aoi, halo=halo) as pair:
        shape = pair.shape
    if (sum(chunks[0]), sum(chunks[1])) != shape:
        raise ValueError(f"chunks {tuple(map(sum, chunks))} do not cover the pair's grid {shape}")
    source = PairBlocks(pre_path, post_path, band, align, nodata, shape, aoi, halo)
    return da.from_array(source, chunks=((2,),) + tuple(chunks), lock=False, asarray=False,
                         meta=np.empty((0, 0, 0), np.float32),
                         name="pair-images-" + tokenize(source.args, source.options, shape))


def blend_task(images: np.ndarray, plan: ScenePlan, stats: tuple[Stats, Stats], margin: tuple[int, int],
               block_info=None) -> np.ndarray:
    """Blended (3, h, w) field of one block from its (2, h + 2 margin, w + 2 margin) NaN-padded input."""
    predictor = cached_predictor(replace(plan.spec, threads=1))  # the worker's threads run tasks side
    plan.limit_threads(1)                                        # by side, each on one thread
    (_, (row0, row1), (col0, col1)) = block_info[None]["array-location"]
    origin = (row0 - margin[0], col0 - margin[1])
    return blend_region(images, origin, (row0, row1, col0, col1), plan.grid, predictor, stats,
                        plan.batch_size, grow=nodata_growth(plan.spec))


def regularize_task(block: np.ndarray, reg: Regularization) -> np.ndarray:
    """(4, h, w) [dx, dy, confidence, sigma] of one (3, h, w) halo'd block (trimmed by dask after)."""
    if reg.active:
        limit_threads(1)
    return reg.apply(block)


def scene_graph(pre_path, post_path, band: int, plan: ScenePlan, stats: tuple[Stats, Stats], block: int,
                align: str = "exact", nodata: float | None = None, aoi=None, halo: int = 0):
    """The lazy (4, H, W) float32 field [dx, dy, confidence, sigma] of the scene (:func:`field_graph`)."""
    images = lazy_images(pre_path, post_path, band, block_chunks(plan, block), align=align, nodata=nodata,
                         aoi=aoi, halo=halo)
    return field_graph(images, plan, stats, block)


def block_chunks(plan: ScenePlan, block: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Row and column chunks of a scene's blocks: ``block`` px (at least one window), a small rest
    joined to its neighbour so every block holds a window and the regularization halo."""
    grid, reg = plan.grid, plan.regularization
    block = max(block, grid.window)  # a block's halo must hold one whole window
    minimum = max(grid.window, reg.context)
    return axis_chunks(grid.height, block, minimum), axis_chunks(grid.width, block, minimum)


def field_graph(images, plan: ScenePlan, stats: tuple[Stats, Stats], block: int):
    """The lazy (4, H, W) float32 field [dx, dy, confidence, sigma] of any lazy (2, H, W) float32 image array
    ``images`` (dask, NaN = no data in either image), rechunked to :func:`block_chunks`."""
    import dask.array as da

    grid, reg = plan.grid, plan.regularization
    chunks = block_chunks(plan, block)
    images = images.rechunk(((2,),) + chunks)
    depth = grid.shape  # a block's halo holds every window that touches it
    blended = da.map_overlap(blend_task, images, depth={0: 0, 1: depth[0], 2: depth[1]}, boundary=np.nan,
                             trim=False, chunks=((3,),) + chunks, dtype=np.float32,
                             meta=np.empty((0, 0, 0), np.float32), plan=plan, stats=stats, margin=depth)
    halo = (min(reg.context, min(chunks[0])), min(reg.context, min(chunks[1])))
    return da.map_overlap(regularize_task, blended, depth={0: 0, 1: halo[0], 2: halo[1]}, boundary="none",
                          trim=True, dtype=np.float32, meta=np.empty((0, 0, 0), np.float32),
                          chunks=((4,),) + tuple(haloed(c, h) for c, h in zip(chunks, halo)), reg=reg)


def haloed(sizes: tuple[int, ...], halo: int) -> tuple[int, ...]:
    """Block sizes along one axis once ``map_overlap(boundary="none")`` added ``halo`` px on each
    inner side (dask trims them back to ``sizes``)."""
    n = len(sizes)
    return tuple(c + halo * ((i > 0) + (i < n - 1)) for i, c in enumerate(sizes))


@contextlib.contextmanager
def dask_client(client=None, scheduler: str | None = None, workers: int | None = None,
                threads: int | None = None):
    """The given client, one connected to ``scheduler`` (tcp://host:port), or a new LocalCluster
    of ``workers`` processes with ``threads`` threads each (closed on exit)."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as connected:
            yield connected
        return
    with LocalCluster(n_workers=workers, threads_per_worker=threads or 1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as local:
        yield local


def write_blocks(client, field, writer: ProductWriter, progress: bool, desc: str, area: Window | None = None) -> int:
    """Compute the blocks of ``field`` on the cluster and write each as it completes (the part inside
    ``area`` only, in the area's pixels, when given: :func:`~.scene.clip_tile`); return the number of
    valid pixels written."""
    from distributed import as_completed

    blocks = field.to_delayed().ravel()
    offsets = [np.cumsum((0,) + c[:-1]) for c in field.chunks[1:]]
    locations = [(int(offsets[0][i]), int(offsets[1][j])) for i in range(field.numblocks[1])
                 for j in range(field.numblocks[2])]
    futures = client.compute(list(blocks))
    where = {f.key: loc for f, loc in zip(futures, locations)}
    valid = 0
    with tqdm(total=len(futures), unit="block", desc=desc, disable=not progress, file=sys.stderr,
              dynamic_ncols=True) as bar:
        for future in as_completed(futures):
            data, (row, col) = future.result(), where[future.key]
            future.release()
            tile = clip_tile(row, col, data, area) if area is not None else \
                (Window(col, row, data.shape[2], data.shape[1]), data)
            if tile is not None:
                window, data = tile
                writer.write(data[0], data[1], data[2], window, sigma=data[3])
                valid += int(np.count_nonzero(np.isfinite(data[0]) & np.isfinite(data[1])))
            bar.update(1)
    return valid


def estimate_scene_dask(pre_path, post_path, out_path, method: str = "microflow", *, band: int | str = "auto",
                        units: str = "pixel", window: int | None = None, overlap: int | None = None,
                        batch_size: int | None = None, regularize: str | None = None, reg_params: dict | None = None,
                        device: str = "auto", threads: int | None = None, overwrite: bool = False,
                        progress: bool = True, client=None, scheduler: str | None = None,
                        workers: int | None = None, block: int = DEFAULT_BLOCK,
                        method_params: dict | None = None, predictor_factory=None,
                        align: str = "exact", nodata: float | str | None = "auto", aoi=None, halo: int = 0,
                        tags: dict | None = None, **more_method_params) -> dict:
    """:func:`~microflow.tiling.scene.estimate_scene` on Dask: same arguments and result, plus

    client (an existing ``distributed.Client``), scheduler (address to connect to), workers (local
    worker processes when neither is given; ``threads`` is then their threads each) and block (Dask
    block side [px], >= 64, best a multiple of 256). ``align`` and ``nodata`` are read by every
    block as by the single process (:func:`lazy_images`), and so are ``aoi`` (the product covers that
    area, read with ``halo`` px of context) and ``tags`` (extra product tags).
    """
    start = time.perf_counter()
    if block < MIN_BLOCK:
        raise ParameterError(f"block must be at least {MIN_BLOCK} px, got {block}")
    out_path = check_output_path(out_path, (os.fspath(pre_path), os.fspath(post_path)), overwrite)
    params = {**(method_params or {}), **more_method_params}
    with open_pair(pre_path, post_path, band, align=align, nodata=nodata, aoi=aoi, halo=halo) as pair:
        check_metric_units(units, pair.pre.transform)
        plan, predictor = plan_scene(pair.shape, method, window=window, overlap=overlap,
                                     batch_size=batch_size, regularize=regularize, reg_params=reg_params,
                                     device=device, threads=threads, method_params=params,
                                     predictor_factory=predictor_factory)
        stats = scene_statistics(pair, normalization_of(predictor))
        profile, parameters, alignment = pair.product_profile, pair_parameters(pair), pair.alignment
        area, band, nodata = pair.product_window, pair.band, pair.nodata   # as resolved ("auto"), for every block
    field = scene_graph(pre_path, post_path, band, plan, stats, block, align, nodata, aoi, halo)
    recorded = {**parameters, **plan.parameters(), "backend": "dask", "block": block}
    with dask_client(client, scheduler, workers, threads) as active, bounded_gdal_cache(), \
            ProductWriter(out_path, profile, method, units, recorded,
                          tags={"ALIGNMENT": alignment, **(tags or {})}) as writer:
        valid = write_blocks(active, field, writer, progress, f"{method} (dask)", area)
    summary = plan.summary(out_path, time.perf_counter() - start, valid, backend="dask",
                           blocks=int(np.prod(field.numblocks)), band=band)
    if area is not None:
        summary.update(shape=(int(area.height), int(area.width)), valid_fraction=valid / (area.height * area.width))
    return summary
