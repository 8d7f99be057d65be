"""The sigma calibration: features, table fit and lookup, the band in products, unit conversion."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from microflow.convention import sigma_from_product, sigma_to_product
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import read_product, write_product
from microflow.tiling.plan import Regularization
from microflow.tiling.row_stream import regularized_tiles
from microflow.uncertainty import (CALIBRATION_FILE, SigmaModel, SigmaTable, coverage_of, field_gradient, fit_table,
                                   sigma_model)
from microflow.uncertainty.table import monotone

TABLE = SigmaTable((0.5,), (0.01, 0.1), ((0.4, 0.6, 1.0), (0.1, 0.2, 0.5)))


def test_gradient_of_a_ramp_and_nan_handling():
    rows, cols = np.mgrid[0:20, 0:30].astype(np.float32)
    grad = field_gradient(0.1 * cols, 0.0 * rows)
    np.testing.assert_allclose(grad[1:-1, 1:-1], 0.1, rtol=1e-5)  # d(dx)/dcol = 0.1 px/px
    dx = 0.1 * cols
    dx[5, 5] = np.nan
    grad = field_gradient(dx, 0 * dx)
    assert np.isnan(grad[5, 5]) and np.isfinite(grad[4:7, 4:7]).sum() == 8
    assert grad[4, 4] < 0.1 + 1e-6  # a NaN neighbour takes the centre's value: no step is printed


def test_gradient_on_blocks_with_a_two_pixel_halo_equals_the_whole_field():
    rng = np.random.default_rng(0)
    dx, dy = rng.normal(size=(2, 40, 50)).astype(np.float32)
    dx[10:14, 20:30] = np.nan
    whole = field_gradient(dx, dy)
    block = field_gradient(dx[8:32, 18:42], dy[8:32, 18:42])[2:-2, 2:-2]  # rows 10..29, cols 20..39
    np.testing.assert_array_equal(block, whole[10:30, 20:40])


def test_lookup_is_monotone_and_nan_follows_the_field():
    conf = np.array([0.0, 0.9, 0.9, 0.9, np.nan, 0.2])
    grad = np.array([0.0, 0.0, 0.05, 1.0, 0.0, np.nan])
    sigma = TABLE.lookup(conf, grad)
    np.testing.assert_allclose(sigma[:5], [0.4, 0.1, 0.2, 0.5, 0.4])  # NaN confidence: the lowest bin
    assert np.isnan(sigma[5])
    raw = np.random.default_rng(1).random((6, 7))
    for envelope in ("upper", "mean"):
        values = monotone(raw, envelope)
        assert (np.diff(values, axis=1) >= 0).all() and (np.diff(values, axis=0) <= 0).all()
    assert (monotone(raw, "upper") >= raw).all() and not (monotone(raw, "mean") >= raw).all()
    ordered = np.add.outer(-np.arange(6.0), np.arange(7.0))  # already monotone: kept as is
    np.testing.assert_array_equal(monotone(ordered, "mean"), ordered)


def test_fit_recovers_a_known_scale_and_fills_empty_bins():
    rng = np.random.default_rng(2)
    n = 200_000
    conf = rng.random(n)
    grad = rng.random(n)
    scale = np.where(conf > 0.5, 0.05, 0.2) * (1 + 2 * (grad > 0.5))  # per-axis Gaussian std [px]
    error = scale * np.hypot(rng.normal(size=n), rng.normal(size=n))  # Rayleigh: q68 = 1.51 s
    table = fit_table(conf, grad, error, conf_bins=2, grad_bins=2, min_count=100, rescale=False)
    expected = np.sqrt(-2 * np.log(0.32)) * np.array([[0.2, 0.6], [0.05, 0.15]])
    np.testing.assert_allclose(np.asarray(table.values), expected, rtol=0.03)
    assert coverage_of(table.lookup(conf, grad), error) == pytest.approx(0.68, abs=0.01)
    wrong = np.where(conf > 0.5, 3.0, 1.0) * error  # an order that breaks monotonicity is smoothed, then
    rescaled = fit_table(conf, grad, wrong, conf_bins=2, grad_bins=2, min_count=100)  # rescaled to 68 %
    assert coverage_of(rescaled.lookup(conf, grad), wrong) == pytest.approx(0.68, abs=0.002)
    sparse = fit_table(conf[:1000], grad[:1000], error[:1000], conf_bins=4, grad_bins=4, min_count=300)
    assert np.isfinite(np.asarray(sparse.values)).all()  # thin bins took a neighbour's value
    assert SigmaTable.from_dict(json.loads(json.dumps(table.to_dict()))) == table


def test_regularization_blocks_carry_sigma_nan_where_the_field_is_nan():
    rng = np.random.default_rng(3)
    dx = rng.normal(0, 0.05, (100, 90)).astype(np.float32)
    dx[:, 45:] += 0.5
    dx[30:40, 10:20] = np.nan
    dy = np.zeros_like(dx)
    dy[np.isnan(dx)] = np.nan
    conf = np.full_like(dx, 0.8)
    model = SigmaModel("test", TABLE)
    reg = Regularization("none", block=64, sigma=model)
    field = np.stack([dx, dy, conf])
    out = np.full((4,) + dx.shape, np.nan, np.float32)
    for row, col, tile in regularized_tiles(iter([(0, field)]), 100, 90, reg, 100):
        out[:, row:row + tile.shape[1], col:col + tile.shape[2]] = tile
    np.testing.assert_array_equal(out[3], model(dx, dy, conf))  # blocks with a 2 px halo = whole field
    assert np.isnan(out[3][30:40, 10:20]).all() and np.isfinite(out[3][50:, :]).all()
    assert out[3][5, 45] > out[3][5, 10]  # sigma grows at the step


def test_meter_sigma_is_the_radius_times_the_larger_pixel_size():
    transform = Affine(10.0, 0, 0, 0, -15.0, 0)
    sigma = np.array([[0.2, np.nan]], np.float32)
    np.testing.assert_allclose(sigma_to_product(sigma, transform, "meter"), [[3.0, np.nan]])
    np.testing.assert_array_equal(sigma_to_product(sigma, transform, "pixel"), sigma)
    np.testing.assert_allclose(sigma_from_product(sigma_to_product(sigma, transform, "meter"), transform, "meter"),
                               sigma)


def test_band_4_is_sigma_and_three_band_products_still_read(tmp_path):
    transform = Affine(30.0, 0, 500_000, 0, -30.0, 4_000_000)
    profile = {"height": 8, "width": 9, "crs": "EPSG:32611", "transform": transform}
    dx = np.full((8, 9), 0.5, np.float32)
    dx[0, 0] = np.nan
    field = DisplacementField(dx, dx * 0, np.ones_like(dx), sigma=np.full_like(dx, 0.1))
    write_product(tmp_path / "m.tif", field, profile, "test", units="meter")
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert ds.count == 4 and ds.descriptions == ("EW", "NS", "confidence", "sigma")
        band4 = ds.read(4)
    assert np.isnan(band4[0, 0]) and band4[1, 1] == pytest.approx(3.0)  # 0.1 px x 30 m
    back, _, _ = read_product(tmp_path / "m.tif", as_field=True)
    assert back.sigma[1, 1] == pytest.approx(0.1) and np.isnan(back.sigma[0, 0])
    with rasterio.open(tmp_path / "old.tif", "w", driver="GTiff", height=8, width=9, count=3, dtype="float32",
                       crs="EPSG:32611", transform=transform) as ds:
        ds.write(np.stack([dx, dx, dx]))
    old, _, _ = read_product(tmp_path / "old.tif", as_field=True)
    assert old.sigma is None and old.dx.shape == (8, 9)
    bands, _, _ = read_product(tmp_path / "old.tif")
    assert bands.shape == (3, 8, 9)


def test_shipped_calibration_covers_every_method_and_the_model():
    from microflow.model.weights import file_sha256, resolve_model

    data = json.loads(CALIBRATION_FILE.read_text())
    assert data["split"] == "validation"
    for key in ("microflow+ltv", "microflow", "freqcorr", "ncc", "farneback"):
        table = SigmaTable.from_dict(data["tables"][key])
        assert (np.asarray(table.values) > 0).all()
    assert data["tables"]["microflow+ltv"]["meta"]["model_sha256"] == file_sha256(resolve_model("compact"))
    assert sigma_model("freqcorr").key == "freqcorr" and sigma_model("microflow", "ltv").key == "microflow+ltv"
    with pytest.warns(UserWarning, match="no sigma calibration"):
        assert sigma_model("tvl1") is None


def test_estimate_arrays_returns_the_calibrated_sigma_nan_where_there_is_no_data():
    from microflow.api import estimate_arrays

    rng = np.random.default_rng(5)
    from scipy import ndimage

    pre = ndimage.gaussian_filter(rng.normal(size=(96, 96)), 1.5).astype(np.float32)
    post = np.roll(pre, 1, axis=1)
    post[10:20, 10:20] = np.nan
    field = estimate_arrays(pre, post, "farneback")
    assert field.sigma is not None and field.sigma.shape == pre.shape
    np.testing.assert_array_equal(np.isnan(field.sigma), ~field.valid)
    assert np.isnan(field.sigma[10:20, 10:20]).all() and np.nanmin(field.sigma) > 0
    expected = sigma_model("farneback")(field.dx, field.dy, field.confidence)
    np.testing.assert_array_equal(field.sigma[field.valid], expected[field.valid])


def test_info_plot_and_profile_accept_a_three_band_product(tmp_path):
    from microflow.analysis.plot import plot_product
    from microflow.analysis.profile import profile_product
    from microflow.cli.info import describe

    transform = Affine(30.0, 0, 500_000, 0, -30.0, 4_000_000)
    cols = np.mgrid[0:64, 0:64][1]
    ew = np.where(cols >= 32, 0.5, -0.5).astype(np.float32)
    with rasterio.open(tmp_path / "old.tif", "w", driver="GTiff", height=64, width=64, count=3, dtype="float32",
                       crs="EPSG:32611", transform=transform) as ds:
        ds.write(np.stack([ew, 0 * ew, 0 * ew + 1]))
        ds.update_tags(UNITS="pixel")
    info = describe(str(tmp_path / "old.tif"))
    assert info["sigma"] is None and len(info["bands"]) == 3
    plot_product(tmp_path / "old.tif", tmp_path / "old.png")
    prof = profile_product(tmp_path / "old.tif", (31.5, 60.0), (31.5, 4.0), pixel_coords=True, width=5,
                           half_length=30, fit_distance=15, gap=2)
    assert prof.bin_sigma is None and np.isnan(prof.parallel_offset.sigma_propagated)
    assert abs(prof.normal_offset.offset) == pytest.approx(1.0, abs=1e-4)
