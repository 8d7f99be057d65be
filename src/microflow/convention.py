"""The one place where displacement signs, axes and units are converted.

Internal field
    ``d = (dx, dy)`` in pixels of the PRE grid; ``dx`` along columns (+right), ``dy`` along rows
    (+down). A ground feature at pre pixel ``p`` appears at ``p + d`` in post.

Product bands (COSI-Corr compatible)
    band 1 ``EW`` (+east), band 2 ``NS`` (+north), band 3 ``confidence`` in [0, 1], band 4 ``sigma``
    (the calibrated 68 % radius of the end-point error, in the product's units; products written
    before it have 3 bands).

With the geotransform's linear part ``A = [[a, b], [d, e]]`` (map = A @ (col, row) + offset), the
ground displacement in map units is ``(mx, my) = A @ (dx, dy)``:

* ``units="meter"``:  ``EW = mx``, ``NS = my`` (CRS units, metres for UTM);
* ``units="pixel"``:  ``EW = mx / |A[:,0]|``, ``NS = my / |A[:,1]|`` (ground pixel sizes), so a
  north-up image gives ``EW = dx`` and ``NS = -dy``.

sigma, a radius (``sigma_px`` in pre pixels), converts as (:func:`sigma_to_product`):

* ``units="pixel"``: unchanged (the radius in pre pixels);
* ``units="meter"``: ``sigma_m = max(sx, sy) * sigma_px`` with ``sx, sy`` the ground sizes of a
  column and a row step. For square pixels this is exact; for non-square pixels the circle of
  radius ``sigma_px`` maps to an ellipse inside the circle of radius ``max(sx, sy) sigma_px``, so
  the coverage is at least 68 % (conservative).

A raster without georeferencing (GDAL's identity transform, or a crop of it: a transform whose linear
part is the identity, as an area of interest or an overlap window of such a raster has) is taken as
north-up with unit pixels, ``A = [[1, 0], [0, -1]]``; it has no metric units.
"""

from __future__ import annotations

import numpy as np
from affine import Affine

from microflow.errors import ParameterError

UNITS = ("pixel", "meter")
BAND_NAMES = ("EW", "NS", "confidence", "sigma")


def is_georeferenced(transform: Affine | None) -> bool:
    """False for a raster without georeferencing: no transform, GDAL's identity default, or a window of it
    (a pure translation; a real grid with +1 x +1 map-unit pixels would be south-up, which GDAL never writes)."""
    return transform is not None and (transform.a, transform.b, transform.d, transform.e) != (1.0, 0.0, 0.0, 1.0)


def check_metric_units(units: str, transform: Affine | None) -> None:
    """ParameterError when ``units="meter"`` is asked of a grid without georeferencing (its pixels have no size)."""
    _check_units(units)
    if units == "meter" and not is_georeferenced(transform):
        raise ParameterError("units 'meter' need georeferenced images, and pre has no georeferencing "
                             "(a JPEG or PNG?): use units 'pixel'")


def linear_part(transform: Affine | None) -> np.ndarray:
    """2x2 matrix mapping (d_col, d_row) to (d_map_x, d_map_y); north-up unit pixels if ungeoreferenced."""
    if not is_georeferenced(transform):
        return np.array([[1.0, 0.0], [0.0, -1.0]])
    return np.array([[transform.a, transform.b], [transform.d, transform.e]], dtype=np.float64)


def pixel_sizes(transform: Affine | None) -> tuple[float, float]:
    """Ground length of one column step and one row step (map units)."""
    m = linear_part(transform)
    return float(np.hypot(m[0, 0], m[1, 0])), float(np.hypot(m[0, 1], m[1, 1]))


def _check_units(units: str) -> None:
    if units not in UNITS:
        raise ParameterError(f"units must be one of {UNITS}, got {units!r}")


def field_to_product(dx: np.ndarray, dy: np.ndarray, transform: Affine | None,
                     units: str = "pixel") -> tuple[np.ndarray, np.ndarray]:
    """Internal (dx, dy) [pre pixels] -> product (EW, NS) [pixel or meter], float32, NaN kept."""
    _check_units(units)
    m = linear_part(transform)
    mx = m[0, 0] * dx + m[0, 1] * dy
    my = m[1, 0] * dx + m[1, 1] * dy
    if units == "pixel":
        sx, sy = pixel_sizes(transform)
        mx, my = mx / sx, my / sy
    return np.asarray(mx, np.float32), np.asarray(my, np.float32)


def product_to_field(ew: np.ndarray, ns: np.ndarray, transform: Affine | None,
                     units: str = "pixel") -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`field_to_product`: product (EW, NS) -> internal (dx, dy) in pre pixels."""
    _check_units(units)
    ew = np.asarray(ew, np.float64)
    ns = np.asarray(ns, np.float64)
    if units == "pixel":
        sx, sy = pixel_sizes(transform)
        ew, ns = ew * sx, ns * sy
    inv = np.linalg.inv(linear_part(transform))
    dx = inv[0, 0] * ew + inv[0, 1] * ns
    dy = inv[1, 0] * ew + inv[1, 1] * ns
    return dx.astype(np.float32), dy.astype(np.float32)


def sigma_to_product(sigma: np.ndarray, transform: Affine | None, units: str = "pixel") -> np.ndarray:
    """Internal sigma [pre pixels] -> product sigma [pixel or meter] (module doc), float32, NaN kept."""
    _check_units(units)
    scale = 1.0 if units == "pixel" else max(pixel_sizes(transform))
    return np.asarray(np.asarray(sigma, np.float64) * scale, np.float32)


def sigma_from_product(sigma: np.ndarray, transform: Affine | None, units: str = "pixel") -> np.ndarray:
    """Inverse of :func:`sigma_to_product`: product sigma -> internal sigma [pre pixels]."""
    _check_units(units)
    scale = 1.0 if units == "pixel" else max(pixel_sizes(transform))
    return np.asarray(np.asarray(sigma, np.float64) / scale, np.float32)
