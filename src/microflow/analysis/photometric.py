"""Photometric residual: how well an estimated field explains the post image, with no ground truth.

The field ``d`` (pre pixels, internal convention) pulls post onto the pre grid::

    warped(p) = post(p + d(p))          (cubic spline, scipy.ndimage.map_coordinates order 3)

Both images are normalised robustly, ``z = (I - median) / IQR``, and compared on the pixels where the
field is finite, the sample ``p + d(p)`` lies inside post and every value is finite:

* **local NCC residual** ``1 - NCC_w(pre, warped)``, NCC over ``w × w`` box windows (only where the
  whole window is valid); insensitive to any local gain and offset change. Mean over pixels.
* **linear residual** ``r = warped - (a·pre + b)`` after one global least-squares radiometric fit;
  the median ``|r|`` (in IQR units) is robust to local surface changes.

Each metric is computed for the field and for the zero field (``warped = post``) on the same pixels;
``improvement = 1 - with_field / with_zero`` (> 0: the field explains the images better than no motion).
"""

from __future__ import annotations

import os

import numpy as np
from scipy import ndimage

from microflow.errors import InputError

DEFAULT_NCC_WINDOW = 7
SPLINE_ORDER = 3


def robust_normalize(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(image - median) / IQR`` from the ``valid`` pixels (IQR 1 when it is 0)."""
    q25, q50, q75 = np.percentile(image[valid], [25, 50, 75])
    return (image - q50) / (q75 - q25 if q75 > q25 else 1.0)


def warp_to_pre(post: np.ndarray, dx: np.ndarray, dy: np.ndarray, order: int = SPLINE_ORDER):
    """``(warped, inside)``: ``post(p + d(p))`` on the pre grid, and where that sample is usable.

    NaN in ``post`` or ``d`` and samples outside post are marked unusable (NaN in ``warped``).
    """
    h, w = post.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    field_ok = np.isfinite(dx) & np.isfinite(dy)
    sample_r = rows + np.where(field_ok, dy, 0.0)
    sample_c = cols + np.where(field_ok, dx, 0.0)
    post_ok = np.isfinite(post)
    filled = np.where(post_ok, post, np.median(post[post_ok]) if post_ok.any() else 0.0).astype(np.float64)
    warped = ndimage.map_coordinates(filled, [sample_r, sample_c], order=order, mode="nearest")
    touches_nan = ndimage.map_coordinates((~post_ok).astype(np.float32), [sample_r, sample_c], order=1,
                                          mode="nearest") > 0
    inside = field_ok & ~touches_nan & (sample_r >= 0) & (sample_r <= h - 1) & (sample_c >= 0) & (sample_c <= w - 1)
    return np.where(inside, warped, np.nan), inside


def local_ncc(a: np.ndarray, b: np.ndarray, window: int = DEFAULT_NCC_WINDOW) -> np.ndarray:
    """Normalised cross-correlation of ``a`` and ``b`` over ``window × window`` boxes (finite inputs)."""
    mean_a = ndimage.uniform_filter(a, window)
    mean_b = ndimage.uniform_filter(b, window)
    var_a = np.maximum(ndimage.uniform_filter(a * a, window) - mean_a ** 2, 0.0)
    var_b = np.maximum(ndimage.uniform_filter(b * b, window) - mean_b ** 2, 0.0)
    cov = ndimage.uniform_filter(a * b, window) - mean_a * mean_b
    return cov / np.sqrt(var_a * var_b + 1e-12)


def _metrics(pre_n: np.ndarray, other_n: np.ndarray, pixels: np.ndarray, ncc_pixels: np.ndarray,
             window: int) -> dict:
    a = np.where(pixels, pre_n, 0.0)
    b = np.where(pixels, other_n, 0.0)
    ncc = local_ncc(a, b, window)[ncc_pixels]
    design = np.stack([pre_n[pixels], np.ones(int(pixels.sum()))], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(design, other_n[pixels], rcond=None)
    residual = other_n[pixels] - (gain * pre_n[pixels] + offset)
    return {"ncc_residual": float(np.mean(1.0 - ncc)) if ncc.size else float("nan"),
            "abs_residual": float(np.median(np.abs(residual))), "gain": float(gain), "offset": float(offset)}


def photometric_residual(pre: np.ndarray, post: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                         valid: np.ndarray | None = None, *, window: int = DEFAULT_NCC_WINDOW) -> dict:
    """Residual of ``pre`` against ``post`` warped by ``(dx, dy)``, and against unwarped post (zero field).

    ``valid`` (optional bool mask) restricts the comparison. Returns a flat dict: ``ncc_residual_field``,
    ``ncc_residual_zero``, ``ncc_improvement``, ``abs_residual_field``, ``abs_residual_zero``,
    ``abs_residual_improvement``, ``gain``/``offset`` of the field's radiometric fit, ``pixels``,
    ``valid_fraction`` and ``window``.
    """
    pre = np.asarray(pre, np.float64)
    post = np.asarray(post, np.float64)
    if not (pre.shape == post.shape == np.shape(dx) == np.shape(dy)) or pre.ndim != 2:
        raise InputError(f"pre, post, dx, dy must be 2-D arrays of one shape, got {pre.shape}, {post.shape}, "
                         f"{np.shape(dx)}, {np.shape(dy)}")
    warped, inside = warp_to_pre(post, np.asarray(dx, np.float64), np.asarray(dy, np.float64))
    pixels = inside & np.isfinite(pre) & np.isfinite(post)
    if valid is not None:
        pixels &= np.asarray(valid, bool)
    if pixels.sum() < 2:
        raise InputError("no pixel where the field, pre and post are all valid: nothing to compare")
    ncc_pixels = ndimage.binary_erosion(pixels, np.ones((window, window), bool))
    pre_n = robust_normalize(pre, pixels)
    field = _metrics(pre_n, robust_normalize(warped, pixels), pixels, ncc_pixels, window)
    zero = _metrics(pre_n, robust_normalize(post, pixels), pixels, ncc_pixels, window)

    def improvement(key: str) -> float:
        return 1.0 - field[key] / zero[key] if zero[key] > 0 else float("nan")

    return {"ncc_residual_field": field["ncc_residual"], "ncc_residual_zero": zero["ncc_residual"],
            "ncc_improvement": improvement("ncc_residual"),
            "abs_residual_field": field["abs_residual"], "abs_residual_zero": zero["abs_residual"],
            "abs_residual_improvement": improvement("abs_residual"),
            "gain": field["gain"], "offset": field["offset"], "pixels": int(pixels.sum()),
            "valid_fraction": float(pixels.mean()), "window": int(window)}


def residual_for_product(product_path: str | os.PathLike, pre_path: str | os.PathLike,
                         post_path: str | os.PathLike, band: int | str | None = None) -> dict:
    """:func:`photometric_residual` of a product file against its pre/post GeoTIFF pair, read on ``band``
    (None: the band the product was measured on, its PARAMETERS tag)."""
    from microflow.io.raster import read_pair
    from microflow.products.netcdf import read_product_any

    try:
        field, tags, _ = read_product_any(product_path, as_field=True)
    except InputError:
        raise
    except Exception as exc:  # rasterio / xarray raise several types for unreadable files
        raise InputError(f"cannot read product {product_path}: {exc}") from None
    if band is None:
        from microflow.products.geotiff import product_band

        band = product_band(tags)
    pre, post, _ = read_pair(pre_path, post_path, band)
    if pre.shape != field.shape:
        raise InputError(f"product is {field.shape[0]}x{field.shape[1]} but the pair is "
                         f"{pre.shape[0]}x{pre.shape[1]}: not the product's grid")
    return photometric_residual(pre, post, field.dx, field.dy)


def format_residual(summary: dict) -> str:
    """Two-line text of a :func:`photometric_residual` summary (for ``microflow info``)."""
    return (f"photometric residual on {100 * summary['valid_fraction']:.1f}% of pixels "
            f"(field vs zero field, lower is better):\n"
            f"  1 - local NCC ({summary['window']} px)  {summary['ncc_residual_field']:.4f} vs "
            f"{summary['ncc_residual_zero']:.4f}  (improvement {100 * summary['ncc_improvement']:+.1f}%)\n"
            f"  median |linear residual| [IQR]  {summary['abs_residual_field']:.4f} vs "
            f"{summary['abs_residual_zero']:.4f}  (improvement {100 * summary['abs_residual_improvement']:+.1f}%)")
