"""Stable ground: the pixels a correction is fitted on.

Sources, in order of preference (:func:`stable_mask`):

* ``stable`` VECTOR: inside the polygons (areas known not to move);
* ``exclude`` VECTOR with ``buffer`` [m]: outside the polygons grown by the buffer (the rupture zone,
  the glacier; with a buffer, a fault trace drawn as lines does too);
* ``stable_mask`` RASTER: its non-zero, non-nodata pixels, resampled (nearest) onto the product grid
  when its grid differs;
* automatic (:func:`automatic_mask`, :func:`gradient_outliers`): valid pixels whose confidence is at
  least ``min_confidence`` (or the lower quartile, when that is lower), whose sigma is at most ``median + k_sigma · 1.4826 MAD`` and, after a first
  fit, whose residual gradient is not an outlier; the robust reweighting of the fit
  (:mod:`.fit`) then drops what still moves.

Vectors are read with fiona (any format OGR reads) and reprojected to the product CRS; a vector
without a CRS is taken to be in the product's. Refusals (``InputError``, no output written): a vector
or raster whose CRS cannot be transformed, a product without a CRS given a georeferenced vector, and
a mask with no pixel inside the product.
"""

from __future__ import annotations

import os

import numpy as np

from microflow.errors import InputError, ParameterError

MAD_TO_SIGMA = 1.4826
GRADIENT_SMOOTH_PX = 5
GRADIENT_BASELINE_PX = 4


def _crs_or_none(crs):
    return None if crs is None or not str(crs) else crs


