"""``microflow estimate`` / ``microflow info`` end to end: product content, signs, units, output paths."""

import json
import os

import numpy as np
import pytest
import rasterio

from conftest import CRS, PIXEL_SIZE, TRANSFORM
from microflow.products.geotiff import read_product

DX, DY = 0.3, 0.2  # internal: +0.3 column (east), +0.2 row (south) on a north-up grid


@pytest.fixture
def pair(make_pair):
    return make_pair(dx=DX, dy=DY)


def estimate(cli, pre, post, out, *extra):
    rc, _, err = cli("estimate", pre, post, "-o", out, "--method", "freqcorr", "--quiet", *extra)
    assert rc == 0, err
    return err


def test_known_shift_in_pixels_and_product_layout(pair, tmp_path, cli):
    out = tmp_path / "out.tif"
    err = estimate(cli, *pair, out, "-p", "window=32")
    assert "wrote" in err
    with rasterio.open(out) as ds:
        assert ds.count == 4 and ds.descriptions == ("EW", "NS", "confidence", "sigma")
        assert ds.dtypes == ("float32",) * 4 and ds.tags(4)["UNITS"] == "pixel"
        assert ds.crs == CRS and ds.transform == TRANSFORM and ds.shape == (128, 128)
        tags = ds.tags()
        ew, ns, conf, sigma = ds.read()
    assert tags["UNITS"] == "pixel" and tags["METHOD"] == "freqcorr"
    parameters = json.loads(tags["PARAMETERS"])
    assert parameters["band"] == 1 and parameters["window"] == 32
    assert tags["SOFTWARE_VERSION"].startswith("microflow-geo ")
    valid = np.isfinite(ew)
    assert valid.mean() > 0.4
    np.testing.assert_array_equal(valid, np.isfinite(ns))
    np.testing.assert_array_equal(valid, np.isfinite(conf))
    np.testing.assert_array_equal(valid, np.isfinite(sigma))  # calibrated sigma wherever EW/NS are finite
    assert 0.0 < np.nanmedian(sigma) < 0.5
    assert np.nanmedian(ew) == pytest.approx(+0.30, abs=0.01)  # EW = dx
    assert np.nanmedian(ns) == pytest.approx(-0.20, abs=0.01)  # NS = -dy (+north)
    assert np.nanmax(np.abs(ew - 0.3)) < 0.05 and np.nanmax(np.abs(ns + 0.2)) < 0.05
    assert np.nanmin(conf) >= 0.0 and np.nanmax(conf) <= 1.0
    field, _, _ = read_product(out, as_field=True)
    assert np.nanmedian(field.dx) == pytest.approx(DX, abs=0.01)
    assert np.nanmedian(field.dy) == pytest.approx(DY, abs=0.01)


def test_meter_units_scale_by_the_pixel_size(pair, tmp_path, cli):
    out_px, out_m = tmp_path / "px.tif", tmp_path / "m.tif"
    estimate(cli, *pair, out_px)
    estimate(cli, *pair, out_m, "--units", "meter")
    with rasterio.open(out_px) as px, rasterio.open(out_m) as m:
        assert m.tags()["UNITS"] == "meter" and m.tags(1)["UNITS"] == "meter"
        np.testing.assert_allclose(m.read(1), PIXEL_SIZE * px.read(1), rtol=1e-5, equal_nan=True)
        np.testing.assert_allclose(m.read(2), PIXEL_SIZE * px.read(2), rtol=1e-5, equal_nan=True)
        np.testing.assert_allclose(m.read(4), PIXEL_SIZE * px.read(4), rtol=1e-5, equal_nan=True)  # sigma [m]
        assert np.nanmedian(m.read(1)) == pytest.approx(9.0, abs=0.3)
        assert np.nanmedian(m.read(2)) == pytest.approx(-6.0, abs=0.3)
    field, _, _ = read_product(out_m, as_field=True)  # back to pixels through the tags
    assert np.nanmedian(field.dx) == pytest.approx(DX, abs=0.01)


