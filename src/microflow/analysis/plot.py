"""Quicklook figures of a displacement field: EW, NS, magnitude and (when the product has one) sigma panels.

* EW and NS use a diverging colormap with symmetric limits ``±v``, ``v`` the 99th percentile of
  ``|value|`` (robust to outliers) unless ``vmax`` is given;
* the magnitude ``sqrt(EW² + NS²)`` uses a sequential colormap on ``[0, v_mag]``;
* sigma (the calibrated 68 % error radius, band 4) uses another sequential colormap on
  ``[0, p99(sigma)]``; 3-band products (or an all-NaN sigma) get no sigma panel;
* colorbars carry the product units (``px`` or ``m``); a scale bar gives ground distance from the
  transform (m / km; degrees for a geographic CRS; pixels without georeferencing);
* NaN (no estimate) is light grey, or transparent over the optional pre-image underlay (grayscale,
  2–98 % stretch), over which the field is drawn semi-transparent.

Large rasters are block-averaged (NaN-aware) to at most ``max_side`` pixels per side before drawing.
Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas, never pyplot, so the
global backend of a notebook is left alone.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from microflow.convention import field_to_product, is_georeferenced, pixel_sizes
from microflow.errors import InputError
from microflow.products.atomic import atomic_output
from microflow.products.geotiff import product_band
from microflow.products.netcdf import read_product_any

DIVERGING_CMAP = "RdBu_r"
SEQUENTIAL_CMAP = "viridis"
SIGMA_CMAP = "magma_r"
NAN_COLOR = "#d9d9d9"
OVERLAY_ALPHA = 0.6
ROBUST_PERCENTILE = 99.0
UNIT_LABELS = {"pixel": "px", "meter": "m"}


def robust_limit(values: np.ndarray, percentile: float = ROBUST_PERCENTILE) -> float:
    """``percentile`` of ``|values|`` over finite pixels; a small positive number if that is 0 or empty."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 1.0
    limit = float(np.percentile(finite, percentile))
    return limit if limit > 0 else max(float(finite.max()), 1e-6)


