"""CF-1.8 netCDF displacement products, the twin of the GeoTIFF product (xarray + rioxarray + netCDF4).

Layout (``xarray.open_dataset`` reads it as is)::

    dimensions  y (rows, top to bottom), x (columns)
    x, y        cell-centre map coordinates from the pre grid's transform,
                standard_name projection_x/y_coordinate (or longitude/latitude for a geographic CRS;
                plain column/row centres without georeferencing)
    spatial_ref grid mapping: crs_wkt, CF projection parameters and GeoTransform (rioxarray)
    ew, ns      float32 (y, x), NaN fill: EW +east, NS +north, units "pixel" or "m"
    confidence  float32 (y, x) in [0, 1], NaN where there is no estimate
    sigma       float32 (y, x), the calibrated 68 % radius of the end-point error, in the displacement
                unit (:func:`microflow.convention.sigma_to_product`); absent from older products

Global attributes: ``Conventions = "CF-1.8"``, ``method``, ``software_version``, ``convention``,
``displacement_units`` and ``parameters`` (JSON). Signs and units go through
:func:`microflow.convention.field_to_product`, exactly as for the GeoTIFF. Files are written to a
temporary name beside the destination and renamed when complete.

:func:`build_dataset` builds that Dataset (numpy- or dask-backed bands, also the result of
:func:`microflow.estimate_dataarrays`); :func:`write_netcdf` / :func:`write_dataset` write it.
:func:`write_product_any` / :func:`read_product_any` pick GeoTIFF or netCDF from the file suffix.
"""

from __future__ import annotations

import json
import os

import numpy as np
from affine import Affine

from microflow import __version__
from microflow.convention import field_to_product, product_to_field, sigma_from_product, sigma_to_product
from microflow.errors import InputError, OutputError
from microflow.products.atomic import atomic_output

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
VARIABLES = ("ew", "ns", "confidence")
CF_UNITS = {"pixel": "pixel", "meter": "m"}
CONVENTION = ("ew +east, ns +north, displacement of post relative to pre; "
              "internal d=(dx,dy) px of the pre grid, x=column right, y=row down")


def is_netcdf_path(path: str | os.PathLike) -> bool:
    """True when the suffix of ``path`` names a netCDF file (``.nc``, ``.nc4``, ``.netcdf``)."""
    return os.fspath(path).lower().endswith(NETCDF_SUFFIXES)


