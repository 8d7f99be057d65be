"""Python API behind the CLI: estimate a displacement field from arrays or from GeoTIFF files."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from microflow.errors import InputError, ParameterError
from microflow.io.raster import check_usable
from microflow.io.stac import resolve_input, sources_tag
from microflow.methods import DEFAULT_METHOD, check_image_size, check_method_params, get_method
from microflow.methods.base import DisplacementField
from microflow.options import EstimateOptions
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


def estimate_files(pre_path, post_path, out_path, options: EstimateOptions | str | None = None,
                   **overrides) -> dict:
    """Estimate the field of a raster pair of any size and write the product; return a summary dict.

    ``options``: an :class:`~microflow.options.EstimateOptions` (or a method name; None: defaults),
    with ``overrides`` (its field names, or the method's own parameters) applied on top; see
    :meth:`EstimateOptions.build`. The product is a GeoTIFF, or CF netCDF when ``out_path`` ends in ``.nc``.

    Inputs: local files, ``https://``/``s3://`` COG URLs or any GDAL path, read in windows
    (:mod:`microflow.io.remote`), or STAC Item JSON files/URLs with ``asset`` (:mod:`microflow.io.stac`;
    the product's SOURCES tag records the items and asset hrefs). With ``bounds``/``aoi`` the product
    covers that area on pre's grid and only it (plus ``aoi_halo`` px) is read (:mod:`microflow.io.aoi`).

    Every method runs through the whole-scene tiler (:mod:`microflow.tiling`): windows of
    ``tile_window`` px overlapping by ``tile_overlap``, ``tile_batch`` per batch, blended, with
    global normalization and bounded memory, then the regularizer (``regularize``: "ltv", "tv",
    "none"; None = "ltv" for MicroFlow, "none" for the classical methods; ``reg_params``: lam, eps,
    outer_iters, inner_iters, halo, block). ``dask=True`` (or a ``dask_scheduler`` address) runs on
    a Dask cluster: a LocalCluster of ``dask_workers`` processes with ``threads`` threads each, or the
    scheduler's workers; the numbers are those of the single-process run. ``align``: "exact"
    (default; grids a whole number of pixels apart are estimated on their overlap, never resampled),
    "resample" or "resample:KERNEL" (post reprojected onto pre's grid, default cubic; recorded in the
    ALIGNMENT tag). ``nodata``: a value marking no data in both images (e.g. 0), None, or "auto" (the
    default: 0 for zero-filled images, :mod:`microflow.io.fill`). ``band``: an index, "luma" or "auto" (the
    default: luma for RGB renderings, else 1, :mod:`microflow.io.bands`).
    """
    opts = EstimateOptions.build(options, **overrides)
    pre_path, post_path = _as_input(pre_path), _as_input(post_path)
    out_path = check_output_path(out_path, (pre_path, post_path), opts.overwrite,
                                 PRODUCT_SUFFIXES, "the product (GeoTIFF or netCDF)")
    if opts.plot:
        check_output_path(opts.plot, (pre_path, post_path, out_path), opts.overwrite,
                          (".png",), "the plot quicklook")
    if opts.correct and is_netcdf_path(out_path):
        raise ParameterError("--correct writes a GeoTIFF product: choose a .tif output (convert it afterwards)")
    aoi = opts.area()
    pre_href, pre_source = resolve_input(pre_path, opts.asset, "pre")
    post_href, post_source = resolve_input(post_path, opts.asset, "post")
    settings = opts.tiler_settings()
    if aoi is not None or pre_source or post_source:
        settings.update(aoi=aoi, halo=opts.aoi_halo, tags=sources_tag((pre_source, post_source)))
    if is_netcdf_path(out_path):
        # The tiler streams into a GeoTIFF; netCDF is written from it (the whole field in memory).
        with tempfile.TemporaryDirectory(prefix=".microflow-", dir=os.path.dirname(out_path)) as scratch:
            geotiff = os.path.join(scratch, "product.tif")
            summary = _run_tiler(pre_href, post_href, geotiff, opts, settings)
            field, tags, profile = read_product(geotiff, as_field=True)
            write_netcdf(out_path, field, profile, opts.method, opts.units,
                         json.loads(tags.get("PARAMETERS", "{}")), alignment=tags.get("ALIGNMENT"))
        summary["output"] = out_path
    elif opts.correct:
        summary = _estimate_and_correct(pre_href, post_href, out_path, opts, settings)
    else:
        summary = _run_tiler(pre_href, post_href, out_path, opts, settings)
    if opts.plot:
        from microflow.analysis.plot import plot_product

        plot_product(out_path, opts.plot, pre_path=pre_href)
    return summary


def _estimate_and_correct(pre_href: str, post_href: str, out_path: str, opts: EstimateOptions, settings: dict) -> dict:
    """Estimate into a scratch product beside ``out_path``, then publish its stable-ground correction
    (``opts.correct``, automatic stable mask): a refused correction leaves no file."""
    from microflow.correction.product import CorrectionOptions, correct_product

    with tempfile.TemporaryDirectory(prefix=".microflow-", dir=os.path.dirname(out_path)) as scratch:
        raw = os.path.join(scratch, "uncorrected.tif")
        summary = _run_tiler(pre_href, post_href, raw, opts, settings)
        summary["correction"] = correct_product(raw, out_path, CorrectionOptions(model=opts.correct, overwrite=True))
    summary["output"] = out_path
    return summary


def _as_input(path) -> str:
    """An input as text; pathlib paths of URLs (``https:/h/a.tif``) are not expected."""
    return os.fspath(path) if isinstance(path, os.PathLike) else str(path)


def _run_tiler(pre_path, post_path, out_path, opts: EstimateOptions, settings: dict) -> dict:
    if opts.dask or opts.dask_scheduler:
        from microflow.tiling.dask_backend import estimate_scene_dask

        return estimate_scene_dask(pre_path, post_path, out_path, opts.method, scheduler=opts.dask_scheduler,
                                   workers=opts.dask_workers, **settings)
    from microflow.tiling.scene import estimate_scene

    return estimate_scene(pre_path, post_path, out_path, opts.method, **settings)
