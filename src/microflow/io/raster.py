"""Pre/post GeoTIFF pairs: validation, grids, masks and windowed reads (rasterio).

Images are returned as float32 arrays with NaN where either image has no data (declared nodata
value, NaN, an internal mask, or the undeclared ``nodata`` value given by the user or found by
``nodata="auto"``, :mod:`microflow.io.fill`), so every
downstream stage handles one kind of missing value.

Grids (:mod:`microflow.io.grid`): a pair whose grids are a whole number of pixels apart is read on
its OVERLAP, each image through its own window, with no resampling (``align="exact"``, the
default); :class:`RasterPair` ``shape``, ``transform`` and ``profile`` are then the overlap's, on
pre's grid. Any other pair needs ``align="resample"`` (or ``"resample:KERNEL"``): post is read
through a ``WarpedVRT`` onto pre's grid, over the window of pre that post's footprint covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from microflow.errors import InputError, ParameterError
from microflow.io import grid as grids
from microflow.io.aoi import Aoi, aoi_window
from microflow.io.bands import (AUTO, band_indexes, check_band, check_not_palette, combine, parse_band,
                                resolve_band)
from microflow.io.fill import AUTO as AUTO_NODATA, FILL_OVERVIEW_PIXELS, parse_nodata, resolve_nodata
from microflow.io.remote import display_name, is_remote, open_raster, with_retries

WARP_TOLERANCE = 1e-3  # px: largest error of GDAL's approximate coordinate transform (default 0.125 px)


@dataclass
class RasterPair:
    """Two open, validated rasters read on one grid (the overlap, on pre's grid). Use as a context manager.

    ``band`` is 1-based, as in rasterio and GDAL, or ``"luma"`` (:mod:`microflow.io.bands`).
    ``windows``: the overlap in pre's and post's pixels (None: the whole pre grid); ``post`` may be a ``WarpedVRT`` onto pre's grid over the
    file ``source``. ``nodata``: an undeclared no-data value of both images. ``align``: the option
    asked for ("exact" or "resample:KERNEL"); ``alignment``: how post was brought onto pre's grid
    (the product's ALIGNMENT tag).
    """

    pre: rasterio.io.DatasetReader
    post: rasterio.io.DatasetReader
    band: int | str = 1
    paths: tuple[str, str] = field(default=("", ""))
    windows: tuple[Window, Window] | None = None
    nodata: float | None = None
    alignment: str = "exact"
    source: rasterio.io.DatasetReader | None = None
    align: str = "exact"
    product_window: Window | None = None   # the area of interest within the pair's grid (None: all of it)
    area: str | None = None                # how that area was given (the product's AOI tag)

    def __enter__(self) -> "RasterPair":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.pre.close()
        self.post.close()
        if self.source is not None:
            self.source.close()

    @property
    def shape(self) -> tuple[int, int]:
        if self.windows is None:
            return self.pre.height, self.pre.width
        return int(self.windows[0].height), int(self.windows[0].width)

    @property
    def transform(self):
        if self.windows is None:
            return self.pre.transform
        return rasterio.windows.transform(self.windows[0], self.pre.transform)

    @property
    def crs(self):
        return self.pre.crs

    @property
    def profile(self) -> dict:
        """The pre image's profile on the overlap (CRS, transform, size): the grid of every product."""
        height, width = self.shape
        return {**self.pre.profile, "height": height, "width": width, "transform": self.transform}

    @property
    def product_profile(self) -> dict:
        """The profile of the product: the pair's, cropped to the area of interest (without its halo)."""
        if self.product_window is None:
            return self.profile
        w = self.product_window
        return {**self.profile, "height": int(w.height), "width": int(w.width),
                "transform": rasterio.windows.transform(w, self.transform)}

    def _windows(self, window: Window | None) -> tuple[Window | None, Window | None]:
        if self.windows is None:
            return window, window
        if window is None:
            return self.windows
        return tuple(Window(window.col_off + w.col_off, window.row_off + w.row_off, window.width, window.height)
                     for w in self.windows)

    def read(self, window: Window | None = None, boundless: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Read ``(pre, post)`` as float32 with NaN where either image has no data.

        ``window`` is in the pixels of the pair's grid (the overlap); with ``boundless`` the part
        outside it is NaN.
        """
        if boundless and window is not None:
            return self._read_boundless(window)
        pre_window, post_window = self._windows(window)
        pre = _read_band(self.pre, self.band, pre_window, False, "pre", nodata=self.nodata)
        post = _read_band(self.post, self.band, post_window, False, "post", nodata=self._post_nodata)
        return _mask_both(pre, post)

    def _read_boundless(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        height, width = self.shape
        row0, col0 = int(window.row_off), int(window.col_off)
        rows, cols = int(window.height), int(window.width)
        r0, r1 = max(row0, 0), min(row0 + rows, height)
        c0, c1 = max(col0, 0), min(col0 + cols, width)
        out = np.full((2, rows, cols), np.nan, np.float32)
        if r0 < r1 and c0 < c1:
            out[:, r0 - row0:r1 - row0, c0 - col0:c1 - col0] = self.read(Window(c0, r0, c1 - c0, r1 - r0))
        return out[0], out[1]

    @property
    def _post_nodata(self) -> float | None:
        # a WarpedVRT already maps the user's value to NaN (it is the warp's source nodata)
        return None if self.source is not None else self.nodata

    def read_overview(self, max_pixels: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
        """Decimated read of both images (for global statistics without loading the scene)."""
        h, w = self.shape
        factor = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
        out_shape = (max(1, h // factor), max(1, w // factor))
        pre_window, post_window = self._windows(None)
        pre = _read_band(self.pre, self.band, pre_window, False, "pre", out_shape, self.nodata)
        post = _read_band(self.post, self.band, post_window, False, "post", out_shape, self._post_nodata)
        return _mask_both(pre, post)


def _mask_both(pre: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    invalid = np.isnan(pre) | np.isnan(post)
    pre[invalid] = np.nan
    post[invalid] = np.nan
    return pre, post


def _read_band(ds, band: int | str, window, boundless: bool, role: str, out_shape=None,
               nodata: float | None = None) -> np.ndarray:
    """(h, w) float32 of ``band`` (:mod:`microflow.io.bands`: an index or "luma"), NaN = no data."""
    name = display_name(ds.name)
    remote = is_remote(ds.name) or (getattr(ds, "src_dataset", None) is not None
                                    and is_remote(ds.src_dataset.name))
    indexes = band_indexes(band)
    shape = None if out_shape is None else (len(indexes), *out_shape)

    def attempt():
        return ds.read(indexes, window=window, masked=True, boundless=boundless, out_shape=shape)

    what = f"{role} image {name} could not be read" + ("" if remote else " (corrupt or truncated?)")
    data = with_retries(attempt, what, remote)
    arr = np.ma.filled(data.astype(np.float32), np.nan)
    if ds.nodata is not None and np.isnan(ds.nodata):
        arr[~np.isfinite(arr)] = np.nan
    if nodata is not None:
        raw = np.ma.getdata(data)
        hit = np.isnan(raw) if np.isnan(nodata) else raw.astype(np.float64) == float(nodata)
        arr[hit] = np.nan
    return combine(arr, band)


def _warped(pre, post, alignment: grids.Alignment, nodata: float | None, window: Window):
    """``WarpedVRT`` of ``post`` on pre's whole grid (float32, NaN outside post's data), whose reads
    do not depend on the window read: resampling scales fixed (:func:`~microflow.io.grid.resampling_scales`),
    coordinate transform approximated to :data:`WARP_TOLERANCE` px."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    src_nodata = post.nodata
    if nodata is not None:
        if src_nodata is not None and not (np.isnan(src_nodata) and np.isnan(nodata)) and src_nodata != nodata:
            raise ParameterError(f"post declares nodata {src_nodata:g} and nodata {nodata:g} was given: "
                                 "--align resample can mask only one value of post")
        src_nodata = nodata
    xscale, yscale = grids.resampling_scales(grids.Grid.of(pre), grids.Grid.of(post), window)
    try:
        return WarpedVRT(post, crs=pre.crs, transform=pre.transform, width=pre.width, height=pre.height,
                         resampling=Resampling[alignment.resampling], src_nodata=src_nodata, nodata=np.nan,
                         tolerance=WARP_TOLERANCE, dtype="float32", XSCALE=f"{xscale:.12g}",
                         YSCALE=f"{yscale:.12g}")
    except RasterioError as exc:
        raise InputError(f"cannot reproject post onto pre's grid: {exc.__cause__ or exc}") from None


def _align(pair: RasterPair, alignment: grids.Alignment) -> None:
    """Set the pair's overlap windows (and post's WarpedVRT) for ``alignment``, or raise InputError."""
    pre_grid, post_grid = grids.Grid.of(pair.pre), grids.Grid.of(pair.post)
    offset = grids.grid_offset(pre_grid, post_grid)
    if offset is not None:
        windows = grids.overlap_windows(pre_grid, post_grid, offset)
        full = offset == (0, 0) and (pre_grid.height, pre_grid.width) == (post_grid.height, post_grid.width)
        pair.windows = None if full else windows
        pair.alignment = grids.describe_exact(*windows, full)
        return
    differences = grids.grid_differences(pre_grid, post_grid)
    if alignment.mode != "resample":
        raise InputError(grids.mismatch_message(differences))
    window = grids.footprint_window(pre_grid, post_grid)
    pair.source = pair.post
    pair.post = _warped(pair.pre, pair.source, alignment, pair.nodata, window)
    pair.windows = (window, window)
    pair.alignment = grids.describe_resample(alignment, pre_grid, post_grid, differences)


def open_pair(pre_path: str | os.PathLike, post_path: str | os.PathLike, band: int | str = AUTO, *,
              align="exact", nodata=None, aoi: Aoi | None = None, halo: int = 0) -> RasterPair:
    """Open and validate a pre/post pair on one grid; raise :class:`InputError` naming what differs.

    align: "exact" (default: whole-pixel offsets allowed, the pair is read on its overlap, never
    resampled), "resample" or "resample:KERNEL" (post is reprojected onto pre's grid when the grids
    differ; kernels in :data:`~microflow.io.grid.RESAMPLING_KERNELS`, default cubic). nodata: a value
    that marks no data in both images besides their declared nodata and masks (e.g. 0), or "auto"
    (:func:`microflow.io.fill.resolve_nodata`: 0 when the images are zero-filled); ``pair.nodata`` is the value used.
    Paths may be URLs or GDAL paths (:mod:`microflow.io.remote`). aoi: an area of interest
    (:mod:`microflow.io.aoi`): the pair is then read over it plus ``halo`` px on each side (within
    the overlap), and ``product_window`` marks the area itself. band: an index, "luma" or "auto"
    (:func:`microflow.io.bands.resolve_band`); ``pair.band`` is the band actually read.
    """
    band = parse_band(band)
    alignment = grids.parse_align(align)
    nodata = parse_nodata(nodata)
    pre = open_raster(pre_path, "pre")
    try:
        post = open_raster(post_path, "post")
    except InputError:
        pre.close()
        raise
    band = resolve_band(band, (pre.colorinterp, post.colorinterp))
    auto = nodata == AUTO_NODATA
    pair = RasterPair(pre, post, band, (os.fspath(pre_path), os.fspath(post_path)), nodata=None if auto else nodata,
                      align=alignment.text)
    try:
        for role, ds in (("pre", pre), ("post", post)):
            check_band(band, ds.count, role, ds.name)
            check_not_palette(band, ds.colorinterp, role, ds.name)
        _align(pair, alignment)
        if aoi is not None:
            _crop(pair, aoi, halo)
        if auto:
            _resolve_auto_nodata(pair, alignment)
    except (InputError, ParameterError):
        pair.close()
        raise
    return pair


def _resolve_auto_nodata(pair: RasterPair, alignment: grids.Alignment) -> None:
    """``nodata="auto"`` (:mod:`microflow.io.fill`), decided on a decimated read of the pair's region; a
    resampled post is warped again with 0 as its source no-data value when 0 is taken."""
    declared = any(ds.nodata is not None for ds in (pair.pre, pair.source or pair.post))
    pre, post = pair.read_overview(FILL_OVERVIEW_PIXELS)
    pair.nodata = resolve_nodata(AUTO_NODATA, {"pre": pre, "post": post}, declared)
    if pair.nodata is not None and pair.source is not None:
        pair.post.close()
        footprint = grids.footprint_window(grids.Grid.of(pair.pre), grids.Grid.of(pair.source))
        pair.post = _warped(pair.pre, pair.source, alignment, pair.nodata, footprint)


def _crop(pair: RasterPair, aoi: Aoi, halo: int) -> None:
    """Restrict the pair's windows to ``aoi`` plus ``halo`` px (within the overlap); set product_window."""
    if halo < 0:
        raise ParameterError(f"halo must be >= 0 px, got {halo}")
    pre = pair.pre
    area = aoi_window(aoi, pre.crs, pre.transform, pre.height, pre.width)
    pre_win, post_win = pair.windows or (Window(0, 0, pre.width, pre.height),) * 2
    c0, r0 = max(area.col_off, pre_win.col_off), max(area.row_off, pre_win.row_off)
    c1 = min(area.col_off + area.width, pre_win.col_off + pre_win.width)
    r1 = min(area.row_off + area.height, pre_win.row_off + pre_win.height)
    if c0 >= c1 or r0 >= r1:
        raise InputError(f"area of interest ({aoi.describe()}) lies outside the overlap of pre and post")
    k0, j0 = max(c0 - halo, pre_win.col_off), max(r0 - halo, pre_win.row_off)
    k1 = min(c1 + halo, pre_win.col_off + pre_win.width)
    j1 = min(r1 + halo, pre_win.row_off + pre_win.height)
    shift = (post_win.col_off - pre_win.col_off, post_win.row_off - pre_win.row_off)
    pair.windows = (Window(k0, j0, k1 - k0, j1 - j0), Window(k0 + shift[0], j0 + shift[1], k1 - k0, j1 - j0))
    pair.product_window = Window(c0 - k0, r0 - j0, c1 - c0, r1 - r0)
    pair.area = aoi.describe()


def pair_parameters(pair: RasterPair) -> dict:
    """The reading options recorded in a product's PARAMETERS tag: band, align and nodata (if given)."""
    extra = {} if pair.nodata is None else {"nodata": pair.nodata}
    if pair.area is not None:
        extra["aoi"] = pair.area
    return {"band": pair.band, "align": pair.align, **extra}


def check_usable(pre: np.ndarray, post: np.ndarray) -> None:
    """Reject all-nodata or constant images, on which no method can measure anything."""
    for role, img in (("pre", pre), ("post", post)):
        finite = img[np.isfinite(img)]
        if finite.size == 0:
            raise InputError(f"{role} image has no valid pixel (all nodata)")
        if float(finite.max() - finite.min()) == 0.0:
            raise InputError(f"{role} image is constant ({finite.flat[0]}): there is no texture to correlate")


def read_pair(pre_path, post_path, band: int | str = AUTO, *, align="exact",
              nodata=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read a whole pair: ``(pre, post, profile)``, float32 with NaN where either has no data, on the
    pair's grid (the overlap; see :func:`open_pair` for ``align`` and ``nodata``)."""
    with open_pair(pre_path, post_path, band, align=align, nodata=nodata) as pair:
        pre, post = pair.read()
        profile = pair.profile
    check_usable(pre, post)
    return pre, post, profile
