"""Stacked fault-perpendicular profiles of a displacement product and the offset at the fault trace.

Geometry (map frame: x east, y north; an ungeoreferenced product is taken north-up in pixels)

* the segment ``start -> end`` is the fault trace; ``û = (end - start)/|end - start|`` is the
  fault-parallel unit vector and ``n̂ = (-û_y, û_x)`` (``û`` turned 90° counter-clockwise) the normal;
* a pixel centre ``p`` has signed distance ``t = (p - m)·n̂`` to the trace (``m`` the segment
  midpoint): **t > 0 on the left** of the fault seen from start towards end;
* the swath holds the pixels with ``|t| <= L`` and ``|(p - m)·û| <= width/2`` pixels;
* displacement ``v = (EW, NS)`` decomposes into ``parallel = v·û`` and ``normal = v·n̂``.

Stacking: pixels are binned by ``t`` (bins one ground pixel wide by default, with an edge on the
trace) and each bin gives the median, the standard deviation and the count.

Offset at the trace, per component: a straight line ``c = a + b·t`` is fitted to the bin medians on
each side within ``gap < |t| <= fit_distance``; ``offset = a₊ - a₋`` (left side minus right side at
``t = 0``) and ``σ = sqrt(se(a₊)² + se(a₋)²)`` (the two sides taken as independent).

Correlated bin errors (:mod:`microflow.analysis.profile_stats`). The errors of neighbouring bins are
not independent: an estimator's window, the regularizer and the stacking along the fault spread one
error over many pixels. On each side the bin errors are modelled as ``e = φ D u`` with
``D = diag(s_i)`` (per-bin 1-sigma, ``s_i = 1`` without a sigma band) and ``u`` a unit-variance AR(1)
sequence over the bin index ``k``: ``corr(u_i, u_j) = R_ij = ρ^|k_i - k_j|``. With the whitened design
``X̃ = D⁻¹[1, t]`` and ``G = (X̃ᵀX̃)⁻¹`` the line is the weighted least-squares fit (weights ``1/s_i²``),
whitened residuals ``z = φ P u`` with ``P = I - X̃GX̃ᵀ``, and

* ``ρ`` solves ``q = g(ρ)``: ``q = Σ_adjacent z_i z_j / Σ z_i²`` is the lag-1 autocorrelation of the
  residuals and ``g(ρ) = tr(A P R P)/tr(P R)`` its expectation under the model (``A``: 1/2 for bins
  one index apart), which removes the downward bias of residual autocorrelations of short fits;
  ``ρ ∈ [0, (n-2)/(n+2)]``, i.e. the effective sample size ``n_eff = n (1 - ρ)/(1 + ρ)`` lies in
  ``[2, n]``;
* ``φ² = zᵀz / tr(P R)`` (``RSS/(n - 2)``, or ``χ²/(n - 2)`` with weights, when ``ρ = 0``);
* ``Cov(a, b) = φ² G X̃ᵀ R X̃ G``; ``n/n_eff`` is its large-n inflation of the variance of a mean.

Without a sigma band ``se(a) = φ sqrt([G X̃ᵀ R X̃ G]₀₀)``; with ``ρ = 0`` this is the classical
``se(a)² = s² (1/n + t̄²/Σ(t - t̄)²)``.

With a ``sigma`` band (the calibrated 68 % radius of the 2-D error per pixel, band 4), each bin
gets ``s_i = median(sigma) / R68`` with ``R68 = sqrt(-2 ln 0.32) = 1.51`` (the radius of an isotropic
Gaussian holding 68 %, so ``s_i`` is a per-component standard deviation; the median, not ``/sqrt(n)``,
because the errors of the pixels of one bin, a strip along the fault, are correlated). The sigma band
propagated with the correlation gives ``se_prop(a) = sqrt([G X̃ᵀ R X̃ G]₀₀)`` and the reported
``se(a) = se_prop · max(1, φ)``, inflated when the scatter exceeds what sigma predicts;
``σ_offset = sqrt(se(a₊)² + se(a₋)²)`` and ``sigma_propagated`` from the ``se_prop``.

Limits: the model covers errors that fluctuate about the true profile within the fit range. A bias
shared by the whole fit range of a side (e.g. an estimator's blur of the step over more than ``gap``,
or a scale error) moves both the offset and the line and is not in ``σ``.

Signs: a positive **parallel offset is right-lateral (dextral)** and a negative one left-lateral,
whichever way the segment is drawn; a positive **normal offset is opening** (the two sides move
apart in map view, e.g. the heave of a normal fault), a negative one shortening.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass

import numpy as np
from affine import Affine

from microflow.analysis.profile_stats import ComponentOffset, SideFit, fit_side, offset_at_trace  # noqa: F401
from microflow.convention import is_georeferenced, pixel_sizes
from microflow.errors import ParameterError

UNGEOREFERENCED = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
"""Map frame of a product without georeferencing: north-up, unit pixels (as in microflow.convention)."""

MIN_DEFAULT_HALF_LENGTH_PX = 20
"""The default profile half-length is half the segment length but at least this many pixels."""
R68 = math.sqrt(-2.0 * math.log(0.32))
"""68 % radius of an isotropic 2-D Gaussian in units of its per-axis standard deviation (1.51)."""
DEFAULT_GAP_PX = 4
"""Default half-width (pixels) of the band around the trace left out of the fits. Estimators smooth
the step over about half their window: use a gap of that size (e.g. 16 px for 32-px correlation)."""


def geometry_transform(transform: Affine | None) -> Affine:
    """The product's transform, or the north-up unit-pixel frame when it has none."""
    return transform if is_georeferenced(transform) else UNGEOREFERENCED


