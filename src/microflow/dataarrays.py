"""xarray in and out: the displacement field of two rioxarray DataArrays, as a product Dataset.

Inputs
    Two DataArrays with spatial dims y/x (as ``rioxarray.open_rasterio`` gives them; any other dim
    must have length 1, e.g. ``band``), numpy- or dask-backed, on ONE grid: same shape, ``.rio.crs``
    and ``.rio.transform()`` (no resampling is done). No data: NaN, or the ``.rio.nodata`` value
    (``_FillValue`` / ``nodata`` attribute), in either image.

numpy-backed
    The whole-scene tiler in memory (:mod:`microflow.tiling.in_memory`): the plan, the global
    statistics, the windows, the blending and the block-wise regularization of
    :func:`microflow.api.estimate_files`, so the field equals the one it writes for the same pair as
    GeoTIFFs (float32 batching noise, ~1e-6 px).

dask-backed (either input)
    The Dask backend's graph (:func:`microflow.tiling.dask_backend.field_graph`) on the stacked
    images, rechunked to the plan's blocks. Only the normalization statistics are computed now (from
    an overview, :func:`~microflow.tiling.normalization_stats.array_statistics`); the Dataset's
    variables stay lazy until computed (``.compute()``, ``.to_netcdf()``, ...), on the active Dask
    scheduler (a ``distributed.Client`` if one is set up). Each block task runs torch on one thread
    and leaves the process's torch at one thread, as on the backend's workers.

Output
    :func:`microflow.products.netcdf.build_dataset`: ``ew`` (+east), ``ns`` (+north) in ``units``
    ("pixel" or "meter", converted once by :func:`microflow.convention.field_to_product`) and
    ``confidence`` in [0, 1], float32 (y, x), NaN where there is no estimate, with pre's CRS and
    transform and the netCDF product's attributes; ``ds.to_netcdf`` or
    :func:`~microflow.products.netcdf.write_dataset` writes it.
"""

from __future__ import annotations

import functools

import numpy as np

from microflow.convention import UNITS
from microflow.errors import InputError, ParameterError
from microflow.methods import DEFAULT_METHOD
from microflow.products.netcdf import build_dataset, product_bands, sigma_band
from microflow.tiling.dask_backend import DEFAULT_BLOCK, field_graph
from microflow.tiling.in_memory import stack_images, tiled_field
from microflow.tiling.normalization_stats import array_statistics
from microflow.tiling.plan import MIN_BLOCK, plan_scene
from microflow.tiling.predictors import normalization_of


def estimate_dataarrays(pre, post, method: str = DEFAULT_METHOD, *, units: str = "pixel",
                        tile_window: int | None = None, tile_overlap: int | None = None,
                        tile_batch: int | None = None, regularize: str | None = None,
                        reg_params: dict | None = None, device: str = "auto", threads: int | None = None,
                        block: int = DEFAULT_BLOCK, progress: bool = False, **params):
    """Displacement of ``post`` relative to ``pre`` (rioxarray DataArrays) as an :class:`xarray.Dataset`
    with ew, ns [``units``: pixel or meter], confidence and sigma [``units``] on pre's grid (module docstring).

    tile_window, tile_overlap, tile_batch, regularize, reg_params, device, threads and ``params``
    (the method's own) are those of :func:`microflow.api.estimate_files`; block: Dask block side
    [px] (dask-backed inputs); progress: a window bar (numpy-backed inputs).
    """
    if units not in UNITS:
        raise ParameterError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    (pre_data, post_data), crs, transform = _grid_pair(pre, post)
    lazy = any(_is_dask(a) for a in (pre_data, post_data))
    if lazy and block < MIN_BLOCK:
        raise ParameterError(f"block must be at least {MIN_BLOCK} px, got {block}")
    images = _lazy_stack(pre_data, post_data) if lazy else stack_images(pre_data, post_data)
    plan, predictor = plan_scene(images.shape[1:], method, window=tile_window, overlap=tile_overlap,
                                 batch_size=tile_batch, regularize=regularize, reg_params=reg_params, device=device,
                                 threads=threads, method_params=params)
    stats = array_statistics(images[0], images[1], normalization_of(predictor))
    if lazy:
        field = field_graph(images, plan, stats, block)
        product = field.map_blocks(functools.partial(_product_block, transform=transform, units=units),
                                   dtype=np.float32)
        bands = {"ew": product[0], "ns": product[1], "confidence": product[2], "sigma": product[3]}
        parameters = {**plan.parameters(), "backend": "dask", "block": block}
    else:
        plan.limit_threads(threads)
        field = tiled_field(images, plan, predictor, stats, progress)
        bands = dict(zip(("ew", "ns", "confidence"), product_bands(field[0], field[1], field[2], transform, units)))
        bands["sigma"] = sigma_band(field[3], bands["ew"], bands["ns"], transform, units)
        parameters = {**plan.parameters(), "backend": "in-memory"}
    return build_dataset(bands, crs, transform, method, units, parameters)


