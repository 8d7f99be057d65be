"""Pre/post GeoTIFF pairs: validation, masks and windowed reads (rasterio).

Images are returned as float32 arrays with NaN where either image has no data (nodata value, NaN,
or a masked pixel), so every downstream stage handles one kind of missing value.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.windows import Window

from microflow.errors import InputError, ParameterError


def _open(path: str | os.PathLike, role: str) -> rasterio.io.DatasetReader:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{role} image not found: {path}")
    if os.path.isdir(path):
        raise InputError(f"{role} image is a folder, not a raster: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{role} image is not a readable raster: {path} ({exc})") from None


@dataclass
class RasterPair:
    """Two open, validated rasters on the same grid. Use as a context manager.

    ``band`` is 1-based, as in rasterio and GDAL.
    """

    pre: rasterio.io.DatasetReader
    post: rasterio.io.DatasetReader
    band: int = 1
    paths: tuple[str, str] = field(default=("", ""))

    def __enter__(self) -> "RasterPair":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.pre.close()
        self.post.close()

    @property
    def shape(self) -> tuple[int, int]:
        return self.pre.height, self.pre.width

    @property
    def transform(self):
        return self.pre.transform

    @property
    def crs(self):
        return self.pre.crs

    @property
    def profile(self) -> dict:
        """The pre image's profile (CRS, transform, size), the grid of every product."""
        return dict(self.pre.profile)

    def read(self, window: Window | None = None, boundless: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Read ``(pre, post)`` as float32 with NaN where either image has no data."""
        pre = _read_band(self.pre, self.band, window, boundless, "pre")
        post = _read_band(self.post, self.band, window, boundless, "post")
        invalid = np.isnan(pre) | np.isnan(post)
        pre[invalid] = np.nan
        post[invalid] = np.nan
        return pre, post

    def read_overview(self, max_pixels: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
        """Decimated read of both images (for global statistics without loading the scene)."""
        h, w = self.shape
        factor = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
        out_shape = (max(1, h // factor), max(1, w // factor))
        pre = _read_band(self.pre, self.band, None, False, "pre", out_shape)
        post = _read_band(self.post, self.band, None, False, "post", out_shape)
        invalid = np.isnan(pre) | np.isnan(post)
        pre[invalid] = np.nan
        post[invalid] = np.nan
        return pre, post


def _read_band(ds, band: int, window, boundless: bool, role: str, out_shape=None) -> np.ndarray:
    try:
        data = ds.read(band, window=window, masked=True, boundless=boundless, out_shape=out_shape)
    except RasterioError as exc:
        detail = exc.__cause__ or exc  # rasterio's own message only says "see previous exception"
        raise InputError(f"{role} image {ds.name} could not be read (corrupt or truncated?): {detail}") from None
    arr = np.ma.filled(data.astype(np.float32), np.nan)
    if ds.nodata is not None and np.isnan(ds.nodata):
        arr[~np.isfinite(arr)] = np.nan
    return arr


def _describe_mismatch(pre, post) -> list[str]:
    problems = []
    if (pre.height, pre.width) != (post.height, post.width):
        problems.append(f"shape {pre.height}x{pre.width} vs {post.height}x{post.width}")
    if pre.crs != post.crs:
        problems.append(f"CRS {pre.crs} vs {post.crs}")
    if not pre.transform.almost_equals(post.transform, precision=1e-9):
        problems.append(f"transform {tuple(pre.transform)[:6]} vs {tuple(post.transform)[:6]}")
    return problems


def open_pair(pre_path: str | os.PathLike, post_path: str | os.PathLike, band: int = 1) -> RasterPair:
    """Open and validate a pre/post pair; raise :class:`InputError` naming what differs.

    No resampling is ever done: both images must share shape, CRS and transform.
    """
    if not isinstance(band, (int, np.integer)) or band < 1:
        raise ParameterError(f"band must be a positive 1-based index, got {band!r}")
    pre = _open(pre_path, "pre")
    try:
        post = _open(post_path, "post")
    except InputError:
        pre.close()
        raise
    pair = RasterPair(pre, post, int(band), (os.fspath(pre_path), os.fspath(post_path)))
    try:
        for role, ds in (("pre", pre), ("post", post)):
            if band > ds.count:
                raise InputError(f"band {band} out of range: {role} image {ds.name} has {ds.count} band(s)")
        problems = _describe_mismatch(pre, post)
        if problems:
            raise InputError("pre and post are not on the same grid (no resampling is done): " + "; ".join(problems))
    except InputError:
        pair.close()
        raise
    return pair


def check_usable(pre: np.ndarray, post: np.ndarray) -> None:
    """Reject all-nodata or constant images, on which no method can measure anything."""
    for role, img in (("pre", pre), ("post", post)):
        finite = img[np.isfinite(img)]
        if finite.size == 0:
            raise InputError(f"{role} image has no valid pixel (all nodata)")
        if float(finite.max() - finite.min()) == 0.0:
            raise InputError(f"{role} image is constant ({finite.flat[0]}): there is no texture to correlate")


def read_pair(pre_path, post_path, band: int = 1) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read a whole pair: ``(pre, post, profile)``, float32 with NaN where either has no data."""
    with open_pair(pre_path, post_path, band) as pair:
        pre, post = pair.read()
        profile = pair.profile
    check_usable(pre, post)
    return pre, post, profile