def apply_transform(transform: Affine, x, y) -> tuple:
    """``(a x + b y + c, d x + e y + f)`` element-wise (no dependence on the affine operator API)."""
    return (transform.a * x + transform.b * y + transform.c, transform.d * x + transform.e * y + transform.f)


def ground_pixel_size(transform: Affine | None) -> float:
    """Geometric mean of the column and row ground sizes (map units per pixel)."""
    sx, sy = pixel_sizes(geometry_transform(transform))
    return math.sqrt(sx * sy)


@dataclass
class FaultProfile:
    """Stacked profile across a fault segment and the offsets at its trace.

    ``distance`` (bin centres, ``distance_unit``; + left of start->end) and the per-bin median/std of
    the parallel and normal components (``units``: pixel or meter), with the pixel count per bin;
    ``fit_distance`` and ``gap`` in ``distance_unit``; ``start``/``end`` the segment in map coordinates.
    """

    distance: np.ndarray
    parallel: np.ndarray
    parallel_std: np.ndarray
    normal: np.ndarray
    normal_std: np.ndarray
    count: np.ndarray
    parallel_offset: ComponentOffset
    normal_offset: ComponentOffset
    units: str
    distance_unit: str
    fit_distance: float
    gap: float
    start: tuple[float, float]
    end: tuple[float, float]
    bin_sigma: np.ndarray | None = None   # per-bin 1-sigma of a component from the sigma band


@dataclass
class SwathGeometry:
    """Fault frame in map units and the conversion from the user's coordinate units.

    ``scale`` is map units per coordinate unit (1, or the ground pixel size with pixel coordinates);
    ``pixel`` the ground pixel size in coordinate units.
    """

    start: np.ndarray
    end: np.ndarray
    mid: np.ndarray
    along: np.ndarray
    normal: np.ndarray
    half_length: float
    half_width: float
    scale: float
    pixel: float
    distance_unit: str

    def corners(self) -> np.ndarray:
        return np.array([self.mid + sa * self.half_width * self.along + sn * self.half_length * self.normal
                         for sa in (-1, 1) for sn in (-1, 1)])


