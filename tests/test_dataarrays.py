"""``microflow.estimate_dataarrays``: rioxarray in, product Dataset out; the numbers of estimate_files,
lazy for dask-backed inputs, one grid, no-data, units.

A 320² grass pair moved by (+0.3, +0.2) px (north-up UTM, 30 m), the shipped compact model in 128 px
windows (several windows, blended) with the default log-TV.
"""

from __future__ import annotations

import numpy as np
import pytest

rioxarray = pytest.importorskip("rioxarray")
dask_array = pytest.importorskip("dask.array")

import xarray as xr  # noqa: E402
from affine import Affine  # noqa: E402

from conftest import CRS, PIXEL_SIZE, TRANSFORM, shifted_texture, write_geotiff  # noqa: E402
from microflow import estimate_dataarrays  # noqa: E402
from microflow.api import estimate_files  # noqa: E402
from microflow.errors import InputError, MicroflowWarning, ParameterError  # noqa: E402
from microflow.products.geotiff import read_product  # noqa: E402
from microflow.tiling.plan import torch_threads  # noqa: E402

SIZE, DX, DY = 320, 0.3, 0.2
SETTINGS = {"tile_window": 128, "threads": 1}
TOLERANCE = 1e-4  # px


@pytest.fixture(scope="module")
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataarrays")
    pre, post = shifted_texture(SIZE, DX, DY)
    return write_geotiff(folder / "pre.tif", pre), write_geotiff(folder / "post.tif", post), folder


@pytest.fixture(scope="module")
def in_memory(pair, one_thread):
    """The numpy-backed result."""
    pre, post, _ = pair
    return estimate_dataarrays(rioxarray.open_rasterio(pre), rioxarray.open_rasterio(post), **SETTINGS)


def data_array(values, transform=TRANSFORM, crs=CRS, nodata=None) -> xr.DataArray:
    height, width = values.shape
    x = transform.c + transform.a * (np.arange(width) + 0.5)
    y = transform.f + transform.e * (np.arange(height) + 0.5)
    array = xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x})
    array = array.rio.write_crs(crs).rio.write_transform(transform)
    return array if nodata is None else array.rio.write_nodata(nodata)


def test_numpy_inputs_give_the_geotiff_product_of_estimate_files(pair, in_memory, one_thread):
    pre, post, folder = pair
    estimate_files(pre, post, folder / "files.tif", **SETTINGS)
    bands, tags, profile = read_product(folder / "files.tif")
    ds = in_memory
    assert list(ds.data_vars) == ["ew", "ns", "confidence", "sigma"] and ds["ew"].dims == ("y", "x")
    assert all(ds[name].dtype == np.float32 for name in ds.data_vars)
    assert ds.rio.crs == profile["crs"] and ds.rio.transform() == profile["transform"] == TRANSFORM
    assert ds.attrs["method"] == "microflow" and ds.attrs["displacement_units"] == "pixel"
    assert ds["ew"].attrs["units"] == "pixel" and '"regularize": "ltv"' in ds.attrs["parameters"]
    assert np.isfinite(bands[3]).any() and ds["sigma"].attrs["units"] == "pixel"
    for k, name in enumerate(("ew", "ns", "confidence", "sigma")):
        np.testing.assert_array_equal(np.isnan(ds[name].values), np.isnan(bands[k]))
        assert np.nanmax(np.abs(ds[name].values - bands[k])) <= TOLERANCE
    assert np.nanmedian(ds["ew"].values) == pytest.approx(DX, abs=0.03)   # EW = dx (east)
    assert np.nanmedian(ds["ns"].values) == pytest.approx(-DY, abs=0.03)  # NS = -dy (north)