def block_nanmean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor × factor`` blocks ignoring NaN (edge rows/columns that do not fill a block are dropped)."""
    if factor <= 1:
        return np.asarray(image, np.float32)
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = np.asarray(image[:h, :w], np.float32).reshape(h // factor, factor, w // factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return np.nanmean(blocks, axis=(1, 3))


def decimation_factor(shape: tuple[int, int], max_side: int) -> int:
    """Smallest integer factor bringing the longest side to at most ``max_side`` pixels."""
    return max(1, int(np.ceil(max(shape) / max_side)))


def nice_length(target: float) -> float:
    """Largest ``{1, 2, 5} × 10^k`` not above ``target``."""
    exponent = np.floor(np.log10(target))
    for mantissa in (5.0, 2.0, 1.0):
        if mantissa * 10 ** exponent <= target:
            return float(mantissa * 10 ** exponent)
    return float(10 ** exponent)


def map_unit(transform, crs) -> str:
    """Unit of the ground distances given by ``transform``: ``"m"``, ``"deg"`` or ``"px"`` (no georeferencing)."""
    if not is_georeferenced(transform) or crs is None:
        return "px"
    return "deg" if crs.is_geographic else "m"


def add_scale_bar(ax, pixel_size: float, unit: str, width_px: int) -> None:
    """Scale bar about a fifth of the panel wide, in km/m (``unit="m"``), degrees or pixels."""
    length = nice_length(0.2 * width_px * pixel_size)
    if unit == "m":
        label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    elif unit == "deg":
        label = f"{length:g}°"
    else:
        label = f"{length:g} px"
    bar = AnchoredSizeBar(ax.transData, length / pixel_size, label, "lower left", pad=0.4, sep=3,
                          color="black", frameon=True, size_vertical=max(1.0, 0.01 * width_px),
                          fontproperties={"size": 8})
    bar.patch.set_alpha(0.7)
    ax.add_artist(bar)


def _cmap(name: str, transparent_nan: bool) -> Colormap:
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad=(0, 0, 0, 0) if transparent_nan else NAN_COLOR)


def _stretch(image: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """Grayscale 2–98 % stretch to [0, 1], NaN kept."""
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return image
    lo, hi = np.percentile(finite, [low, high])
    return np.clip((image - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def plot_components(ew: np.ndarray, ns: np.ndarray, *, units: str = "pixel", transform=None, crs=None,
                    underlay: np.ndarray | None = None, title: str | None = None, vmax: float | None = None,
                    max_side: int = 1600, sigma: np.ndarray | None = None) -> Figure:
    """Figure with EW, NS and magnitude panels of a product-convention field (EW +east, NS +north),
    and a sigma panel when ``sigma`` (product units) has a finite value.

    ``vmax`` fixes the EW/NS limits ``±vmax`` and the magnitude range ``[0, vmax]``; ``underlay`` is an
    image on the same grid drawn in grayscale beneath the field.
    """
    if ew.shape != ns.shape or ew.ndim != 2:
        raise InputError(f"EW and NS must be 2-D arrays of one shape, got {ew.shape} and {ns.shape}")
    if underlay is not None and underlay.shape != ew.shape:
        raise InputError(f"underlay shape {underlay.shape} differs from the field's {ew.shape}")
    if sigma is not None and np.shape(sigma) != ew.shape:
        raise InputError(f"sigma shape {np.shape(sigma)} differs from the field's {ew.shape}")
    factor = decimation_factor(ew.shape, max_side)
    ew, ns = block_nanmean(ew, factor), block_nanmean(ns, factor)
    magnitude = np.hypot(ew, ns)
    background = None if underlay is None else _stretch(block_nanmean(underlay, factor))

    unit = UNIT_LABELS.get(units, units)
    limit = float(vmax) if vmax else robust_limit(np.concatenate([ew.ravel(), ns.ravel()]))
    mag_limit = float(vmax) if vmax else robust_limit(magnitude)
    panels = [(ew, "EW (+east)", DIVERGING_CMAP, -limit, limit),
              (ns, "NS (+north)", DIVERGING_CMAP, -limit, limit),
              (magnitude, "magnitude", SEQUENTIAL_CMAP, 0.0, mag_limit)]
    if sigma is not None and np.isfinite(sigma).any():
        sigma = block_nanmean(sigma, factor)
        panels.append((sigma, "sigma (68 % error radius)", SIGMA_CMAP, 0.0, robust_limit(sigma)))

    height, width = ew.shape
    panel_w = 4.2
    n = len(panels)
    fig = Figure(figsize=(n * panel_w, min(panel_w * height / width, 3 * panel_w) + 1.4), layout="constrained")
    axes = fig.subplots(1, n, sharex=True, sharey=True)
    sx, _ = pixel_sizes(transform)
    scale_unit = map_unit(transform, crs)
    for ax, (data, name, cmap, lo, hi) in zip(axes, panels):
        if background is None:
            ax.set_facecolor(NAN_COLOR)
        else:
            ax.imshow(background, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        image = ax.imshow(np.ma.masked_invalid(data), cmap=_cmap(cmap, background is not None), vmin=lo, vmax=hi,
                          interpolation="nearest", alpha=OVERLAY_ALPHA if background is not None else None)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, orientation="horizontal", shrink=0.85, pad=0.02,
                     extend="both" if lo < 0 else "max").set_label(f"{name.split()[0]} [{unit}]")
        add_scale_bar(ax, sx * factor if scale_unit != "px" else factor, scale_unit, width)
    if title:
        fig.suptitle(title)
    return fig


def plot_field(dx: np.ndarray, dy: np.ndarray, path: str | os.PathLike | None = None, *, transform=None,
               crs=None, units: str = "pixel", underlay: np.ndarray | None = None, title: str | None = None,
               vmax: float | None = None) -> Figure:
    """Quicklook of an internal field (dx +column, dy +row, pre pixels), drawn as EW/NS/magnitude.

    The field is converted once through :func:`microflow.convention.field_to_product`; without a
    transform the grid is north-up with unit pixels (``EW = dx``, ``NS = -dy``). Saved as PNG when
    ``path`` is given.
    """
    ew, ns = field_to_product(np.asarray(dx, np.float32), np.asarray(dy, np.float32), transform, units)
    fig = plot_components(ew, ns, units=units, transform=transform, crs=crs, underlay=underlay, title=title,
                          vmax=vmax)
    if path is not None:
        save_png(fig, path)
    return fig


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> str:
    """Write ``fig`` as PNG to a temporary file beside ``path``, then rename it into place."""
    path = os.fspath(path)
    with atomic_output(path, ".png.tmp") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def read_underlay(pre_path: str | os.PathLike, shape: tuple[int, int], band: int | str = 1) -> np.ndarray:
    """Band ``band`` (an index, "luma" or "auto", :mod:`microflow.io.bands`) of the pre image as float32 with
    NaN for no data; it must be on the product's grid."""
    import rasterio
    from rasterio.errors import RasterioIOError

    from microflow.io.bands import band_indexes, check_band, combine, parse_band, resolve_band

    band = parse_band(band)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning
            with rasterio.open(pre_path) as ds:
                band = resolve_band(band, (ds.colorinterp,))
                check_band(band, ds.count, "pre", pre_path)
                image = combine(np.ma.filled(ds.read(band_indexes(band), masked=True).astype(np.float32), np.nan), band)
    except RasterioIOError as exc:
        raise InputError(f"pre image is not a readable raster: {pre_path} ({exc})") from None
    if image.shape != tuple(shape):
        raise InputError(f"pre image {pre_path} is {image.shape[0]}x{image.shape[1]}, the product "
                         f"{shape[0]}x{shape[1]}: not the product's grid")
    return image