def swath_geometry(transform: Affine | None, start, end, *, width: int = 11, half_length: float | None = None,
                   pixel_coords: bool = False, crs=None) -> SwathGeometry:
    """Frame of the segment ``start -> end``: ``û = (end - start)/|end - start|``, ``n̂ = û`` turned 90° CCW.

    ``start``/``end`` are map coordinates, or ``(column, row)`` of pixel centres (0-based) with
    ``pixel_coords`` (always so without georeferencing). ``half_length`` (coordinate units, default
    half the segment length, at least 20 pixels) bounds ``|t|``; ``width`` (pixels) is the swath
    extent along the fault.
    """
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ParameterError(f"width must be a positive number of pixels, got {width!r}")
    geo = geometry_transform(transform)
    pixel = ground_pixel_size(transform)
    pixel_coords = pixel_coords or not is_georeferenced(transform)
    if pixel_coords:
        start = apply_transform(geo, start[0] + 0.5, start[1] + 0.5)
        end = apply_transform(geo, end[0] + 0.5, end[1] + 0.5)
    start, end = np.asarray(start, float), np.asarray(end, float)
    length = float(np.hypot(*(end - start)))
    if length == 0:
        raise ParameterError("the fault segment has zero length (start == end)")
    along = (end - start) / length
    scale = pixel if pixel_coords else 1.0
    if half_length is None:
        half = max(length / 2, MIN_DEFAULT_HALF_LENGTH_PX * pixel)
    else:
        half = float(half_length) * scale
    if not half > 0:
        raise ParameterError(f"half_length must be positive, got {half_length}")
    unit = "px" if pixel_coords else ("deg" if crs is not None and crs.is_geographic else "m")
    return SwathGeometry(start, end, (start + end) / 2, along, np.array([-along[1], along[0]]), half,
                         width / 2 * pixel, scale, pixel / scale, unit)