def test_nodata_of_either_input_is_nan_in_the_product(make_pair, tmp_path, cli):
    pre_hole = (slice(50, 70), slice(40, 60))
    post_hole = (slice(90, 95), slice(20, 110))
    pre, post = make_pair(nodata=65535, pre_nodata_block=pre_hole, post_nodata_block=post_hole, name="holes")
    out = tmp_path / "out.tif"
    estimate(cli, pre, post, out)
    bands, _, _ = read_product(out)
    for hole in (pre_hole, post_hole):
        assert np.isnan(bands[:, hole[0], hole[1]]).all()
    # freqcorr's 32 px window: NaN within 16 px of a hole; beyond, the field is estimated
    assert np.isnan(bands[:, 34:50, 24:76]).all()
    assert np.isfinite(bands[:, 16:34, 16:112]).all()


def test_info_describes_the_product(pair, tmp_path, cli):
    out = tmp_path / "out.tif"
    estimate(cli, *pair, out)
    rc, text, _ = cli("info", out)
    assert rc == 0 and "method freqcorr, units pixel" in text and "EPSG:32611" in text
    assert [line.split()[0] for line in text.splitlines()[-5:-1]] == ["EW", "NS", "confidence", "sigma"]
    assert text.splitlines()[-1].startswith("sigma (calibrated 68 % error radius, pixel): median")
    rc, text, _ = cli("info", out, "--json")
    info = json.loads(text)
    assert rc == 0 and info["shape"] == [128, 128] and info["units"] == "pixel"
    ew = info["bands"][0]
    assert ew["name"] == "EW" and ew["median"] == pytest.approx(0.3, abs=0.01) and 0.4 < ew["valid_fraction"] < 1
    assert info["sigma"]["median"] == pytest.approx(info["bands"][3]["median"]) and info["sigma"]["p90"] > 0


def test_info_rejects_a_non_raster(tmp_path, cli, clean_failure):
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    clean_failure(cli("info", text), "cannot read product", "notes.tif")
    clean_failure(cli("info", tmp_path / "missing.tif"), "missing.tif")


def test_output_equal_to_an_input(pair, cli, clean_failure):
    before = os.path.getmtime(pair[1])
    clean_failure(cli("estimate", *pair, "-o", pair[1], "--quiet", "--overwrite"), "same as an input")
    assert os.path.getmtime(pair[1]) == before


def test_existing_output_needs_overwrite(pair, tmp_path, cli, clean_failure):
    out = tmp_path / "out.tif"
    out.write_bytes(b"keep me")
    clean_failure(cli("estimate", *pair, "-o", out, "--quiet"), "output exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    estimate(cli, *pair, out, "--overwrite")
    with rasterio.open(out) as ds:
        assert ds.count == 4


def test_output_folder_problems(pair, tmp_path, cli, clean_failure):
    missing = tmp_path / "missing" / "out.tif"
    clean_failure(cli("estimate", *pair, "-o", missing, "--quiet"), "does not exist", output=missing)
    under_file = tmp_path / "afile.txt" / "out.tif"
    (tmp_path / "afile.txt").write_text("x")
    clean_failure(cli("estimate", *pair, "-o", under_file, "--quiet"), "is a file, not a folder")
    folder = tmp_path / "adir"
    folder.mkdir()
    clean_failure(cli("estimate", *pair, "-o", folder, "--quiet", "--overwrite"), "is a folder")
    assert folder.is_dir() and not list(tmp_path.glob(".microflow-*"))


def test_unwritable_output_folder(pair, tmp_path, cli, clean_failure):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            # root ignores permission bits; a file used as a folder is unwritable for everyone
            (tmp_path / "plain").write_text("x")
            out, expected = tmp_path / "plain" / "out.tif", "not a folder"
        else:
            out, expected = locked / "out.tif", "not writable"
        clean_failure(cli("estimate", *pair, "-o", out, "--quiet"), expected, output=out)
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("param, message", [
    ("window=0", "window must be a positive integer"),
    ("step=-1", "step must be a positive integer"),
    ("window=abc", "window"),
    ("nonsense", "KEY=VALUE"),
    ("wndow=32", "unknown parameter(s) wndow for method freqcorr"),
])
def test_nonsensical_parameters(param, message, pair, tmp_path, cli, clean_failure):
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", *pair, "-o", out, "--method", "freqcorr", "--quiet", "-p", param), message,
                  output=out)


