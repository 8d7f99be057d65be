"""4-band float32 displacement GeoTIFF: EW (+east), NS (+north), confidence [0, 1], sigma (the
calibrated 68 % error radius, product units), NaN = no estimate. Products of earlier versions have
3 bands (no sigma) and still read.

The product sits on the pre image's grid (CRS and transform). Tags: ``UNITS`` (pixel|meter),
``METHOD``, ``PARAMETERS`` (JSON), ``SOFTWARE_VERSION``, ``CONVENTION`` and, from the tiler, ``ALIGNMENT`` (how
post was brought onto pre's grid: exact overlap or resampling). Files are written to a
temporary name in the destination folder and renamed when complete, so a failed run never leaves a
partial product.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from microflow import __version__
from microflow.convention import BAND_NAMES, field_to_product, product_to_field, sigma_from_product, sigma_to_product
from microflow.errors import OutputError
from microflow.products.atomic import publish_file

GEOTIFF_SUFFIXES = (".tif", ".tiff")
DEFLATE_LEVEL = 1   # zlib level: 1.5x faster writes than the default 6, files within 1 % (floating-point predictor)
CONVENTION = ("EW +east, NS +north, displacement of post relative to pre; "
              "internal d=(dx,dy) px of the pre grid, x=column right, y=row down")


def check_output_path(out_path: str | os.PathLike, inputs=(), overwrite: bool = False,
                      suffixes: tuple[str, ...] = (), kind: str = "the output") -> str:
    """Validate an output path before any work is done; return it as a string.

    ``suffixes`` (lower case, e.g. ``GEOTIFF_SUFFIXES``): the extensions allowed, any when empty;
    ``kind`` names the file in that error.
    """
    out = os.path.abspath(os.fspath(out_path))
    for inp in inputs:
        if not inp:
            continue
        same = os.path.abspath(os.fspath(inp)) == out
        if not same and os.path.exists(out) and os.path.exists(inp):
            same = os.path.samefile(out, inp)
        if same:
            raise OutputError(f"output path is the same as an input: {out_path}")
    if os.path.isdir(out):
        raise OutputError(f"output path is a folder, not a file: {out_path}")
    if os.path.exists(out) and not overwrite:
        raise OutputError(f"output exists: {out_path} (use --overwrite to replace it)")
    folder = os.path.dirname(out) or "."
    if not os.path.isdir(folder):
        problem = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise OutputError(f"output folder {problem}: {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder is not writable: {folder}")
    if suffixes and not out.lower().endswith(tuple(suffixes)):
        raise OutputError(f"{kind} must end in {', '.join(suffixes)}, got {os.path.basename(out)!r}")
    return out


def product_profile(profile: dict, tiled: bool = True) -> dict:
    """GeoTIFF profile of a product on the grid described by ``profile`` (the pre image's)."""
    prof = {
        "driver": "GTiff", "height": profile["height"], "width": profile["width"], "count": len(BAND_NAMES),
        "dtype": "float32", "nodata": np.nan, "crs": profile.get("crs"),
        "transform": profile.get("transform"), "compress": "deflate", "predictor": 3, "zlevel": DEFLATE_LEVEL,
        "BIGTIFF": "IF_SAFER",
    }
    if tiled and profile["height"] >= 256 and profile["width"] >= 256:
        prof.update(tiled=True, blockxsize=256, blockysize=256)
    return prof


@dataclass
class ProductWriter:
    """Context manager that writes a product window by window, then renames it into place.

    >>> with ProductWriter("out.tif", profile, method="freqcorr", units="pixel") as w:
    ...     w.write(dx, dy, confidence, window)
    """

    path: str
    profile: dict
    method: str = "unknown"
    units: str = "pixel"
    parameters: dict | None = None
    tags: dict | None = None  # extra dataset tags (e.g. ALIGNMENT)

    def __enter__(self) -> "ProductWriter":
        folder = os.path.dirname(os.path.abspath(self.path)) or "."
        fd, self._tmp = tempfile.mkstemp(prefix=".microflow-", suffix=".tif.tmp", dir=folder)
        os.close(fd)
        self._transform = self.profile.get("transform")
        try:
            with warnings.catch_warnings():  # no georeferencing: pixel units, north up (microflow.convention)
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(self._tmp, "w", **product_profile(self.profile))
        except Exception as exc:
            os.unlink(self._tmp)
            raise OutputError(f"cannot write {self.path}: {exc}") from None
        for i, name in enumerate(BAND_NAMES, start=1):
            self._ds.set_band_description(i, name)
        self._ds.update_tags(
            UNITS=self.units, METHOD=self.method, PARAMETERS=json.dumps(self.parameters or {}, default=str),
            SOFTWARE_VERSION=f"microflow-geo {__version__}", CONVENTION=CONVENTION, **(self.tags or {}),
        )
        self._ds.update_tags(1, UNITS=self.units)
        self._ds.update_tags(2, UNITS=self.units)
        self._ds.update_tags(4, UNITS=self.units)
        return self

    def write(self, dx: np.ndarray, dy: np.ndarray, confidence: np.ndarray, window: Window | None = None,
              sigma: np.ndarray | None = None) -> None:
        """Write one window of an internal field (dx, dy, sigma in pre pixels) in product convention;
        ``sigma`` None writes NaN."""
        ew, ns = field_to_product(dx, dy, self._transform, self.units)
        conf = np.clip(np.asarray(confidence, np.float32), 0.0, 1.0)
        invalid = ~(np.isfinite(ew) & np.isfinite(ns))
        conf = np.where(invalid, np.nan, conf).astype(np.float32)
        sig = (np.full(ew.shape, np.nan, np.float32) if sigma is None
               else np.where(invalid, np.nan, sigma_to_product(sigma, self._transform, self.units)))
        self._ds.write(np.stack([ew, ns, conf, sig.astype(np.float32)]), window=window)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._ds.close()
        if exc_type is None:
            try:
                publish_file(self._tmp, self.path)
                return
            except OSError as err:
                os.unlink(self._tmp)
                raise OutputError(f"cannot write {self.path}: {err.strerror}") from None
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


def write_product(path, field, profile: dict, method: str, units: str = "pixel", parameters: dict | None = None) -> str:
    """Write a whole :class:`~microflow.methods.base.DisplacementField` as a product GeoTIFF."""
    with ProductWriter(os.fspath(path), profile, method, units, parameters) as writer:
        writer.write(field.dx, field.dy, field.confidence, sigma=field.sigma)
    return os.fspath(path)


def product_band(tags: dict) -> int | str:
    """The band a product was measured on (``"band"`` of its PARAMETERS JSON tag), 1 when absent or unreadable."""
    try:
        band = json.loads(tags.get("PARAMETERS") or "{}").get("band", 1)
    except (ValueError, AttributeError):
        return 1
    return band if isinstance(band, (int, str)) and not isinstance(band, bool) else 1


def read_product(path, as_field: bool = False):
    """Read a product: ``(bands (4, H, W) float32, tags dict, profile)`` (``(3, H, W)`` for a product
    written before the sigma band).

    With ``as_field=True`` the first item is an internal
    :class:`~microflow.methods.base.DisplacementField` (dx, dy, sigma in pre pixels; sigma None for
    a 3-band product) instead.
    """
    from microflow.methods.base import DisplacementField

    with rasterio.open(path) as ds:
        data = ds.read().astype(np.float32)
        tags = ds.tags()
        profile = dict(ds.profile)
        descriptions = ds.descriptions
    if as_field:
        units = tags.get("UNITS", "pixel")
        dx, dy = product_to_field(data[0], data[1], profile.get("transform"), units)
        sigma = sigma_from_product(data[3], profile.get("transform"), units) if len(data) > 3 else None
        return DisplacementField(dx, dy, data[2], sigma=sigma), tags, profile
    tags["_descriptions"] = descriptions
    return data, tags, profile
