"""Nonsense is refused with a one-line error before any file is written; identical inputs warn.

Images smaller than the method can use, MicroFlow windows that are too small or not multiples of 16,
outputs that are neither GeoTIFF nor netCDF (and quicklooks that are not PNG): through the CLI, the
API (both backends) and the in-memory paths.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shifted_texture, write_geotiff
from microflow.api import estimate_arrays, estimate_files
from microflow.errors import InputError, MicroflowWarning, OutputError, ParameterError
from microflow.methods import MICROFLOW_MIN_SIZE, check_tile_window, min_image_size


@pytest.fixture
def tiny_pair(tmp_path):
    pre, post = shifted_texture(8, 0.3, 0.2)
    return write_geotiff(tmp_path / "tiny_pre.tif", pre), write_geotiff(tmp_path / "tiny_post.tif", post)


def test_minimum_sizes_per_method():
    assert min_image_size("microflow")[0] == MICROFLOW_MIN_SIZE == 64
    assert min_image_size("freqcorr")[0] == 32 + 2 * 8  # window + recentring (window / 4) each side
    assert min_image_size("freqcorr", {"window": 64, "recenter": False})[0] == 66
    assert min_image_size("ncc", {"window": 16, "search": 6})[0] == 28
    assert min_image_size("farneback")[0] == min_image_size("tvl1")[0] == 16
    assert min_image_size("custom")[0] == 1
    for window in (64, 96, 768):
        check_tile_window("microflow", window)
    for window in (10, 48, 100):
        with pytest.raises(ParameterError, match="multiple of 16"):
            check_tile_window("microflow", window)
    with pytest.raises(ParameterError, match="smaller than the 48 px freqcorr needs"):
        check_tile_window("freqcorr", 40)


@pytest.mark.parametrize("method", ["microflow", "freqcorr", "ncc", "farneback", "tvl1"])
def test_cli_refuses_an_image_smaller_than_the_method_can_use(tiny_pair, tmp_path, cli, clean_failure, method):
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", *tiny_pair, "-o", out, "--method", method, "--quiet"),
                  "8x8 px is smaller than", method, output=out)


def test_api_refuses_small_images_for_netcdf_and_dask_too(tiny_pair, tmp_path):
    with pytest.raises(InputError, match="smaller than the smallest window microflow can use .64x64 px"):
        estimate_files(*tiny_pair, tmp_path / "out.nc")
    with pytest.raises(InputError, match="smaller than"):
        estimate_files(*tiny_pair, tmp_path / "dask.tif", "freqcorr", dask=True)  # before any cluster starts
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob("dask*"))
    assert not list(tmp_path.glob(".microflow-*"))
    pre, post = shifted_texture(40, 0.3, 0.2)
    with pytest.raises(InputError, match="40x40 px is smaller than the smallest window microflow can use .64x64"):
        estimate_arrays(pre, post)
    with pytest.raises(InputError, match="smaller than the correlation window freqcorr can use .48x48"):
        estimate_arrays(pre, post, "freqcorr")
    assert estimate_arrays(pre, post, "freqcorr", window=16).shape == (40, 40)


@pytest.mark.parametrize("window", ["10", "100", "32"])
def test_cli_refuses_a_microflow_window_that_is_not_a_multiple_of_16_from_64(make_pair, tmp_path, cli,
                                                                              clean_failure, window):
    pre, post = make_pair(size=128)
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", pre, post, "-o", out, "--window", window, "--quiet"),
                  "MicroFlow window must be a multiple of 16 px and at least 64 px", f"got {window}", output=out)


@pytest.mark.parametrize("name, extra, fragment", [
    ("out.png", (), "must end in .tif, .tiff, .nc"),
    ("out", (), "must end in"),
    ("out.tif", ("--plot", "quick.jpg"), "quicklook must end in .png"),
])
def test_cli_refuses_output_extensions(make_pair, tmp_path, cli, clean_failure, name, extra, fragment):
    pre, post = make_pair(size=64)
    out = tmp_path / name
    clean_failure(cli("estimate", pre, post, "-o", out, "--method", "freqcorr", "--quiet", *extra), fragment,
                  output=out)
    assert not (tmp_path / "quick.jpg").exists()
    with pytest.raises(OutputError, match="must end in"):
        estimate_files(pre, post, tmp_path / "x.jpeg", "freqcorr")


def test_identical_images_warn_on_one_line_and_still_write(make_pair, tmp_path, cli):
    pre, _ = make_pair(size=64)
    out = tmp_path / "same.tif"
    rc, _, err = cli("estimate", pre, _copy(pre, tmp_path), "-o", out, "--method", "freqcorr", "--quiet")
    assert rc == 0 and out.exists(), err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == ["microflow: warning: pre and post have identical pixels: the same image twice? "
                        "The field will be zero everywhere"]


def test_identical_arrays_warn_once():
    pre, _ = shifted_texture(64, 0.0, 0.0)
    with pytest.warns(MicroflowWarning, match="identical pixels") as record:
        field = estimate_arrays(pre, pre.copy(), "freqcorr")
    assert len(record) == 1 and np.nanmax(np.abs(field.dx)) < 0.01


def _copy(path: str, folder) -> str:
    """The same pixels under another name (the same path twice would be a different mistake)."""
    import shutil

    target = folder / "copy_of_pre.tif"
    shutil.copyfile(path, target)
    return str(target)