def read_product_checked(path):
    """``(bands, tags, profile)`` of a product file (GeoTIFF or netCDF); any read failure is an InputError."""
    try:
        return read_product_any(path)
    except InputError:
        raise
    except Exception as exc:  # rasterio / xarray raise several types for unreadable files
        raise InputError(f"cannot read product {path}: {exc}") from None


def plot_product(product_path: str | os.PathLike, png_path: str | os.PathLike,
                 pre_path: str | os.PathLike | None = None, title: str | None = None,
                 vmax: float | None = None) -> str:
    """Quicklook PNG of a product file (GeoTIFF, or netCDF by suffix); ``pre_path`` adds a grayscale underlay,
    read from the band the product was measured on (its ``PARAMETERS`` tag; band 1 when it names none)."""
    bands, tags, profile = read_product_checked(product_path)
    underlay = None if pre_path is None else read_underlay(pre_path, bands.shape[1:], product_band(tags))
    if title is None:
        title = f"{os.path.basename(os.fspath(product_path))} ({tags.get('METHOD', 'unknown method')})"
    fig = plot_components(bands[0], bands[1], units=tags.get("UNITS", "pixel"), transform=profile.get("transform"),
                          crs=profile.get("crs"), underlay=underlay, title=title, vmax=vmax,
                          sigma=bands[3] if len(bands) > 3 else None)
    return save_png(fig, png_path)


OFFSET_MEANING = {"fault-parallel": ("right-lateral", "left-lateral"), "fault-normal": ("opening", "shortening")}


def plot_profile(profile, path: str | os.PathLike | None = None, title: str | None = None) -> Figure:
    """Figure of a :class:`~microflow.analysis.profile.FaultProfile`: fault-parallel and fault-normal panels
    with the bin medians ± std, the two side fits (solid within the fit range) and the offset at the trace."""
    unit = UNIT_LABELS.get(profile.units, profile.units)
    to_km = profile.distance_unit == "m" and np.nanmax(np.abs(profile.distance)) >= 5000
    dscale, dunit = (1e-3, "km") if to_km else (1.0, profile.distance_unit)
    fig = Figure(figsize=(8.0, 6.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    panels = (("fault-parallel", profile.parallel, profile.parallel_std, profile.parallel_offset),
              ("fault-normal", profile.normal, profile.normal_std, profile.normal_offset))
    for ax, (name, median, std, offset) in zip(axes, panels):
        ax.axvspan(-profile.gap * dscale, profile.gap * dscale, color="0.92", label="excluded gap")
        ax.axvline(0.0, color="black", lw=0.8)
        ax.errorbar(profile.distance * dscale, median, yerr=std, fmt="o", ms=2.5, color="0.25", ecolor="0.75",
                    elinewidth=0.8, label="bin median ± std")
        for fit, color in ((offset.left, "tab:red"), (offset.right, "tab:blue")):
            if np.isfinite(fit.intercept):
                t = np.array([0.0, fit.side * profile.fit_distance])
                ax.plot(t * dscale, fit.intercept + fit.slope * t, color=color, lw=2,
                        label=f"fit {'left (+)' if fit.side > 0 else 'right (-)'} side, n={fit.n}")
                ax.plot([0.0], [fit.intercept], "o", color=color, ms=6)
        if np.isfinite(offset.offset):
            sense = OFFSET_MEANING[name][0 if offset.offset >= 0 else 1]
            if abs(offset.offset) < 2 * offset.sigma:
                sense = "not significant at 2σ"
            text = f"offset at trace {offset.offset:+.4g} ± {offset.sigma:.2g} {unit} ({sense})"
        else:
            text = "offset: not enough points on both sides to fit"
        ax.text(0.02, 0.95, text, transform=ax.transAxes, va="top", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
        ax.set_ylabel(f"{name} [{unit}]")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=7)
    axes[1].set_xlabel(f"distance from the trace [{dunit}] (+ = left of start → end)")
    if title:
        fig.suptitle(title)
    if path is not None:
        save_png(fig, path)
    return fig
