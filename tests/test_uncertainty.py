"""The sigma calibration: features, table fit and lookup, the band in products, unit conversion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from microflow.convention import sigma_from_product, sigma_to_product
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import read_product, write_product
from microflow.tiling.plan import Regularization
from microflow.tiling.row_stream import regularized_tiles
from microflow.uncertainty import (CALIBRATION_FILE, FEATURES, SIGMA_HALO, SigmaModel, SigmaRegression, coverage_of,
                                   field_gradient, fit_balanced, fit_regression, sigma_features, sigma_model)
from microflow.uncertainty.features import neighbourhood_max, regional_mean

# log sigma = -2 - 1.5 c + 0.5 log10(g + 1e-4) + 0.3 log10(g_near + 1e-4) - 1.0 c_region (no inner knots)
REGRESSION = SigmaRegression({"confidence": (0.0, 1.0), "gradient": (-4.0, 0.0), "gradient_near": (-4.0, 0.0),
                              "confidence_region": (0.0, 1.0)}, (-2.0, -1.5, 0.5, 0.3, -1.0))


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


def test_neighbourhood_max_and_regional_mean_ignore_nan_and_the_outside():
    v = np.zeros((9, 9), np.float32)
    v[4, 4] = 1.0
    v[0, 0] = np.nan
    top = neighbourhood_max(v, 2)
    assert top[2:7, 2:7].min() == 1.0 and top[1, 1] == 0.0 and np.isnan(top[0, 0])
    ones = np.ones((9, 9), np.float32)
    ones[0, 0] = np.nan
    mean = regional_mean(np.where(np.isnan(ones), np.nan, np.arange(81, dtype=np.float32).reshape(9, 9)), 1)
    assert mean[0, 1] == pytest.approx(np.mean([1, 2, 9, 10, 11]))  # the NaN corner and the outside are not counted
    assert mean[4, 4] == pytest.approx(40.0)


def test_features_on_blocks_with_the_sigma_halo_equal_the_whole_field():
    rng = np.random.default_rng(4)
    dx, dy = rng.normal(0, 0.1, (2, 90, 100)).astype(np.float32)
    dx[40:44, 50:60] = np.nan
    dy[np.isnan(dx)] = np.nan
    conf = rng.random((90, 100)).astype(np.float32)
    conf[5, 5] = np.nan  # NaN confidence reads as 0
    whole = sigma_features(dx, dy, conf)
    h = SIGMA_HALO
    rows, cols = slice(30 - h, 60 + h), slice(40 - h, 70 + h)
    block = sigma_features(dx[rows, cols], dy[rows, cols], conf[rows, cols])
    for name in FEATURES:
        np.testing.assert_allclose(block[name][h:-h, h:-h], whole[name][30:60, 40:70], rtol=1e-6, atol=1e-7,
                                   err_msg=name)
    assert whole["confidence"][5, 5] == 0.0 and np.isnan(whole["confidence_region"][40, 50])
    assert np.isnan(block["gradient"]).sum() == np.isnan(dx[rows, cols]).sum()


def test_regression_prediction_follows_its_formula_and_nan():
    feats = {"confidence": np.array([0.9, 0.2, 0.9]), "gradient": np.array([0.01, 0.01, np.nan]),
             "gradient_near": np.array([0.1, 0.1, 0.1]), "confidence_region": np.array([0.8, 0.5, 0.8])}
    sigma = REGRESSION.predict(feats)
    expected = np.exp(-2 - 1.5 * 0.9 + 0.5 * np.log10(0.0101) + 0.3 * np.log10(0.1001) - 0.8)
    assert sigma[0] == pytest.approx(expected, rel=1e-5) and sigma[1] > sigma[0] and np.isnan(sigma[2])
    beyond = dict(feats, gradient=np.array([50.0, 50.0, 50.0]))  # clipped to the outer knot (log10 g <= 0)
    assert REGRESSION.predict(beyond)[0] == pytest.approx(REGRESSION.predict(dict(feats, gradient=np.ones(3)))[0])
    assert SigmaRegression.from_dict(json.loads(json.dumps(REGRESSION.to_dict()))) == REGRESSION


def test_fit_recovers_a_known_quantile_and_balances_groups():
    rng = np.random.default_rng(2)
    n = 120_000
    feats = {"confidence": rng.random(n), "gradient": 10 ** rng.uniform(-3, -1, n),
             "gradient_near": 10 ** rng.uniform(-3, -1, n), "confidence_region": rng.random(n)}
    scale = 0.05 * np.exp(-1.2 * feats["confidence"]) * (feats["gradient"] / 1e-2) ** 0.4  # per-axis std [px]
    error = scale * np.hypot(rng.normal(size=n), rng.normal(size=n))  # Rayleigh: q68 = 1.51 scale
    model = fit_regression(feats, error, knots=4)
    truth = np.sqrt(-2 * np.log(0.32)) * scale
    ratio = model.predict(feats) / truth
    assert np.median(np.abs(np.log(ratio))) < 0.08  # within ~8 % of the true 68 % radius
    assert coverage_of(model.predict(feats), error) == pytest.approx(0.68, abs=0.003)
    worse = error * np.where(np.arange(n) < n // 10, 3.0, 1.0)  # a small group with 3x the errors
    group = np.arange(n) < n // 10
    weights = np.where(group, 0.5 / group.sum(), 0.5 / (~group).sum())
    balanced = fit_regression(feats, worse, weights, knots=4)
    assert coverage_of(balanced.predict(feats), worse, weights) == pytest.approx(0.68, abs=0.003)
    unweighted = coverage_of(fit_regression(feats, worse, knots=4).predict(feats)[group], worse[group])
    assert coverage_of(balanced.predict(feats)[group], worse[group]) > unweighted + 0.05


def test_balanced_fit_moves_each_group_toward_the_target_coverage():
    rng = np.random.default_rng(6)
    n = 40_000
    feats = {"confidence": rng.random(n), "gradient": 10 ** rng.uniform(-3, -1, n)}
    label = np.where(feats["confidence"] + rng.normal(0, 0.3, n) > 0.8, "b", "a")  # overlaps in the features
    error = 0.05 * np.hypot(rng.normal(size=n), rng.normal(size=n)) * np.where(label == "b", 3.0, 1.0)
    weights = np.where(label == "b", 0.5 / (label == "b").sum(), 0.5 / (label == "a").sum())
    plain = fit_regression(feats, error, weights, knots=4, steps=600).predict(feats)
    gap_plain = max(abs(coverage_of(plain[label == g], error[label == g]) - 0.68) for g in "ab")
    model, cover = fit_balanced(feats, error, label, rounds=4, knots=4, steps=600)
    gap = max(abs(c - 0.68) for c in cover.values())
    assert gap_plain > 0.05 and gap < 0.5 * gap_plain
    assert model.meta["levels"]["b"] > 0.68 > model.meta["levels"]["a"]
    assert cover == {g: coverage_of(model.predict(feats)[label == g], error[label == g]) for g in "ab"}


def test_regularization_blocks_carry_sigma_nan_where_the_field_is_nan():
    rng = np.random.default_rng(3)
    dx = rng.normal(0, 0.05, (100, 90)).astype(np.float32)
    dx[:, 45:] += 0.5
    dx[30:40, 10:20] = np.nan
    dy = np.zeros_like(dx)
    dy[np.isnan(dx)] = np.nan
    conf = np.full_like(dx, 0.8)
    model = SigmaModel("test", REGRESSION)
    reg = Regularization("none", block=64, sigma=model)
    field = np.stack([dx, dy, conf])
    out = np.full((4,) + dx.shape, np.nan, np.float32)
    for row, col, tile in regularized_tiles(iter([(0, field)]), 100, 90, reg, 100):
        out[:, row:row + tile.shape[1], col:col + tile.shape[2]] = tile
    np.testing.assert_allclose(out[3], model(dx, dy, conf), rtol=1e-5)  # blocks with the halo = whole field
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
    from microflow.model.weights import DEFAULT_MODEL, file_sha256, resolve_model

    data = json.loads(CALIBRATION_FILE.read_text())
    assert data["split"] == "validation"
    for key in ("microflow+ltv", "microflow", "freqcorr", "ncc", "farneback"):
        model = SigmaRegression.from_dict(data["models"][key])
        assert model.features == FEATURES and np.isfinite(model.coef).all() and model.scale > 0
    assert data["models"]["microflow+ltv"]["meta"]["model_sha256"] == file_sha256(resolve_model(DEFAULT_MODEL))
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


def test_residual_region_is_what_the_regularizer_removed():
    from microflow.uncertainty.features import REGION_RADIUS, residual_region

    dx = np.zeros((40, 40), np.float32)
    dy = np.zeros((40, 40), np.float32)
    assert np.array_equal(residual_region(dx, dy, None), np.zeros((40, 40), np.float32))
    raw_x = dx.copy()
    raw_x[:, 20:] = 0.3                       # the regularizer removed 0.3 px on the right half
    out = residual_region(dx, dy, (raw_x, dy))
    assert out[20, 39] == pytest.approx(0.3, abs=1e-6) and out[20, 0] == 0
    assert 0 < out[20, 20] < 0.3 and REGION_RADIUS < 20
    dx[5, 5] = np.nan
    assert np.isnan(residual_region(dx, dy, (raw_x, dy))[5, 5])


def test_fit_sigma_world_pairs_form_groups_of_their_own(repo_script, monkeypatch):
    """scripts/fit_sigma.py --world-per-category: world-generator pairs of each category, drawn with the
    config's switches, rounded like the split files, and grouped apart (w0/w1/w2) from the plain pairs."""
    import types

    import microflow.synth.dataset as dataset
    from microflow.synth.textures import TextureBank

    fit_sigma = repo_script("fit_sigma")
    monkeypatch.setattr(dataset, "texture_bank", lambda split, texture: TextureBank("train", "skimage"))
    config = Path(__file__).resolve().parents[1] / "configs" / "v3v.yaml"
    args = types.SimpleNamespace(world_per_category=1, world_config=str(config), size=48, seed=7)
    samples = fit_sigma.world_samples(args)
    assert [s.category for s in samples] == [0, 1, 2]
    assert [fit_sigma.sample_group(s) for s in samples] == ["w0", "w1", "w2"]
    assert all(np.array_equal(s.pre, np.rint(s.pre)) and s.pre.shape == (48, 48) for s in samples)
    assert all(np.abs(s.flow).max() > 0 for s in samples)
    assert fit_sigma.world_samples(types.SimpleNamespace(world_per_category=0)) == []
    assert set(fit_sigma.GROUPS) >= {"0", "near", "null", "w0", "wnear"}
