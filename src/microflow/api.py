"""Python API behind the CLI: estimate a displacement field from arrays or from GeoTIFF files."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from microflow.errors import InputError
from microflow.io.raster import check_usable
from microflow.methods import DEFAULT_METHOD, check_image_size, check_method_params, get_method
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import GEOTIFF_SUFFIXES, check_output_path, read_product
from microflow.products.netcdf import NETCDF_SUFFIXES, is_netcdf_path, write_netcdf
from microflow.tiling.normalization_stats import warn_if_identical

PRODUCT_SUFFIXES = GEOTIFF_SUFFIXES + NETCDF_SUFFIXES

def fill_invalid(img: np.ndarray) -> np.ndarray:
    """Finite float32 copy of ``img`` with NaN replaced by the median of the valid pixels."""
    img = np.asarray(img, np.float32)
    bad = ~np.isfinite(img)
    if not bad.any():
        return img
    out = img.copy()
    out[bad] = np.median(img[~bad]) if (~bad).any() else 0.0
    return out


def estimate_arrays(pre: np.ndarray, post: np.ndarray, method: str = DEFAULT_METHOD, *,
                    progress: bool = False, **params) -> DisplacementField:
    """Displacement of ``post`` relative to ``pre`` (internal convention, pre pixels).

    NaN in either image marks no data: it is filled for the method and NaN again in the result.
    The field holds its calibrated ``sigma`` [px] (:func:`with_calibrated_sigma`).
    MicroFlow arrays of more than ``MAX_SINGLE_WINDOW_PIXELS`` go through the tiler's blended
    windows (:func:`microflow.tiling.in_memory.estimate_in_windows`, no regularization, no
    per-iteration fields). Images smaller than the method can use are refused
    (:func:`microflow.methods.min_image_size`); identical pre and post give a warning.
    """
    pre = np.asarray(pre, np.float32)
    post = np.asarray(post, np.float32)
    if pre.shape != post.shape or pre.ndim != 2:
        raise InputError(f"pre and post must be 2-D arrays of one shape, got {pre.shape} and {post.shape}")
    function = get_method(method)
    check_method_params(function, method, params)
    check_image_size(pre.shape, method, params)
    check_usable(pre, post)
    if method == "microflow" and pre.size > _single_window_pixels():
        from microflow.tiling.in_memory import estimate_in_windows

        return estimate_in_windows(pre, post, method, progress=progress, **params)  # its statistics warn
    warn_if_identical(pre, post)
    invalid = ~(np.isfinite(pre) & np.isfinite(post))
    field = function(fill_invalid(pre), fill_invalid(post), progress=progress, **params).masked(invalid)
    return with_calibrated_sigma(field, method, "none", params)


def with_calibrated_sigma(field: DisplacementField, method: str, regularize: str = "none",
                          params: dict | None = None) -> DisplacementField:
    """``field`` with its calibrated sigma [px] (:mod:`microflow.uncertainty`; NaN if uncalibrated)."""
    from microflow.uncertainty import sigma_model

    model = sigma_model(method, regularize, params)
    sigma = model(field.dx, field.dy, field.confidence) if model else np.full(field.shape, np.nan, np.float32)
    return field.with_sigma(sigma)


def _single_window_pixels() -> int:
    """MicroFlow's one-window limit [px] (read at call time: tests lower it)."""
    from microflow.methods import microflow

    return microflow.MAX_SINGLE_WINDOW_PIXELS


def estimate_files(pre_path, post_path, out_path, method: str = DEFAULT_METHOD, *, band: int = 1,
                   units: str = "pixel", overwrite: bool = False, plot: str | None = None,
                   progress: bool = False, tile_window: int | None = None, tile_overlap: int | None = None,
                   tile_batch: int | None = None, regularize: str | None = None, reg_params: dict | None = None,
                   device: str = "auto", threads: int | None = None, dask: bool = False,
                   dask_scheduler: str | None = None, dask_workers: int | None = None, align: str = "exact",
                   nodata: float | None = None, **params) -> dict:
    """Estimate the field of a GeoTIFF pair of any size and write the product; return a summary dict.

    The product is a GeoTIFF, or CF netCDF when ``out_path`` ends in ``.nc``.

    Every method runs through the whole-scene tiler (:mod:`microflow.tiling`): windows of
    ``tile_window`` px overlapping by ``tile_overlap``, ``tile_batch`` per batch, blended, with
    global normalization and bounded memory, then the regularizer (``regularize``: "ltv", "tv",
    "none"; None = "ltv" for MicroFlow, "none" for the classical methods; ``reg_params``: lam, eps,
    outer_iters, inner_iters, halo, block). ``params`` are the method's own parameters (a
    correlator's ``window`` is its correlation window). ``dask=True`` (or a ``dask_scheduler``
    address) runs on a Dask cluster: a LocalCluster of ``dask_workers`` processes with ``threads``
    threads each, or the scheduler's workers; the numbers are those of the single-process run.
    ``align``: "exact" (default; grids a whole number of pixels apart are estimated on their overlap,
    never resampled), "resample" or "resample:KERNEL" (post reprojected onto pre's grid, default
    cubic; recorded in the ALIGNMENT tag). ``nodata``: a value marking no data in both images (e.g. 0).
    """
    out_path = check_output_path(out_path, (os.fspath(pre_path), os.fspath(post_path)), overwrite,
                                 PRODUCT_SUFFIXES, "the product (GeoTIFF or netCDF)")
    if plot:
        check_output_path(plot, (os.fspath(pre_path), os.fspath(post_path), out_path), overwrite,
                          (".png",), "the plot quicklook")
    settings = dict(band=band, units=units, window=tile_window, overlap=tile_overlap, batch_size=tile_batch,
                    regularize=regularize, reg_params=reg_params, device=device, threads=threads,
                    overwrite=True, progress=progress, method_params=params, align=align, nodata=nodata)
    if is_netcdf_path(out_path):
        # The tiler streams into a GeoTIFF; netCDF is written from it (the whole field in memory).
        with tempfile.TemporaryDirectory(prefix=".microflow-", dir=os.path.dirname(out_path)) as scratch:
            geotiff = os.path.join(scratch, "product.tif")
            summary = _run_tiler(pre_path, post_path, geotiff, method, dask, dask_scheduler, dask_workers, settings)
            field, tags, profile = read_product(geotiff, as_field=True)
            write_netcdf(out_path, field, profile, method, units, json.loads(tags.get("PARAMETERS", "{}")),
                         alignment=tags.get("ALIGNMENT"))
        summary["output"] = out_path
    else:
        summary = _run_tiler(pre_path, post_path, out_path, method, dask, dask_scheduler, dask_workers, settings)
    if plot:
        from microflow.analysis.plot import plot_product

        plot_product(out_path, plot, pre_path=pre_path)
    return summary


def _run_tiler(pre_path, post_path, out_path, method, dask, dask_scheduler, dask_workers, settings) -> dict:
    if dask or dask_scheduler:
        from microflow.tiling.dask_backend import estimate_scene_dask

        return estimate_scene_dask(pre_path, post_path, out_path, method, scheduler=dask_scheduler,
                                   workers=dask_workers, **settings)
    from microflow.tiling.scene import estimate_scene

    return estimate_scene(pre_path, post_path, out_path, method, **settings)
