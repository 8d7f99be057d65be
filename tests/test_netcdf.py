"""CF-1.8 netCDF products: xarray-readable, values and CRS round-trip, suffix dispatch."""

import os

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from microflow.errors import OutputError
from microflow.methods.base import DisplacementField
from microflow.products.netcdf import (cell_centres, read_netcdf, read_product_any, to_xarray, write_netcdf,
                                       write_product_any)

GRID = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)
UTM = CRS.from_epsg(32611)
PROFILE = {"crs": UTM, "transform": GRID, "height": 12, "width": 16}


def _field(seed=0):
    rng = np.random.default_rng(seed)
    dx, dy = rng.normal(size=(2, 12, 16)).astype(np.float32)
    dx[2, 3] = dy[2, 3] = np.nan  # no estimate: both components
    return DisplacementField(dx, dy, rng.uniform(size=(12, 16)))


def test_xarray_opens_cf_file_and_round_trips_values_and_crs(tmp_path):
    field = _field()
    path = write_netcdf(tmp_path / "d.nc", field, PROFILE, method="freqcorr", units="meter", parameters={"window": 32})
    with xr.open_dataset(path, decode_coords="all") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["method"] == "freqcorr"
        assert ds["ew"].dtype == np.float32 and ds["ew"].attrs["units"] == "m"
        assert ds["x"].attrs["standard_name"] == "projection_x_coordinate"
        assert ds["y"].attrs["standard_name"] == "projection_y_coordinate"
        assert "crs_wkt" in ds["spatial_ref"].attrs
        assert ds.rio.crs == UTM
        np.testing.assert_allclose(ds["x"].values[:2], [500015.0, 500045.0])
        np.testing.assert_allclose(ds["y"].values[:2], [3999985.0, 3999955.0])
        # north-up metres: EW = 30 dx, NS = -30 dy
        np.testing.assert_allclose(ds["ew"].values, 30 * field.dx, rtol=1e-6)
        np.testing.assert_allclose(ds["ns"].values, -30 * field.dy, rtol=1e-6)
        assert np.isnan(ds["confidence"].values[2, 3])
    back, tags, profile = read_netcdf(path, as_field=True)
    np.testing.assert_allclose(back.dx, field.dx, atol=1e-5)
    np.testing.assert_allclose(back.dy, field.dy, atol=1e-5)
    assert profile["crs"] == UTM and profile["transform"].almost_equals(GRID)
    assert tags["UNITS"] == "meter" and '"window": 32' in tags["PARAMETERS"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".microflow-")]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0600


def test_ungeoreferenced_grid_round_trips(tmp_path):
    field = _field(1)
    path = write_netcdf(tmp_path / "plain.nc", field, {"crs": None, "transform": Affine.identity()})
    back, tags, profile = read_netcdf(path, as_field=True)
    assert profile["crs"] is None and profile["transform"].is_identity
    np.testing.assert_allclose(back.dy, field.dy, atol=1e-6)


def test_suffix_dispatch_writes_netcdf_or_geotiff(tmp_path):
    field = _field(2)
    for name in ("p.nc", "p.tif"):
        write_product_any(tmp_path / name, field, PROFILE, method="ncc", units="pixel")
    assert (tmp_path / "p.nc").read_bytes()[:4] == b"\x89HDF"
    assert (tmp_path / "p.tif").read_bytes()[:2] in (b"II", b"MM")
    nc, _, _ = read_product_any(tmp_path / "p.nc")
    tif, _, _ = read_product_any(tmp_path / "p.tif")
    np.testing.assert_array_equal(nc, tif)


def test_rotated_grid_is_refused():
    rotated = Affine(30.0 * np.cos(0.2), -30.0 * np.sin(0.2), 5e5, 30.0 * np.sin(0.2), 30.0 * np.cos(0.2), 4e6)
    with pytest.raises(OutputError, match="rotated"):
        to_xarray(_field(), {"crs": UTM, "transform": rotated})
    x, y = cell_centres(GRID, 2, 3)
    assert list(x) == [500015.0, 500045.0, 500075.0] and list(y) == [3999985.0, 3999955.0]


def test_estimate_writes_netcdf_when_the_output_ends_in_nc(make_pair, cli, tmp_path):
    pre, post = make_pair(dx=0.3, dy=0.2, size=96)
    out = tmp_path / "field.nc"
    rc, _, err = cli("estimate", pre, post, "-o", out, "--method", "farneback", "--quiet")
    assert rc == 0, err
    with xr.open_dataset(out) as ds:
        ew, ns = ds["ew"].values[24:-24, 24:-24], ds["ns"].values[24:-24, 24:-24]
        assert ds.attrs["method"] == "farneback"
    # north-up grid: content moved right (+x) and down (+y) is EW > 0, NS < 0
    assert abs(float(np.nanmedian(ew)) - 0.3) < 0.1 and abs(float(np.nanmedian(ns)) + 0.2) < 0.1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".microflow")) == []


def test_sigma_variable_in_the_displacement_unit_and_nan_where_the_field_is(tmp_path):
    field = _field(3)
    field = field.with_sigma(np.full((12, 16), 0.2, np.float32))
    path = write_netcdf(tmp_path / "s.nc", field, PROFILE, method="freqcorr", units="meter")
    with xr.open_dataset(path, decode_coords="all") as ds:
        assert list(ds.data_vars)[:4] == ["ew", "ns", "confidence", "sigma"] and ds["sigma"].attrs["units"] == "m"
        assert ds["sigma"].values[0, 0] == pytest.approx(6.0) and np.isnan(ds["sigma"].values[2, 3])  # 0.2 px x 30 m
    back, _, _ = read_netcdf(path, as_field=True)
    np.testing.assert_allclose(back.sigma, field.sigma, atol=1e-6, equal_nan=True)
    bands, tags, _ = read_netcdf(path)
    assert bands.shape == (4, 12, 16) and tags["_descriptions"][3] == "sigma"
