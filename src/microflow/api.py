"""Python API behind the CLI: estimate a displacement field from arrays or from GeoTIFF files."""

from __future__ import annotations

import os
import time

import numpy as np

from microflow.errors import InputError
from microflow.io.raster import check_usable, open_pair
from microflow.methods import get_method
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import check_output_path, write_product


def fill_invalid(img: np.ndarray) -> np.ndarray:
    """Finite float32 copy of ``img`` with NaN replaced by the median of the valid pixels."""
    img = np.asarray(img, np.float32)
    bad = ~np.isfinite(img)
    if not bad.any():
        return img
    out = img.copy()
    out[bad] = np.median(img[~bad]) if (~bad).any() else 0.0
    return out


def estimate_arrays(pre: np.ndarray, post: np.ndarray, method: str = "freqcorr", *,
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
    field = get_method(method)(fill_invalid(pre), fill_invalid(post), progress=progress, **params)
    return field.masked(invalid)


def estimate_files(pre_path, post_path, out_path, method: str = "freqcorr", *, band: int = 1,
                   units: str = "pixel", overwrite: bool = False, plot: str | None = None,
                   progress: bool = False, **params) -> dict:
    """Estimate the field of a GeoTIFF pair and write the product GeoTIFF; return a summary dict."""
    out_path = check_output_path(out_path, (os.fspath(pre_path), os.fspath(post_path)), overwrite)
    if plot:
        check_output_path(plot, (os.fspath(pre_path), os.fspath(post_path), out_path), overwrite)
    start = time.perf_counter()
    with open_pair(pre_path, post_path, band) as pair:
        pre, post = pair.read()
        profile = pair.profile
    field = estimate_arrays(pre, post, method, progress=progress, **params)
    write_product(out_path, field, profile, method=method, units=units,
                  parameters={"band": band, **params})
    if plot:
        from microflow.analysis.plot import plot_product

        plot_product(out_path, plot, pre_path=pre_path)
    elapsed = time.perf_counter() - start
    return {"output": out_path, "method": method, "seconds": elapsed,
            "valid_fraction": float(field.valid.mean()), "shape": field.shape}