def swath_slices(geometry: SwathGeometry, transform: Affine | None, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Row and column slices bounding the swath rectangle (with a one-pixel margin), clipped to ``shape``."""
    corners = geometry.corners()
    cols, rows = apply_transform(~geometry_transform(transform), corners[:, 0], corners[:, 1])
    r0, r1 = max(0, int(np.floor(rows.min())) - 1), min(shape[0], int(np.ceil(rows.max())) + 1)
    c0, c1 = max(0, int(np.floor(cols.min())) - 1), min(shape[1], int(np.ceil(cols.max())) + 1)
    if r0 >= r1 or c0 >= c1:
        raise ParameterError("the profile swath lies outside the product")
    return slice(r0, r1), slice(c0, c1)


def sample_swath(ew: np.ndarray, ns: np.ndarray, rows: slice, cols: slice, transform: Affine | None, units: str,
                 geometry: SwathGeometry, out_units: str, sigma: np.ndarray | None = None):
    """Distance ``t`` (coordinate units), parallel and normal components and sigma (``out_units``;
    None without a ``sigma`` window) of the valid swath pixels.

    ``ew``/``ns`` hold the window ``rows, cols`` of the product (EW +east, NS +north in ``units``).
    Components: map vector ``v`` (pixel units times the ground pixel sizes), projected on ``û`` and
    ``n̂``, then divided by the ground pixel size for ``out_units="pixel"``.
    """
    geo = geometry_transform(transform)
    rr, cc = np.mgrid[rows, cols]
    px, py = apply_transform(geo, cc + 0.5, rr + 0.5)
    t = (px - geometry.mid[0]) * geometry.normal[0] + (py - geometry.mid[1]) * geometry.normal[1]
    a = (px - geometry.mid[0]) * geometry.along[0] + (py - geometry.mid[1]) * geometry.along[1]
    e, n = np.asarray(ew, np.float64), np.asarray(ns, np.float64)
    inside = (np.abs(t) <= geometry.half_length) & (np.abs(a) <= geometry.half_width) & np.isfinite(e) & np.isfinite(n)
    if not inside.any():
        raise ParameterError("no valid displacement inside the profile swath")
    sx, sy = pixel_sizes(geo)
    to_map = (sx, sy) if units == "pixel" else (1.0, 1.0)
    from_map = 1.0 / ground_pixel_size(transform) if out_units == "pixel" else 1.0
    mx, my = e[inside] * to_map[0], n[inside] * to_map[1]
    parallel = (mx * geometry.along[0] + my * geometry.along[1]) * from_map
    normal = (mx * geometry.normal[0] + my * geometry.normal[1]) * from_map
    sig = None
    if sigma is not None and np.isfinite(sigma[inside]).any():  # radius: x max(sx, sy) to map (convention)
        sig = np.asarray(sigma, np.float64)[inside] * (max(sx, sy) if units == "pixel" else 1.0) * from_map
    return t[inside] / geometry.scale, parallel, normal, sig


def stack_bins(distance: np.ndarray, values: list[np.ndarray], bin_size: float, half_length: float):
    """Bin centres, per value array the median and std per bin, and the count per bin.

    Bin edges are ``k · bin_size`` so that one edge lies on the trace (``t = 0``).
    """
    n_half = int(math.ceil(half_length / bin_size - 1e-9))
    edges = bin_size * np.arange(-n_half, n_half + 1)
    index = np.digitize(distance, edges) - 1
    nbins = edges.size - 1
    medians = [np.full(nbins, np.nan) for _ in values]
    stds = [np.full(nbins, np.nan) for _ in values]
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(nbins + 1))
    count = np.diff(bounds)
    for b in np.flatnonzero(count):
        members = order[bounds[b]:bounds[b + 1]]
        for k, vals in enumerate(values):
            medians[k][b] = np.median(vals[members])
            stds[k][b] = np.std(vals[members])
    return (edges[:-1] + edges[1:]) / 2, medians, stds, count


def _check_units(units: str, out_units: str, transform) -> None:
    for name, value in (("units", units), ("out_units", out_units)):
        if value not in ("pixel", "meter"):
            raise ParameterError(f"{name} must be 'pixel' or 'meter', got {value!r}")
    if out_units == "meter" and not is_georeferenced(transform):
        raise ParameterError("the product has no georeferencing: profile units must be 'pixel'")


def build_profile(distance: np.ndarray, parallel: np.ndarray, normal: np.ndarray, sigma: np.ndarray | None,
                  geometry: SwathGeometry, out_units: str, *, fit_distance: float | None = None,
                  gap: float | None = None, bin_size: float | None = None) -> FaultProfile:
    """Stack swath samples into bins and fit the offsets (all lengths in coordinate units); with
    per-pixel ``sigma`` (68 % radius, ``out_units``) the fits are weighted (module doc).

    Defaults: ``bin_size`` one ground pixel, ``gap`` :data:`DEFAULT_GAP_PX` ground pixels,
    ``fit_distance`` half of the profile half-length.
    """
    half_length = geometry.half_length / geometry.scale
    bin_size = geometry.pixel if bin_size is None else float(bin_size)
    gap = DEFAULT_GAP_PX * geometry.pixel if gap is None else float(gap)
    fit_distance = half_length / 2 if fit_distance is None else float(fit_distance)
    if not (bin_size > 0 and 0 <= gap < fit_distance):
        raise ParameterError(f"need bin_size > 0 and 0 <= gap < fit_distance, got bin_size={bin_size}, "
                             f"gap={gap}, fit_distance={fit_distance}")
    values = [parallel, normal] + ([] if sigma is None else [sigma])
    centres, medians, stds, count = stack_bins(distance, values, bin_size, half_length)
    (par, nor), (par_std, nor_std) = medians[:2], stds[:2]
    bin_sigma = None if sigma is None else medians[2] / R68
    return FaultProfile(centres, par, par_std, nor, nor_std, count,
                        offset_at_trace(centres, par, gap, fit_distance, bin_sigma),
                        offset_at_trace(centres, nor, gap, fit_distance, bin_sigma),
                        out_units, geometry.distance_unit, fit_distance, gap,
                        tuple(geometry.start), tuple(geometry.end), bin_sigma)


def profile_arrays(ew: np.ndarray, ns: np.ndarray, transform: Affine | None, units: str, start, end, *,
                   width: int = 11, half_length: float | None = None, fit_distance: float | None = None,
                   gap: float | None = None, bin_size: float | None = None, out_units: str | None = None,
                   pixel_coords: bool = False, crs=None, sigma: np.ndarray | None = None) -> FaultProfile:
    """Stacked profile of whole product arrays (EW +east, NS +north, in ``units``; ``sigma`` the
    optional 68 % radius band, ``units``) across ``start -> end``.

    Lengths (``half_length``, ``fit_distance``, ``gap``, ``bin_size``) are in coordinate units: map
    units, or pixels with ``pixel_coords``; ``width`` is in pixels; ``out_units`` (default ``units``)
    sets the units of the components. Defaults: see :func:`swath_geometry` and :func:`build_profile`.
    """
    if ew.shape != ns.shape or ew.ndim != 2:
        raise ParameterError(f"EW and NS must be 2-D arrays of one shape, got {ew.shape} and {ns.shape}")
    out_units = out_units or units
    _check_units(units, out_units, transform)
    geometry = swath_geometry(transform, start, end, width=width, half_length=half_length,
                              pixel_coords=pixel_coords, crs=crs)
    rows, cols = swath_slices(geometry, transform, ew.shape)
    samples = sample_swath(ew[rows, cols], ns[rows, cols], rows, cols, transform, units, geometry, out_units,
                           None if sigma is None else sigma[rows, cols])
    return build_profile(*samples, geometry, out_units, fit_distance=fit_distance, gap=gap, bin_size=bin_size)


def profile_product(path: str | os.PathLike, start, end, *, width: int = 11, half_length: float | None = None,
                    fit_distance: float | None = None, gap: float | None = None, bin_size: float | None = None,
                    out_units: str | None = None, pixel_coords: bool = False) -> FaultProfile:
    """:func:`profile_arrays` on a product file (its sigma band weights the fits when present); a
    GeoTIFF is read only over the swath window."""
    from microflow.products.netcdf import is_netcdf_path, read_product_any

    if is_netcdf_path(path):
        bands, tags, profile = read_product_any(path)
        return profile_arrays(bands[0], bands[1], profile.get("transform"), tags.get("UNITS", "pixel"), start, end,
                              width=width, half_length=half_length, fit_distance=fit_distance, gap=gap,
                              bin_size=bin_size, out_units=out_units, pixel_coords=pixel_coords,
                              crs=profile.get("crs"), sigma=bands[3] if len(bands) > 3 else None)
    ds = _open_product(path)
    with ds:
        transform = ds.transform if is_georeferenced(ds.transform) else None
        units = ds.tags().get("UNITS", "pixel")
        out_units = out_units or units
        _check_units(units, out_units, transform)
        geometry = swath_geometry(transform, start, end, width=width, half_length=half_length,
                                  pixel_coords=pixel_coords, crs=ds.crs)
        rows, cols = swath_slices(geometry, transform, ds.shape)
        ew, ns, sigma = _read_window(ds, rows, cols)
    samples = sample_swath(ew, ns, rows, cols, transform, units, geometry, out_units, sigma)
    return build_profile(*samples, geometry, out_units, fit_distance=fit_distance, gap=gap, bin_size=bin_size)


def _open_product(path):
    import warnings

    import rasterio
    from rasterio.errors import RasterioIOError

    from microflow.errors import InputError

    if not os.path.isfile(os.fspath(path)):
        raise InputError(f"product not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning
            ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot read product {path}: {exc}") from None
    if ds.count < 2:
        ds.close()
        raise InputError(f"{path} has {ds.count} band(s); a product has EW and NS in bands 1 and 2")
    return ds


def _read_window(ds, rows: slice, cols: slice):
    """EW, NS and sigma (None for a 3-band product) over the window."""
    from rasterio.windows import Window

    bands = (1, 2, 4) if ds.count >= 4 else (1, 2)
    data = ds.read(bands, window=Window.from_slices(rows, cols), masked=True)
    data = np.ma.filled(data.astype(np.float32), np.nan)
    return data[0], data[1], (data[2] if len(bands) == 3 else None)


CSV_COLUMNS = ("distance", "parallel_median", "parallel_std", "normal_median", "normal_std", "n")


def write_profile_csv(profile: FaultProfile, path: str | os.PathLike) -> str:
    """One row per bin: ``distance, parallel_median, parallel_std, normal_median, normal_std, n``."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in zip(profile.distance, profile.parallel, profile.parallel_std, profile.normal,
                       profile.normal_std, profile.count):
            writer.writerow([f"{row[0]:.6g}", *(f"{v:.6g}" for v in row[1:5]), int(row[5])])
    return os.fspath(path)
