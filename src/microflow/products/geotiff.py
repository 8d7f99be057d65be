"""3-band float32 displacement GeoTIFF: EW (+east), NS (+north), confidence [0, 1], NaN = no estimate.

The product sits on the pre image's grid (CRS and transform). Tags: ``UNITS`` (pixel|meter),
``METHOD``, ``PARAMETERS`` (JSON), ``SOFTWARE_VERSION`` and ``CONVENTION``. Files are written to a
temporary name in the destination folder and renamed when complete, so a failed run never leaves a
partial product.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window

from microflow import __version__
from microflow.convention import BAND_NAMES, field_to_product, product_to_field
from microflow.errors import OutputError
from microflow.products.atomic import publish_file

CONVENTION = ("EW +east, NS +north, displacement of post relative to pre; "
              "internal d=(dx,dy) px of the pre grid, x=column right, y=row down")


def check_output_path(out_path: str | os.PathLike, inputs=(), overwrite: bool = False) -> str:
    """Validate an output path before any work is done; return it as a string."""
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
    return out


def product_profile(profile: dict, tiled: bool = True) -> dict:
    """GeoTIFF profile of a product on the grid described by ``profile`` (the pre image's)."""
    prof = {
        "driver": "GTiff", "height": profile["height"], "width": profile["width"], "count": 3,
        "dtype": "float32", "nodata": np.nan, "crs": profile.get("crs"),
        "transform": profile.get("transform"), "compress": "deflate", "predictor": 3,
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

    def __enter__(self) -> "ProductWriter":
        folder = os.path.dirname(os.path.abspath(self.path)) or "."
        fd, self._tmp = tempfile.mkstemp(prefix=".microflow-", suffix=".tif.tmp", dir=folder)
        os.close(fd)
        self._transform = self.profile.get("transform")
        try:
            self._ds = rasterio.open(self._tmp, "w", **product_profile(self.profile))
        except Exception as exc:
            os.unlink(self._tmp)
            raise OutputError(f"cannot write {self.path}: {exc}") from None
        for i, name in enumerate(BAND_NAMES, start=1):
            self._ds.set_band_description(i, name)
        self._ds.update_tags(
            UNITS=self.units, METHOD=self.method, PARAMETERS=json.dumps(self.parameters or {}, default=str),
            SOFTWARE_VERSION=f"microflow-geo {__version__}", CONVENTION=CONVENTION,
        )
        self._ds.update_tags(1, UNITS=self.units)
        self._ds.update_tags(2, UNITS=self.units)
        return self

    def write(self, dx: np.ndarray, dy: np.ndarray, confidence: np.ndarray, window: Window | None = None) -> None:
        """Write one window of an internal field (dx, dy in pre pixels) in product convention."""
        ew, ns = field_to_product(dx, dy, self._transform, self.units)
        conf = np.clip(np.asarray(confidence, np.float32), 0.0, 1.0)
        invalid = ~(np.isfinite(ew) & np.isfinite(ns))
        conf = np.where(invalid, np.nan, conf).astype(np.float32)
        self._ds.write(np.stack([ew, ns, conf]), window=window)

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
        writer.write(field.dx, field.dy, field.confidence)
    return os.fspath(path)


def read_product(path, as_field: bool = False):
    """Read a product: ``(bands (3, H, W) float32, tags dict, profile)``.

    With ``as_field=True`` the first item is an internal
    :class:`~microflow.methods.base.DisplacementField` (dx, dy in pre pixels) instead.
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
        return DisplacementField(dx, dy, data[2]), tags, profile
    tags["_descriptions"] = descriptions
    return data, tags, profile