def test_dask_inputs_stay_lazy_and_compute_to_the_numpy_result(pair, in_memory, one_thread):
    pre, post, _ = pair
    lazy = estimate_dataarrays(rioxarray.open_rasterio(pre, chunks=100), rioxarray.open_rasterio(post, chunks=100),
                               block=128, **SETTINGS)
    for name in ("ew", "ns", "confidence"):
        assert isinstance(lazy[name].data, dask_array.Array)
    assert lazy["ew"].data.numblocks == (2, 2)  # blocks of 128 px, the 64 px rest joined to its neighbour
    assert '"backend": "dask"' in lazy.attrs["parameters"]
    done = lazy.compute()
    assert done.rio.crs == in_memory.rio.crs and done.rio.transform() == in_memory.rio.transform()
    for name in ("ew", "ns", "confidence", "sigma"):
        np.testing.assert_array_equal(np.isnan(done[name].values), np.isnan(in_memory[name].values))
        assert np.nanmax(np.abs(done[name].values - in_memory[name].values)) <= TOLERANCE


def test_meter_units_no_data_and_a_single_band_dim(one_thread):
    pre, post = shifted_texture(256, DX, DY)
    post[:40] = 0.0  # undeclared no-data of post, declared through rio.nodata
    common = dict(method="freqcorr", tile_window=256)
    as_pixel = estimate_dataarrays(data_array(pre), data_array(post, nodata=0.0), **common)
    banded = data_array(post, nodata=0.0).expand_dims(band=[1])
    as_meter = estimate_dataarrays(data_array(pre).expand_dims(band=[1]), banded, units="meter", **common)
    ew, ns = as_pixel["ew"].values, as_pixel["ns"].values
    assert np.isnan(ew[:40]).all() and np.isnan(as_pixel["confidence"].values[:40]).all()
    assert np.isfinite(ew[80:-20, 20:-20]).all()
    assert np.nanmedian(ew) == pytest.approx(DX, abs=0.02) and np.nanmedian(ns) == pytest.approx(-DY, abs=0.02)
    assert as_meter.attrs["displacement_units"] == "meter" and as_meter["ew"].attrs["units"] == "m"
    np.testing.assert_allclose(as_meter["ew"].values, PIXEL_SIZE * ew, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(as_meter["ns"].values, PIXEL_SIZE * ns, rtol=1e-5, equal_nan=True)
    assert np.isfinite(as_pixel["sigma"].values).any() and np.isnan(as_pixel["sigma"].values[:40]).all()
    np.testing.assert_allclose(as_meter["sigma"].values, PIXEL_SIZE * as_pixel["sigma"].values, rtol=1e-5,
                               equal_nan=True)


def test_identical_inputs_warn_and_go_on():
    pre, _ = shifted_texture(96, 0.0, 0.0)
    with pytest.warns(MicroflowWarning, match="identical"):
        ds = estimate_dataarrays(data_array(pre), data_array(pre.copy()), "freqcorr")
    assert np.nanmax(np.abs(ds["ew"].values)) < 0.01


def test_inputs_off_one_grid_or_unusable_are_refused():
    pre, post = shifted_texture(96, DX, DY)
    moved = Affine(PIXEL_SIZE, 0.0, 500_030.0, 0.0, -PIXEL_SIZE, 4_200_000.0)
    cases = [
        ((data_array(pre), data_array(post, transform=moved)), "same grid"),
        ((data_array(pre), data_array(post, crs="EPSG:32612")), "CRS"),
        ((data_array(pre), data_array(post[:90])), "shape"),
        ((data_array(pre), xr.concat([data_array(post)] * 2, "band")), "one band"),
        ((pre, data_array(post)), "DataArray"),
        ((data_array(pre[:8, :8]), data_array(post[:8, :8])), "smaller"),
    ]
    for (a, b), fragment in cases:
        with pytest.raises(InputError, match=fragment):
            estimate_dataarrays(a, b, "freqcorr")
    with pytest.raises(ParameterError, match="units"):
        estimate_dataarrays(data_array(pre), data_array(post), "freqcorr", units="furlong")
    with pytest.raises(ParameterError, match="multiple of 16"):
        estimate_dataarrays(data_array(pre), data_array(post), tile_window=100)