def _product_block(block: np.ndarray, transform, units: str) -> np.ndarray:
    """(4, h, w) [EW, NS, confidence, sigma] of one (4, h, w) [dx, dy, confidence, sigma] block."""
    ew, ns, confidence = product_bands(block[0], block[1], block[2], transform, units)
    return np.stack([ew, ns, confidence, sigma_band(block[3], ew, ns, transform, units)])


def _is_dask(data) -> bool:
    return type(data).__module__.split(".")[0] == "dask"


def _grid_pair(pre, post):
    """``((pre_data, post_data), crs, transform)``: (H, W) data arrays (numpy or dask, NaN = no data,
    float32) of two DataArrays on one grid, else InputError."""
    pre_data, pre_grid = _image(pre, "pre")
    post_data, post_grid = _image(post, "post")
    problems = []
    if pre_data.shape != post_data.shape:
        problems.append(f"shape {pre_data.shape[0]}x{pre_data.shape[1]} vs {post_data.shape[0]}x{post_data.shape[1]}")
    if pre_grid[0] != post_grid[0]:
        problems.append(f"CRS {pre_grid[0]} vs {post_grid[0]}")
    if not pre_grid[1].almost_equals(post_grid[1], precision=1e-9):
        problems.append(f"transform {tuple(pre_grid[1])[:6]} vs {tuple(post_grid[1])[:6]}")
    if problems:
        raise InputError("pre and post are not on the same grid (no resampling is done): " + "; ".join(problems))
    return (pre_data, post_data), pre_grid[0], pre_grid[1]


def _image(array, role: str):
    """(H, W) float32 data of one DataArray with its no-data value as NaN, and its (crs, transform)."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr
    from rioxarray.exceptions import RioXarrayError

    if not isinstance(array, xr.DataArray):
        raise InputError(f"{role} must be an xarray.DataArray (use microflow.api.estimate_arrays for numpy "
                         f"arrays), got {type(array).__name__}")
    try:
        y_dim, x_dim = array.rio.y_dim, array.rio.x_dim
        extra = [d for d in array.dims if d not in (y_dim, x_dim)]
        if any(array.sizes[d] != 1 for d in extra):
            sizes = ", ".join(f"{d}: {n}" for d, n in array.sizes.items())
            raise InputError(f"{role} has dims ({sizes}): pass one band, e.g. {role}.sel(band=1)")
        array = array.isel({d: 0 for d in extra}).transpose(y_dim, x_dim)
        crs, transform, nodata = array.rio.crs, array.rio.transform(), array.rio.nodata
    except RioXarrayError as exc:
        raise InputError(f"{role} is not a georeferenced raster DataArray: {exc}") from None
    data = array.data
    if data.dtype.kind not in "uif":
        raise InputError(f"{role} must hold numbers, got dtype {data.dtype}")
    data = data.astype(np.float32) if _is_dask(data) else np.array(data, np.float32)
    if nodata is not None and not np.isnan(nodata):  # np.where dispatches to dask for dask arrays
        data = np.where(data == np.float32(nodata), np.float32(np.nan), data)
    return data, (crs, transform)


def _lazy_stack(pre, post):
    """(2, H, W) float32 dask array, NaN where either image has no data (non-finite)."""
    import dask.array as da

    chunks = (pre if _is_dask(pre) else post).chunks
    pre, post = (x if _is_dask(x) else da.from_array(x, chunks=chunks) for x in (pre, post))
    invalid = ~(da.isfinite(pre) & da.isfinite(post))
    nan = np.float32(np.nan)
    return da.stack([da.where(invalid, nan, pre), da.where(invalid, nan, post)])
