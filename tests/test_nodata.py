"""Undeclared no-data (``--nodata``) and the no-data mask grown by half a correlation window.

Images are a real Landsat-8 window and its warp by a known constant shift (:mod:`landsat_pairs`);
the correlator is ``freqcorr`` with a 32 px window (the mask grows by 16 px).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from landsat_pairs import landsat_shift, write_tif
from microflow.errors import ParameterError
from microflow.io.raster import open_pair
from microflow.products.geotiff import read_product
from microflow.tiling import scene
from microflow.tiling.blending import mask_invalid, nodata_growth
from microflow.tiling.predictors import PredictorSpec
from microflow.tiling.scene import estimate_scene

DX, DY = 0.4, -0.3
CORRELATOR = {"window": 32, "step": 4}
GROW = 16
TOLERANCE = 1e-4  # px


def chessboard_distance(invalid: np.ndarray) -> np.ndarray:
    """Chebyshev distance [px] of every pixel to the nearest ``invalid`` one (0 on them)."""
    return ndimage.distance_transform_cdt(~invalid, metric="chessboard")


def test_growth_is_half_the_correlation_window_and_zero_for_microflow():
    assert nodata_growth(PredictorSpec("freqcorr", {"window": 32})) == 16
    assert nodata_growth(PredictorSpec("ncc", {"window": 25})) == 12
    assert nodata_growth(PredictorSpec("ncc", {})) == 16  # the method's default window, 32
    assert nodata_growth(PredictorSpec("microflow", {})) == 0
    assert nodata_growth(PredictorSpec("farneback", {})) == 0


def test_mask_of_a_region_with_context_equals_the_whole_image_mask():
    rng = np.random.default_rng(0)
    images = rng.random((2, 60, 70)).astype(np.float32)
    images[0, 20, 30] = np.nan
    images[1, 45:47, 5:9] = np.nan
    field = np.ones((3, 60, 70), np.float32)
    whole = mask_invalid(field.copy(), images, 5)
    expected = ndimage.binary_dilation(np.isnan(images).any(axis=0), np.ones((11, 11), bool))
    np.testing.assert_array_equal(np.isnan(whole[0]), expected)
    part = mask_invalid(field[:, 10:30, 20:50].copy(), images[:, 4:40, 15:70], 5, offset=(6, 5))
    np.testing.assert_array_equal(part, whole[:, 10:30, 20:50])
    np.testing.assert_array_equal(np.isnan(mask_invalid(field.copy(), images)[0]), np.isnan(images).any(axis=0))


def test_mask_invalid_writes_into_the_field_it_is_given():
    images = np.ones((2, 8, 9), np.float32)
    images[1, 3, 4] = np.nan
    field = np.zeros((3, 8, 9), np.float32)
    assert mask_invalid(field, images, 1) is field
    assert np.isnan(field[:, 2:5, 3:6]).all() and np.count_nonzero(np.isnan(field[0])) == 9


def test_open_pair_masks_an_undeclared_value_in_both_images(tmp_path):
    pre, post, transform, crs = landsat_shift(96, DX, DY)
    pre[:, :10] = 0
    post[80:, :] = 0
    pre_path = write_tif(tmp_path / "pre.tif", pre, transform, crs, dtype="uint16")
    post_path = write_tif(tmp_path / "post.tif", post, transform, crs, dtype="uint16")
    with open_pair(pre_path, post_path) as pair:
        assert not np.isnan(pair.read()[0]).any()
    with open_pair(pre_path, post_path, nodata=0) as pair:
        a, b = pair.read()
        small, _ = pair.read_overview(max_pixels=48 * 48)
    for img in (a, b):
        assert np.isnan(img[:, :10]).all() and np.isnan(img[80:]).all()
        assert np.isfinite(img[:80, 10:]).all()
    assert np.isnan(small[:, :5]).all() and np.isfinite(small[:40, 5:]).all()
    with pytest.raises(ParameterError, match="nodata"):
        open_pair(pre_path, post_path, nodata="zero")


def test_cli_nodata_zero_turns_a_zero_border_into_nan_and_auto_finds_it(tmp_path, cli):
    pre, post, transform, crs = landsat_shift(192, DX, DY)
    post[:, :40] = 0  # an L1C-like footprint edge, not declared as nodata
    pre_path = write_tif(tmp_path / "pre.tif", pre, transform, crs, dtype="uint16")
    post_path = write_tif(tmp_path / "post.tif", post, transform, crs, dtype="uint16")
    outputs = {}
    for name, extra in (("none", ("--nodata", "none")), ("zero", ("--nodata", "0")), ("auto", ())):
        outputs[name] = tmp_path / f"{name}.tif"
        rc, _, err = cli("estimate", pre_path, post_path, "-o", outputs[name], "--method", "freqcorr", "--quiet",
                         "-p", "window=32", "-p", "step=8", *extra)
        assert rc == 0, err
        note = "warning: pixels exactly 0 with no declared no-data value (post 21%): 0 is taken as no data"
        assert (note in err) == (name == "auto"), err    # one line, only when auto decides
    plain, plain_tags, _ = read_product(outputs["none"])
    assert np.isfinite(plain[0, GROW:-GROW, 40:40 + GROW]).all()  # none: the fill is measured as ground
    assert "nodata" not in json.loads(plain_tags["PARAMETERS"])
    for name in ("zero", "auto"):
        bands, tags, _ = read_product(outputs[name])
        assert np.isnan(bands[:, :, :40 + GROW]).all()
        assert np.isfinite(bands[:, GROW:-GROW, 40 + GROW:-GROW]).all()
        assert json.loads(tags["PARAMETERS"])["nodata"] == 0
        field, _, _ = read_product(outputs[name], as_field=True)
        assert np.nanmax(np.abs(field.dx - DX)) < 0.02 and np.nanmax(np.abs(field.dy - DY)) < 0.02


@pytest.fixture(scope="module")
def hole_pair(tmp_path_factory):
    """A 256² float32 pair with a NaN (declared nodata) block in pre."""
    folder = tmp_path_factory.mktemp("hole")
    pre, post, transform, crs = landsat_shift(256, DX, DY)
    invalid = np.zeros(pre.shape, bool)
    invalid[100:150, 110:170] = True
    pre[invalid] = np.nan
    return (write_tif(folder / "pre.tif", pre, transform, crs, nodata=np.nan),
            write_tif(folder / "post.tif", post, transform, crs, nodata=np.nan), invalid)


def test_correlator_is_nan_within_half_a_window_of_nodata_and_unbiased_beyond(hole_pair, tmp_path,
                                                                               monkeypatch):
    pre_path, post_path, invalid = hole_pair
    distance = chessboard_distance(invalid)
    near = (distance > GROW) & (distance <= GROW + 16)
    estimate_scene(pre_path, post_path, tmp_path / "grown.tif", "freqcorr", progress=False, method_params=CORRELATOR)
    field, _, _ = read_product(tmp_path / "grown.tif", as_field=True)
    assert np.isnan(field.dx[distance <= GROW]).all() and np.isfinite(field.dx[near]).all()
    error = np.hypot(field.dx - DX, field.dy - DY)
    assert error[near].max() < 0.01
    # the same run without the growth: estimates next to the hole are biased (what the growth removes)
    monkeypatch.setattr(scene, "nodata_growth", lambda spec: 0)
    estimate_scene(pre_path, post_path, tmp_path / "plain.tif", "freqcorr", progress=False, method_params=CORRELATOR)
    plain, _, _ = read_product(tmp_path / "plain.tif", as_field=True)
    biased = np.hypot(plain.dx - DX, plain.dy - DY)[(distance > 0) & (distance <= 4)]
    assert np.nanmean(biased) > 0.1


def test_band_wise_growth_equals_a_whole_image_dilation_and_dask(tmp_path):
    """96 px tiles: bands of 64 rows; no-data next to band borders, at a scene edge and alone."""
    pytest.importorskip("distributed")
    from distributed import Client

    from microflow.tiling.dask_backend import estimate_scene_dask

    pre, post, transform, crs = landsat_shift(192, DX, DY)
    invalid = np.zeros(pre.shape, bool)
    invalid[50:60, 20:90] = True      # above the first band border (row 64): it masks rows 64-76
    invalid[127, 150] = True          # one pixel, just above the second band border
    invalid[180:, 100:110] = True     # on the bottom edge
    paths = [write_tif(tmp_path / f"{name}.tif", img, transform, crs, dtype="uint16")
             for name, img in (("pre", np.where(invalid, 0, pre)), ("post", post))]
    clean = [write_tif(tmp_path / f"clean_{name}.tif", img, transform, crs, dtype="uint16")
             for name, img in (("pre", pre), ("post", post))]
    settings = dict(window=96, progress=False, method_params={**CORRELATOR, "step": 8})
    estimate_scene(*clean, tmp_path / "clean.tif", "freqcorr", **settings)
    estimate_scene(*paths, tmp_path / "one.tif", "freqcorr", nodata=0, **settings)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        estimate_scene_dask(*paths, tmp_path / "dask.tif", "freqcorr", client=client, block=128, nodata=0,
                            **settings)
    reference, _, _ = read_product(tmp_path / "clean.tif", as_field=True)
    one, _, _ = read_product(tmp_path / "one.tif", as_field=True)
    dask, _, _ = read_product(tmp_path / "dask.tif", as_field=True)
    grown = ndimage.binary_dilation(invalid, np.ones((2 * GROW + 1,) * 2, bool))
    np.testing.assert_array_equal(np.isnan(one.dx), grown | np.isnan(reference.dx))
    np.testing.assert_array_equal(np.isnan(dask.dx), np.isnan(one.dx))
    assert np.nanmax(np.abs(dask.dx - one.dx)) <= TOLERANCE and np.nanmax(np.abs(dask.dy - one.dy)) <= TOLERANCE
