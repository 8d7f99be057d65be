"""Photometric residual: the true field explains post better than no field or a wrong one."""

import json
import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from microflow.analysis.photometric import format_residual, photometric_residual, residual_for_product, warp_to_pre
from microflow.errors import InputError
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import write_product
from microflow.synth.shift import fourier_shift

SHIFT = (0.6, -0.3)  # (dx, dy) pre pixels: content moves right and up


@pytest.fixture(scope="module")
def pair():
    pre = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(80, 80)), 1.5)
    return pre, fourier_shift(pre, *SHIFT)


def _constant(shape, dx, dy):
    return np.full(shape, dx), np.full(shape, dy)


def test_warp_pulls_post_back_onto_pre(pair):
    pre, post = pair
    warped, inside = warp_to_pre(post, *_constant(pre.shape, *SHIFT))
    interior = inside.copy()
    interior[:8, :] = interior[-8:, :] = interior[:, :8] = interior[:, -8:] = False  # FFT wrap-around at edges
    rms = np.sqrt(np.mean((warped - pre)[interior] ** 2))
    assert rms < 0.02 * pre.std()  # cubic-spline interpolation error; unwarped post is at 0.32 std
    assert not inside[:, -1].any() and not inside[0, :].any()  # samples beyond the right and top edges


def test_true_field_beats_partial_zero_and_wrong_fields(pair):
    pre, post = pair
    shape = pre.shape
    true = photometric_residual(pre, post, *_constant(shape, *SHIFT))
    half = photometric_residual(pre, post, *_constant(shape, SHIFT[0] / 2, SHIFT[1] / 2))
    wrong = photometric_residual(pre, post, *_constant(shape, -SHIFT[0], -SHIFT[1]))
    for key in ("ncc_residual", "abs_residual"):
        assert true[f"{key}_field"] < half[f"{key}_field"] < true[f"{key}_zero"] < wrong[f"{key}_field"]
    assert true["ncc_improvement"] > 0.9 and wrong["ncc_improvement"] < 0
    assert true["pixels"] == half["pixels"] > 0.9 * pre.size
    assert "improvement" in format_residual(true)


def test_residual_is_insensitive_to_radiometric_change(pair):
    pre, post = pair
    field = _constant(pre.shape, *SHIFT)
    base = photometric_residual(pre, post, *field)
    changed = photometric_residual(pre, 3.0 * post + 50.0, *field)
    assert changed["ncc_residual_field"] == pytest.approx(base["ncc_residual_field"], rel=1e-6, abs=1e-9)
    assert changed["abs_residual_zero"] == pytest.approx(base["abs_residual_zero"], rel=1e-6)


def test_nan_field_pixels_are_left_out(pair):
    pre, post = pair
    dx, dy = _constant(pre.shape, *SHIFT)
    dx[:40] = np.nan
    result = photometric_residual(pre, post, dx, dy)
    assert result["valid_fraction"] < 0.5 and result["ncc_improvement"] > 0.9


def test_residual_for_product_files(tmp_path, pair):
    pre, post = pair
    grid = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 800.0)
    profile = {"driver": "GTiff", "height": 80, "width": 80, "count": 1, "dtype": "float32",
               "crs": "EPSG:32611", "transform": grid}
    for name, image in (("pre.tif", pre), ("post.tif", post)):
        with rasterio.open(tmp_path / name, "w", **profile) as ds:
            ds.write(image.astype(np.float32), 1)
    field = DisplacementField(*_constant(pre.shape, *SHIFT), np.ones(pre.shape))
    write_product(tmp_path / "d.tif", field, profile, "truth", "meter")
    result = residual_for_product(tmp_path / "d.tif", tmp_path / "pre.tif", tmp_path / "post.tif")
    assert result["ncc_improvement"] > 0.9
    with pytest.raises(InputError, match="grid"):
        small = DisplacementField(*_constant((40, 40), 0, 0), np.ones((40, 40)))
        write_product(tmp_path / "small.tif", small, {**profile, "height": 40, "width": 40}, "truth")
        residual_for_product(tmp_path / "small.tif", tmp_path / "pre.tif", tmp_path / "post.tif")


def test_info_reports_the_photometric_residual_of_a_product(make_pair, cli, tmp_path):
    pre, post = make_pair(dx=0.6, dy=-0.4, size=96)
    out = tmp_path / "field.tif"
    assert cli("estimate", pre, post, "-o", out, "--method", "farneback", "--quiet")[0] == 0
    rc, text, _ = cli("info", out, "--pre", pre, "--post", post, "--json")
    residual = json.loads(text)["photometric_residual"]
    assert rc == 0 and residual["ncc_residual_field"] < residual["ncc_residual_zero"]
    assert cli("info", out, "--pre", pre)[0] == 2  # --pre needs --post