def test_correct_removes_a_misregistration_and_tags_it(pair, tmp_path, cli):
    """``--correct constant``: a uniform 0.3/0.2 px shift is all misregistration and is removed."""
    out = tmp_path / "corrected.tif"
    err = estimate(cli, *pair, out, "-p", "window=32", "--correct", "constant")
    assert "removed a constant correction" in err
    with rasterio.open(out) as ds:
        ew, ns, _, sigma = ds.read()
        info = json.loads(ds.tags()["CORRECTION"])
    assert info["model"] == "constant" and info["stable_share"] > 0.3
    assert abs(np.nanmedian(ew)) < 0.01 and abs(np.nanmedian(ns)) < 0.01
    assert np.isfinite(sigma[np.isfinite(ew)]).all()
    assert not list(tmp_path.glob(".microflow-*"))   # the uncorrected scratch product is gone


def test_correct_refusals_leave_no_file(pair, tmp_path, cli, clean_failure):
    clean_failure(cli("estimate", *pair, "-o", tmp_path / "a.tif", "--method", "freqcorr", "--quiet",
                      "--correct", "banana"), "unknown correction model", output=tmp_path / "a.tif")
    clean_failure(cli("estimate", *pair, "-o", tmp_path / "a.nc", "--method", "freqcorr", "--quiet",
                      "--correct", "plane"), "GeoTIFF", output=tmp_path / "a.nc")


def test_min_confidence_masks_every_band_and_is_recorded(pair, tmp_path, cli):
    full, masked = tmp_path / "full.tif", tmp_path / "masked.tif"
    estimate(cli, *pair, full, "-p", "window=32")
    with rasterio.open(full) as ds:
        conf = ds.read(3)
    threshold = float(np.nanpercentile(conf, 50))
    estimate(cli, *pair, masked, "-p", "window=32", "--min-confidence", f"{threshold:.6f}")
    with rasterio.open(masked) as ds:
        bands = ds.read()
        parameters = json.loads(ds.tags()["PARAMETERS"])
    low = ~(conf >= np.float32(f"{threshold:.6f}"))
    assert np.isnan(bands[:, low]).all()
    assert np.isfinite(bands[:, ~low]).all() and 0.3 < (~low).mean() < 0.7
    assert parameters["min_confidence"] == pytest.approx(threshold, abs=1e-6)


def test_min_confidence_out_of_range_is_refused(pair, tmp_path, cli, clean_failure):
    clean_failure(cli("estimate", *pair, "-o", tmp_path / "a.tif", "--method", "freqcorr", "--quiet",
                      "--min-confidence", "1.5"), "min_confidence", output=tmp_path / "a.tif")


def test_negative_bounds_read_without_the_equals_form():
    from microflow.cli.main import build_parser, join_negative_lists

    argv = ["estimate", "a.tif", "b.tif", "-o", "c.tif", "--bounds", "-54.4,-10.2,-54.1,-9.9", "--band", "2"]
    joined = join_negative_lists(argv)
    assert joined[-3:] == ["--bounds=-54.4,-10.2,-54.1,-9.9", "--band", "2"]
    args = build_parser().parse_args(joined)
    assert args.bounds == "-54.4,-10.2,-54.1,-9.9" and args.band == 2
    assert join_negative_lists(["--bounds", "1,2,3,4"]) == ["--bounds", "1,2,3,4"]
    assert join_negative_lists(["-o", "-5,6"]) == ["-o", "-5,6"]  # short options are left to argparse
    with pytest.raises(SystemExit):  # without the join argparse takes the list for an option
        build_parser().parse_args(argv)


def test_ensemble_flag_reaches_microflow_and_is_refused_by_a_correlator(pair, tmp_path, cli, clean_failure):
    out = tmp_path / "ensemble.tif"
    rc, _, err = cli("estimate", *pair, "-o", out, "--ensemble", "2", "--quiet", "--threads", "1")
    assert rc == 0, err
    field, _, _ = read_product(str(out), as_field=True)
    with rasterio.open(out) as ds:
        assert json.loads(ds.tags()["PARAMETERS"])["ensemble"] == 2
    inner = (slice(16, -16), slice(16, -16))
    assert abs(np.median(field.dx[inner]) - DX) < 0.05 and abs(np.median(field.dy[inner]) - DY) < 0.05
    refused = tmp_path / "refused.tif"
    clean_failure(cli("estimate", *pair, "-o", refused, "--method", "freqcorr", "--ensemble", "2", "--quiet"),
                  "unknown parameter", "ensemble", output=refused)