def read_vector(path: str | os.PathLike, product_crs, polygons_only: bool = True) -> list:
    """Geometries of a vector file as shapely geometries in the product CRS (module doc): polygons,
    and also lines and points unless ``polygons_only`` (a fault trace to grow with a buffer)."""
    import fiona
    from rasterio.crs import CRS
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    try:
        with fiona.open(os.fspath(path)) as layer:
            wkt = layer.crs_wkt
            geoms = [shape(f.geometry) for f in layer if f.geometry is not None]
    except Exception as exc:  # fiona raises DriverError and others for unreadable files
        raise InputError(f"cannot read vector {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    kinds = ("Polygon", "MultiPolygon") if polygons_only else ()
    geoms = [g for g in geoms if not g.is_empty and (not kinds or g.geom_type in kinds)]
    if not geoms:
        raise InputError(f"vector {path} holds no polygon" + ("" if polygons_only else " or line"))
    if not wkt:
        return geoms
    if _crs_or_none(product_crs) is None:
        raise InputError(f"vector {path} has a CRS but the product has none: cannot place it on the product")
    src = CRS.from_wkt(wkt)
    if src == product_crs:
        return geoms
    try:
        moved = transform_geom(src, product_crs, [mapping(g) for g in geoms])
    except Exception as exc:
        raise InputError(f"cannot transform vector {path} from {src.to_string() or 'its CRS'} to the product "
                         f"CRS {product_crs}: {str(exc).splitlines()[0][:160]}") from None
    out = [shape(g) for g in moved]
    if not all(np.all(np.isfinite(g.bounds)) for g in out):
        raise InputError(f"cannot transform vector {path} to the product CRS {product_crs}: non-finite coordinates")
    return out


def buffer_distance(buffer_m: float, crs) -> float:
    """``buffer_m`` metres in the units of the product CRS (refused for a geographic CRS)."""
    if not buffer_m:
        return 0.0
    if buffer_m < 0:
        raise ParameterError(f"--buffer must be >= 0 metres, got {buffer_m}")
    if crs is not None and crs.is_geographic:
        raise ParameterError("--buffer needs a product in a projected CRS (metres), not a geographic one")
    factor = crs.linear_units_factor[1] if crs is not None and crs.is_projected else 1.0
    return float(buffer_m) / factor


def rasterize_polygons(geoms: list, shape: tuple[int, int], transform) -> np.ndarray:
    """Bool (H, W): pixel centres inside any polygon."""
    from affine import Affine
    from rasterio.features import rasterize

    transform = transform or Affine.identity()
    burned = rasterize([(g, 1) for g in geoms], out_shape=shape, transform=transform, fill=0, dtype="uint8")
    return burned.astype(bool)


def vector_mask(path, shape, transform, crs, buffer_m: float = 0.0) -> np.ndarray:
    """Bool (H, W) of a vector's polygons (grown by ``buffer_m`` metres; with a buffer, lines such as a
    fault trace count too) on the product grid."""
    distance = buffer_distance(buffer_m, _crs_or_none(crs))
    geoms = read_vector(path, _crs_or_none(crs), polygons_only=not distance)
    if distance:
        geoms = [g.buffer(distance) for g in geoms]
    inside = rasterize_polygons(geoms, shape, transform)
    if not inside.any():
        raise InputError(f"the polygons of {path} fall outside the product: no pixel inside")
    return inside


def raster_mask(path, shape, transform, crs) -> np.ndarray:
    """Bool (H, W): non-zero, non-nodata pixels of a mask raster, on the product grid (nearest)."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    try:
        with rasterio.open(os.fspath(path)) as ds:
            data = ds.read(1, masked=True)
            src_transform, src_crs = ds.transform, _crs_or_none(ds.crs)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read stable mask {path}: {exc}") from None
    values = np.where(np.ma.getmaskarray(data), 0, np.asarray(data.filled(0)) != 0).astype(np.uint8)
    same_grid = data.shape == tuple(shape) and (transform is None or src_transform == transform)
    if same_grid and (src_crs is None or _crs_or_none(crs) is None or src_crs == crs):
        inside = values.astype(bool)
    else:
        if (src_crs is None) != (_crs_or_none(crs) is None):
            raise InputError(f"stable mask {path} and the product must both have a CRS, or both none")
        out = np.zeros(shape, np.uint8)
        try:
            reproject(values, out, src_transform=src_transform, src_crs=src_crs, dst_transform=transform,
                      dst_crs=crs, resampling=Resampling.nearest)  # outside the mask raster stays 0
        except Exception as exc:
            raise InputError(f"cannot transform stable mask {path} to the product grid: "
                             f"{str(exc).splitlines()[0][:160]}") from None
        inside = out.astype(bool)
    if not inside.any():
        raise InputError(f"stable mask {path} falls outside the product: no stable pixel on its grid")
    return inside


def stable_mask(options, shape, transform, crs) -> tuple[np.ndarray | None, str]:
    """The user's stable mask (None for automatic) and a description of its source."""
    given = [name for name in ("stable", "exclude", "stable_mask") if getattr(options, name)]
    if len(given) > 1:
        raise ParameterError("give one of --stable, --exclude, --stable-mask, not several")
    if options.buffer and not options.exclude:
        raise ParameterError("--buffer applies to --exclude")
    if options.stable:
        return vector_mask(options.stable, shape, transform, crs), f"stable vector {os.path.basename(options.stable)}"
    if options.exclude:
        excluded = vector_mask(options.exclude, shape, transform, crs, options.buffer)
        return ~excluded, f"outside {os.path.basename(options.exclude)} + {options.buffer:g} m"
    if options.stable_mask:
        return raster_mask(options.stable_mask, shape, transform, crs), \
            f"stable raster {os.path.basename(options.stable_mask)}"
    return None, "automatic"


def automatic_mask(valid: np.ndarray, confidence: np.ndarray | None, sigma: np.ndarray | None,
                   min_confidence: float, k_sigma: float) -> np.ndarray:
    """Valid pixels with confidence >= ``min(min_confidence, q25)`` (``q25`` the lower quartile of the
    valid confidences: a method whose confidences all sit low keeps its upper three quarters) and sigma
    <= median + k · 1.4826 MAD."""
    keep = valid.copy()
    if confidence is not None and np.isfinite(confidence[valid]).any():
        conf = np.nan_to_num(confidence, nan=0.0)
        keep &= conf >= min(min_confidence, float(np.percentile(conf[valid], 25)))
    if sigma is not None and np.isfinite(sigma[keep]).any():
        s = sigma[keep & np.isfinite(sigma)]
        med = np.median(s)
        limit = med + k_sigma * MAD_TO_SIGMA * np.median(np.abs(s - med))
        keep &= ~(np.nan_to_num(sigma, nan=np.inf) > limit)
    return keep


def gradient_outliers(resid: np.ndarray, keep: np.ndarray, k: float,
                      smooth: int = GRADIENT_SMOOTH_PX, baseline: int = GRADIENT_BASELINE_PX) -> np.ndarray:
    """Bool (H, W): pixels near a sharp change of the residual field ``resid`` (2, H, W).

    The residual is averaged over ``smooth`` x ``smooth`` valid pixels (normalized box filter), its
    gradient ``G = sqrt(Σ_c |Δ_col r_c|² + |Δ_row r_c|²) / (2 baseline)`` is taken over central
    differences ``baseline`` px apart, and pixels with ``G > median + k · 1.4826 MAD`` (over ``keep``)
    are flagged and grown by ``2 baseline + smooth`` px.
    """
    from scipy.ndimage import binary_dilation, uniform_filter

    weight = keep.astype(np.float64)
    norm = uniform_filter(weight, smooth)
    grad2 = np.zeros(keep.shape)
    for r in resid:
        mean = uniform_filter(np.where(keep, r, 0.0), smooth) / np.maximum(norm, 1e-9)
        mean = np.where(norm > 0.2, mean, np.nan)
        b = baseline
        dcol = np.full(keep.shape, np.nan)
        drow = np.full(keep.shape, np.nan)
        dcol[:, b:-b] = mean[:, 2 * b:] - mean[:, :-2 * b]
        drow[b:-b, :] = mean[2 * b:, :] - mean[:-2 * b, :]
        grad2 += np.nan_to_num(dcol, nan=0.0) ** 2 + np.nan_to_num(drow, nan=0.0) ** 2
    grad = np.sqrt(grad2) / (2 * baseline)
    g = grad[keep]
    if g.size == 0:
        return np.zeros(keep.shape, bool)
    med = np.median(g)
    flagged = grad > med + k * MAD_TO_SIGMA * np.median(np.abs(g - med))
    grow = 2 * baseline + smooth
    yy, xx = np.mgrid[-grow:grow + 1, -grow:grow + 1]
    return binary_dilation(flagged, structure=(yy ** 2 + xx ** 2) <= grow ** 2)