def cell_centres(transform: Affine | None, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """1-D map coordinates of the column and row centres: ``x_j = c + a (j + ½)``, ``y_i = f + e (i + ½)``.

    Raises :class:`OutputError` for a rotated grid, which 1-D CF coordinates cannot describe.
    """
    transform = transform or Affine.identity()
    if transform.b != 0 or transform.d != 0:
        raise OutputError("a rotated grid cannot be written as netCDF with 1-D x/y coordinates: use GeoTIFF")
    x = transform.c + transform.a * (np.arange(width) + 0.5)
    y = transform.f + transform.e * (np.arange(height) + 0.5)
    return x, y


def _coordinate_attrs(crs) -> tuple[dict, dict]:
    if crs is None:
        return ({"long_name": "column centre", "units": "1"}, {"long_name": "row centre", "units": "1"})
    if crs.is_geographic:
        return ({"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"},
                {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"})
    unit = "m" if (crs.linear_units or "").lower() in ("metre", "meter", "m") else crs.linear_units
    return ({"standard_name": "projection_x_coordinate", "long_name": "x coordinate of projection",
             "units": unit, "axis": "X"},
            {"standard_name": "projection_y_coordinate", "long_name": "y coordinate of projection",
             "units": unit, "axis": "Y"})


#: CF attributes of the product's variables, in file order ("units" None: the displacement unit).
VARIABLE_ATTRS = {
    "ew": {"long_name": "eastward ground displacement of post relative to pre", "units": None},
    "ns": {"long_name": "northward ground displacement of post relative to pre", "units": None},
    "confidence": {"long_name": "confidence of the displacement estimate", "units": "1", "valid_min": 0.0,
                   "valid_max": 1.0},
    "sigma": {"long_name": "radius containing the true displacement error with 68 % probability "
                           "(calibrated, microflow.uncertainty)", "units": None, "valid_min": 0.0},
}


def product_bands(dx: np.ndarray, dy: np.ndarray, confidence: np.ndarray, transform: Affine | None,
                  units: str = "pixel") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Product (EW, NS, confidence) float32 of an internal field: signs and units by
    :func:`~microflow.convention.field_to_product`, confidence clipped to [0, 1] and NaN where there
    is no estimate (EW or NS NaN)."""
    ew, ns = field_to_product(dx, dy, transform, units)
    invalid = ~(np.isfinite(ew) & np.isfinite(ns))
    return ew, ns, np.where(invalid, np.nan, np.clip(confidence, 0.0, 1.0)).astype(np.float32)


def sigma_band(sigma: np.ndarray | None, ew: np.ndarray, ns: np.ndarray, transform: Affine | None,
               units: str = "pixel") -> np.ndarray:
    """Product sigma float32 of an internal sigma [pre pixels] (None: all NaN), NaN where EW or NS is NaN."""
    if sigma is None:
        return np.full(np.shape(ew), np.nan, np.float32)
    invalid = ~(np.isfinite(ew) & np.isfinite(ns))
    return np.where(invalid, np.float32(np.nan), sigma_to_product(sigma, transform, units)).astype(np.float32)


def build_dataset(bands: dict, crs, transform: Affine | None, method: str = "unknown", units: str = "pixel",
                  parameters: dict | None = None):
    """The product :class:`xarray.Dataset` (module layout) of product-convention (H, W) float32 bands
    keyed by :data:`VARIABLE_ATTRS` names (ew, ns, confidence), numpy- or dask-backed (kept lazy)."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    unknown = sorted(set(bands) - set(VARIABLE_ATTRS))
    if unknown:
        raise ValueError(f"unknown product variable(s) {unknown}; known: {list(VARIABLE_ATTRS)}")
    height, width = bands["ew"].shape
    x, y = cell_centres(transform, height, width)
    unit = CF_UNITS[units]
    x_attrs, y_attrs = _coordinate_attrs(crs)
    data_vars = {name: (("y", "x"), bands[name], {k: unit if v is None else v for k, v in attrs.items()})
                 for name, attrs in VARIABLE_ATTRS.items() if name in bands}
    ds = xr.Dataset(data_vars, coords={"x": ("x", x, x_attrs), "y": ("y", y, y_attrs)})
    ds.attrs.update({
        "Conventions": "CF-1.8", "title": "ground displacement field", "method": method,
        "software_version": f"microflow-geo {__version__}", "convention": CONVENTION,
        "displacement_units": units, "parameters": json.dumps(parameters or {}, default=str),
    })
    if crs is not None:
        ds = ds.rio.write_crs(crs).rio.write_transform(transform)
    return ds


def to_xarray(field, profile: dict, method: str = "unknown", units: str = "pixel",
              parameters: dict | None = None):
    """An :class:`xarray.Dataset` of an internal field (dx, dy in pre pixels) in product convention."""
    transform = profile.get("transform")
    ew, ns, confidence = product_bands(field.dx, field.dy, field.confidence, transform, units)
    sigma = sigma_band(getattr(field, "sigma", None), ew, ns, transform, units)
    return build_dataset({"ew": ew, "ns": ns, "confidence": confidence, "sigma": sigma}, profile.get("crs"),
                         transform, method, units, parameters)


def netcdf_engine() -> str:
    """The xarray engine that can write compressed netCDF-4 here: ``netcdf4``, else ``h5netcdf`` (needs h5py)."""
    import importlib.util

    if importlib.util.find_spec("netCDF4"):
        return "netcdf4"
    if importlib.util.find_spec("h5netcdf") and importlib.util.find_spec("h5py"):
        return "h5netcdf"
    raise OutputError("netCDF output needs the netCDF4 package (or h5netcdf with h5py): pip install netCDF4")


def write_netcdf(path: str | os.PathLike, field, profile: dict, method: str = "unknown", units: str = "pixel",
                 parameters: dict | None = None, alignment: str | None = None) -> str:
    """Write an internal field as a CF-1.8 netCDF product (atomic: temporary file, then rename);
    ``alignment``, the tiler's ALIGNMENT tag, becomes the global attribute ``alignment``."""
    ds = to_xarray(field, profile, method, units, parameters)
    if alignment:
        ds.attrs["alignment"] = alignment
    return write_dataset(path, ds)


def write_dataset(path: str | os.PathLike, ds) -> str:
    """Write a product Dataset (:func:`build_dataset`, e.g. from :func:`microflow.estimate_dataarrays`)
    as a compressed netCDF-4 file (atomic)."""
    path = os.fspath(path)
    encoding = {name: {**ds[name].encoding, "dtype": "float32", "_FillValue": np.float32(np.nan), "zlib": True,
                       "complevel": 4} for name in ds.data_vars}  # keeps rioxarray's grid_mapping
    with atomic_output(path, ".nc.tmp") as tmp:
        ds.to_netcdf(tmp, engine=netcdf_engine(), encoding=encoding)
    return path


def read_netcdf(path: str | os.PathLike, as_field: bool = False):
    """Read a netCDF product like :func:`microflow.products.geotiff.read_product`.

    Returns ``(bands (4, H, W) float32 [EW, NS, confidence, sigma], tags, profile)`` (3 bands for a
    product without sigma) with the GeoTIFF tag
    names (``UNITS``, ``METHOD``, ``PARAMETERS``, ``SOFTWARE_VERSION``, ``CONVENTION`` and, when the
    file has one, ``ALIGNMENT``); with
    ``as_field=True`` the first item is an internal DisplacementField.
    """
    import rioxarray  # noqa: F401
    import xarray as xr

    from microflow.methods.base import DisplacementField

    if not os.path.isfile(os.fspath(path)):
        raise InputError(f"product not found: {path}")
    with xr.open_dataset(path, decode_coords="all") as ds:
        missing = [name for name in VARIABLES if name not in ds]
        if missing:
            raise InputError(f"{path} is not a microflow netCDF product (missing {', '.join(missing)})")
        names = VARIABLES + (("sigma",) if "sigma" in ds else ())
        bands = np.stack([ds[name].values.astype(np.float32) for name in names])
        crs = ds.rio.crs
        transform = ds.rio.transform()
        attrs = dict(ds.attrs)
    units = attrs.get("displacement_units", "pixel")
    tags = {"UNITS": units, "METHOD": attrs.get("method", "unknown"), "PARAMETERS": attrs.get("parameters", "{}"),
            "SOFTWARE_VERSION": attrs.get("software_version", ""), "CONVENTION": attrs.get("convention", "")}
    if "alignment" in attrs:
        tags["ALIGNMENT"] = attrs["alignment"]
    profile = {"driver": "netCDF", "height": bands.shape[1], "width": bands.shape[2], "count": len(bands),
               "dtype": "float32", "nodata": np.nan, "crs": crs, "transform": transform}
    if as_field:
        dx, dy = product_to_field(bands[0], bands[1], transform, units)
        sigma = sigma_from_product(bands[3], transform, units) if len(bands) > 3 else None
        return DisplacementField(dx, dy, bands[2], sigma=sigma), tags, profile
    tags["_descriptions"] = ("EW", "NS", "confidence", "sigma")[:len(bands)]
    return bands, tags, profile


def write_product_any(path: str | os.PathLike, field, profile: dict, method: str = "unknown",
                      units: str = "pixel", parameters: dict | None = None) -> str:
    """Write a product as netCDF when ``path`` ends in ``.nc``/``.nc4``/``.netcdf``, else as GeoTIFF."""
    if is_netcdf_path(path):
        return write_netcdf(path, field, profile, method, units, parameters)
    from microflow.products.geotiff import write_product

    return write_product(path, field, profile, method=method, units=units, parameters=parameters)


def read_product_any(path: str | os.PathLike, as_field: bool = False):
    """Read a GeoTIFF or netCDF product (by suffix); same return value as ``read_product``."""
    if is_netcdf_path(path):
        return read_netcdf(path, as_field)
    from microflow.products.geotiff import read_product

    return read_product(path, as_field)
