"""Python API behind the CLI: estimate a displacement field from arrays or from GeoTIFF files."""

from __future__ import annotations

import inspect
import os

import numpy as np

from microflow.errors import InputError, ParameterError
from microflow.io.raster import check_usable
from microflow.methods import get_method
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import check_output_path

# The default method of the API and the CLI: switch to "microflow" once trained weights ship.
DEFAULT_METHOD = "freqcorr"


def fill_invalid(img: np.ndarray) -> np.ndarray:
    """Finite float32 copy of ``img`` with NaN replaced by the median of the valid pixels."""
    img = np.asarray(img, np.float32)
    bad = ~np.isfinite(img)
    if not bad.any():
        return img
    out = img.copy()
    out[bad] = np.median(img[~bad]) if (~bad).any() else 0.0
    return out


def check_method_params(function, method: str, params: dict) -> None:
    """Reject keyword parameters that the method's ``estimate`` function does not take."""
    signature = inspect.signature(function)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = [name for name, p in list(signature.parameters.items())[2:]  # after pre, post
                if p.kind in kinds and name != "progress"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} for method {method}; "
                             f"it accepts: {', '.join(accepted) or 'none'}")


def estimate_arrays(pre: np.ndarray, post: np.ndarray, method: str = DEFAULT_METHOD, *,
                    progress: bool = False, **params) -> DisplacementField:
    """Displacement of ``post`` relative to ``pre`` (internal convention, pre pixels).

    NaN in either image marks no data: it is filled for the method and NaN again in the result.
    """
    pre = np.asarray(pre, np.float32)
    post = np.asarray(post, np.float32)
    if pre.shape != post.shape or pre.ndim != 2:
        raise InputError(f"pre and post must be 2-D arrays of one shape, got {pre.shape} and {post.shape}")
    check_usable(pre, post)
    invalid = ~(np.isfinite(pre) & np.isfinite(post))
    function = get_method(method)
    check_method_params(function, method, params)
    field = function(fill_invalid(pre), fill_invalid(post), progress=progress, **params)
    result = field.masked(invalid)
    if getattr(field, "iterations", None) is not None:
        result.iterations = field.iterations  # per-iteration estimates, see microflow.analysis.evaluate
    return result


def estimate_files(pre_path, post_path, out_path, method: str = DEFAULT_METHOD, *, band: int = 1,
                   units: str = "pixel", overwrite: bool = False, plot: str | None = None,
                   progress: bool = False, tile_window: int | None = None, tile_overlap: int | None = None,
                   tile_batch: int = 4, regularize: str | None = None, reg_params: dict | None = None,
                   device: str = "auto", threads: int | None = None, dask: bool = False,
                   dask_scheduler: str | None = None, dask_workers: int | None = None, **params) -> dict:
    """Estimate the field of a GeoTIFF pair of any size and write the product GeoTIFF; return a summary dict.

    Every method runs through the whole-scene tiler (:mod:`microflow.tiling`): windows of
    ``tile_window`` px overlapping by ``tile_overlap``, ``tile_batch`` per batch, blended, with
    global normalization and bounded memory, then the regularizer (``regularize``: "ltv", "tv",
    "none"; None = "ltv" for MicroFlow, "none" for the classical methods; ``reg_params``: lam, eps,
    outer_iters, inner_iters, halo, block). ``params`` are the method's own parameters (a
    correlator's ``window`` is its correlation window). ``dask=True`` (or a ``dask_scheduler``
    address) runs on a Dask cluster: a LocalCluster of ``dask_workers`` processes with ``threads``
    threads each, or the scheduler's workers; the numbers are those of the single-process run.
    """
    out_path = check_output_path(out_path, (os.fspath(pre_path), os.fspath(post_path)), overwrite)
    if plot:
        check_output_path(plot, (os.fspath(pre_path), os.fspath(post_path), out_path), overwrite)
    settings = dict(band=band, units=units, window=tile_window, overlap=tile_overlap, batch_size=tile_batch,
                    regularize=regularize, reg_params=reg_params, device=device, threads=threads,
                    overwrite=overwrite, progress=progress, method_params=params)
    if dask or dask_scheduler:
        from microflow.tiling.dask_backend import estimate_scene_dask

        summary = estimate_scene_dask(pre_path, post_path, out_path, method, scheduler=dask_scheduler,
                                      workers=dask_workers, **settings)
    else:
        from microflow.tiling.scene import estimate_scene

        summary = estimate_scene(pre_path, post_path, out_path, method, **settings)
    if plot:
        from microflow.analysis.plot import plot_product

        plot_product(out_path, plot, pre_path=pre_path)
    return summary
