"""Bad inputs through the real CLI (one-line error, exit 2, no output) and the raster-pair API."""

import os

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from conftest import TRANSFORM, shifted_texture, write_geotiff
from microflow.errors import InputError, ParameterError
from microflow.io.raster import check_usable, open_pair, read_pair


@pytest.fixture
def pair(make_pair):
    return make_pair()


def test_missing_file(pair, tmp_path, cli, clean_failure):
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", tmp_path / "nope.tif", pair[1], "-o", out, "--quiet"),
                  "pre image not found", "nope.tif", output=out)
    clean_failure(cli("estimate", pair[0], tmp_path / "nope.tif", "-o", out, "--quiet"),
                  "post image not found", output=out)


def test_text_file_named_tif(pair, tmp_path, cli, clean_failure):
    fake = tmp_path / "notes.tif"
    fake.write_text("this is not a raster\n")
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", pair[0], fake, "-o", out, "--quiet"),
                  "post image is not a readable raster", "notes.tif", output=out)


def test_folder_as_input(pair, tmp_path, cli, clean_failure):
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", tmp_path, pair[1], "-o", out, "--quiet"), "is a folder", output=out)


def test_truncated_tiff(pair, tmp_path, cli, clean_failure):
    data = open(pair[0], "rb").read()
    broken = tmp_path / "truncated.tif"
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", broken, pair[1], "-o", out, "--quiet"),
                  "truncated.tif", "corrupt or truncated", output=out)


@pytest.mark.parametrize("what, change, named, not_named", [
    ("crs", {"crs": "EPSG:32612"}, "CRS EPSG:32611 vs EPSG:32612", "pixel size"),
    ("pixel", {"transform": TRANSFORM @ Affine.scale(0.5)}, "pixel size 30x30 vs 15x15", "crs"),
    ("subpixel", {"transform": TRANSFORM @ Affine.translation(1.5, 0)}, "sub-pixel origin offset", "crs"),
])
def test_grid_mismatch_names_what_differs(what, change, named, not_named, pair, tmp_path, cli, clean_failure):
    _, post = shifted_texture(128, 0.3, 0.2)
    other = write_geotiff(tmp_path / f"post_{what}.tif", post, **change)
    out = tmp_path / "out.tif"
    result = cli("estimate", pair[0], other, "-o", out, "--quiet")
    clean_failure(result, "different grids", named, "--align resample", output=out)
    assert not_named not in result[2].lower()


def test_band_out_of_range(pair, tmp_path, cli, clean_failure):
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", pair[0], pair[1], "-o", out, "--band", "2", "--quiet"),
                  "band 2 out of range", "1 band", output=out)
    clean_failure(cli("estimate", pair[0], pair[1], "-o", out, "--band", "0", "--quiet"), "band", output=out)


def test_band_selection_reads_the_right_band(tmp_path, cli, clean_failure):
    pre, post = shifted_texture(96, 0.5, 0.0)
    flat = np.full_like(pre, 100.0)
    pre_path = write_geotiff(tmp_path / "pre3.tif", np.stack([flat, pre, flat]))
    post_path = write_geotiff(tmp_path / "post3.tif", np.stack([flat, post, flat]))
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", pre_path, post_path, "-o", out, "--quiet"), "constant", output=out)
    rc, _, err = cli("estimate", pre_path, post_path, "-o", out, "--band", "2", "--method", "freqcorr", "--quiet")
    assert rc == 0, err
    with rasterio.open(out) as ds:
        assert np.nanmedian(ds.read(1)) == pytest.approx(0.5, abs=0.02)


def test_image_smaller_than_the_window(make_pair, tmp_path, cli, clean_failure):
    pre, post = make_pair(size=16, name="tiny")
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", pre, post, "-o", out, "--method", "freqcorr", "--quiet"),
                  "smaller than the correlation window", "16x16", output=out)


@pytest.mark.parametrize("image, message", [
    (np.full((64, 64), 7.0), "pre image is constant"),
    (np.full((64, 64), 65535.0), "pre image has no valid pixel"),
])
def test_constant_or_all_nodata(image, message, tmp_path, cli, clean_failure):
    _, post = shifted_texture(64, 0.3, 0.2)
    pre_path = write_geotiff(tmp_path / "pre.tif", image, nodata=65535)
    post_path = write_geotiff(tmp_path / "post.tif", post, nodata=65535)
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", pre_path, post_path, "-o", out, "--quiet"), message, output=out)


def test_read_pair_masks_nodata_of_either_image(make_pair):
    block = (slice(10, 20), slice(30, 40))
    other = (slice(50, 52), slice(0, 64))
    pre_path, post_path = make_pair(size=64, nodata=65535, pre_nodata_block=block, post_nodata_block=other)
    pre, post, profile = read_pair(pre_path, post_path)
    assert pre.dtype == post.dtype == np.float32
    for arr in (pre, post):
        assert np.isnan(arr[block]).all() and np.isnan(arr[other]).all()
    assert np.isnan(pre).sum() == 10 * 10 + 2 * 64
    assert profile["crs"] == "EPSG:32611" and profile["transform"] == TRANSFORM


def test_open_pair_windows_and_overview(make_pair):
    pre_path, post_path = make_pair(size=64)
    expected, _ = shifted_texture(64, 0.3, 0.2)
    with open_pair(pre_path, post_path) as pair:
        assert pair.shape == (64, 64) and pair.transform == TRANSFORM
        pre, post = pair.read(Window(col_off=8, row_off=4, width=16, height=12))
        assert pre.shape == (12, 16)
        np.testing.assert_allclose(pre, np.rint(expected[4:16, 8:24]))
        small, _ = pair.read_overview(max_pixels=32 * 32)
        assert small.shape == (32, 32)
    assert pair.pre.closed and pair.post.closed
    with pytest.raises(ParameterError):
        open_pair(pre_path, post_path, band=0)


def test_check_usable_accepts_texture_with_holes():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    img[0] = np.nan
    check_usable(img, img)
    with pytest.raises(InputError, match="post image is constant"):
        check_usable(img, np.where(np.isnan(img), np.nan, 3.0))


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count open files")
def test_failed_open_pair_leaves_no_file_open(pair, tmp_path, make_pair):
    before = _open_files()
    with pytest.raises(InputError, match="post image not found"):
        open_pair(pair[0], tmp_path / "missing.tif")
    _, post = shifted_texture(128, 0.3, 0.2)
    other_crs = write_geotiff(tmp_path / "other_crs.tif", post, crs="EPSG:32612")
    with pytest.raises(InputError, match="different grids"):
        open_pair(pair[0], other_crs)
    assert _open_files() == before
