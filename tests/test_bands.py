"""Band choice (:mod:`microflow.io.bands`): an index or the luminance of a colour rendering, one test per
function, and the CLI through a 3-band pair."""

import numpy as np
import pytest
import rasterio

from conftest import shifted_texture, write_geotiff
from microflow.errors import InputError, ParameterError
from microflow.io.bands import LUMA, LUMA_WEIGHTS, band_indexes, check_band, combine, parse_band
from microflow.io.raster import open_pair


@pytest.mark.parametrize("value, expected", [(1, 1), ("3", 3), (" LUMA ", LUMA), (np.int64(2), 2)])
def test_parse_band_accepts_indexes_and_luma(value, expected):
    assert parse_band(value) == expected


@pytest.mark.parametrize("value", [0, -1, "0", "red", 1.5, True, None])
def test_parse_band_refuses_the_rest(value):
    with pytest.raises(ParameterError, match="band must be a positive 1-based index or 'luma'"):
        parse_band(value)


def test_band_indexes():
    assert band_indexes(2) == [2] and band_indexes(LUMA) == [1, 2, 3]


def test_check_band_names_what_is_missing():
    check_band(LUMA, 3, "pre", "a.tif")
    with pytest.raises(InputError, match=r"'luma' needs 3 bands .* pre image a.tif has 1 band"):
        check_band(LUMA, 1, "pre", "a.tif")
    with pytest.raises(InputError, match="band 4 out of range: post image b.tif has 3 band"):
        check_band(4, 3, "post", "b.tif")


def test_combine_weights_are_bt601_and_nan_spreads():
    stack = np.zeros((3, 2, 2), np.float32)
    stack[0], stack[1], stack[2] = 100.0, 50.0, 10.0
    stack[2, 1, 1] = np.nan
    y = combine(stack, LUMA)
    assert y[0, 0] == pytest.approx(0.299 * 100 + 0.587 * 50 + 0.114 * 10)
    assert np.isnan(y[1, 1]) and sum(LUMA_WEIGHTS) == pytest.approx(1.0)
    assert np.array_equal(combine(stack[1:2], 2), stack[1])


def test_open_pair_reads_the_luminance_with_nodata_of_any_band(tmp_path):
    rgb = np.stack([np.full((8, 8), v, np.float32) for v in (200.0, 100.0, 50.0)])
    rgb[1, 2, 3] = 0.0                                     # no data in the green band only
    path = write_geotiff(tmp_path / "rgb.tif", rgb)
    with open_pair(path, path, "luma", nodata=0) as pair:
        pre, post = pair.read()
        assert pair.band == LUMA
    assert pre[0, 0] == pytest.approx(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert np.isnan(pre[2, 3]) and np.isnan(post[2, 3]) and np.isfinite(pre).sum() == 63
    with pytest.raises(InputError, match="'luma' needs 3 bands"):
        open_pair(write_geotiff(tmp_path / "one.tif", rgb[0]), path, "luma")


def test_cli_band_luma_measures_a_colour_pair(tmp_path, cli, clean_failure):
    pre, post = shifted_texture(96, 0.5, 0.0)
    gains = (0.9, 1.0, 1.1)                                # three bands, the same texture, other gains
    pre_path = write_geotiff(tmp_path / "pre_rgb.tif", np.stack([g * pre for g in gains]))
    post_path = write_geotiff(tmp_path / "post_rgb.tif", np.stack([g * post for g in gains]))
    out = tmp_path / "out.tif"
    rc, _, err = cli("estimate", pre_path, post_path, "-o", out, "--band", "luma", "--method", "freqcorr", "--quiet")
    assert rc == 0, err
    with rasterio.open(out) as ds:
        assert np.nanmedian(ds.read(1)) == pytest.approx(0.5, abs=0.02)
        assert '"band": "luma"' in ds.tags()["PARAMETERS"]
    clean_failure(cli("estimate", pre_path, post_path, "-o", out, "--band", "rgb", "--quiet", "--overwrite"),
                  "band must be", "'luma'", "rgb", output=None)
