"""Band choice (:mod:`microflow.io.bands`): an index, the luminance of a colour rendering, or "auto", one
test per function, and the CLI through 3-band pairs."""

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from conftest import shifted_texture, write_geotiff
from microflow.errors import InputError, MicroflowWarning, ParameterError
from microflow.io.bands import (AUTO, LUMA, LUMA_WEIGHTS, band_indexes, check_band, check_not_palette, combine,
                                is_rgb, parse_band, resolve_band)
from microflow.io.raster import open_pair


@pytest.mark.parametrize("value, expected", [(1, 1), ("3", 3), (" LUMA ", LUMA), (np.int64(2), 2),
                                             ("Auto", AUTO)])
def test_parse_band_accepts_indexes_luma_and_auto(value, expected):
    assert parse_band(value) == expected


@pytest.mark.parametrize("value", [0, -1, "0", "red", 1.5, True, None])
def test_parse_band_refuses_the_rest(value):
    with pytest.raises(ParameterError, match="band must be a positive 1-based index, 'luma' or 'auto'"):
        parse_band(value)


RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
GRAY3 = (ColorInterp.gray, ColorInterp.undefined, ColorInterp.undefined)


def test_is_rgb_reads_the_first_three_bands():
    assert is_rgb(RGB) and is_rgb(RGB + (ColorInterp.alpha,))
    assert not is_rgb(GRAY3) and not is_rgb((ColorInterp.gray,)) and not is_rgb(RGB[::-1])


def test_resolve_band_auto_is_luma_only_when_both_images_are_rgb():
    assert resolve_band(AUTO, (RGB, RGB + (ColorInterp.alpha,))) == LUMA
    with pytest.warns(MicroflowWarning, match="post is an RGB rendering and the other image is not: band 1"):
        assert resolve_band(AUTO, (GRAY3, RGB)) == 1
    assert resolve_band(AUTO, ((ColorInterp.gray,),) * 2) == 1
    assert resolve_band(2, (RGB, RGB)) == 2 and resolve_band(LUMA, ((ColorInterp.gray,),) * 2) == LUMA


def test_band_indexes():
    assert band_indexes(2) == [2] and band_indexes(LUMA) == [1, 2, 3]


def test_check_band_names_what_is_missing():
    check_band(LUMA, 3, "pre", "a.tif")
    with pytest.raises(InputError, match=r"'luma' needs 3 bands .* pre image a.tif has 1 band"):
        check_band(LUMA, 1, "pre", "a.tif")
    with pytest.raises(InputError, match="band 4 out of range: post image b.tif has 3 band"):
        check_band(4, 3, "post", "b.tif")


def test_check_not_palette_refuses_index_bands_only():
    check_not_palette(1, (ColorInterp.gray,), "pre", "a.tif")
    check_not_palette(2, (ColorInterp.palette, ColorInterp.gray), "pre", "a.tif")
    with pytest.raises(InputError, match="post image b.png stores palette indices, not intensities: expand it"):
        check_not_palette(LUMA, (ColorInterp.palette, ColorInterp.green, ColorInterp.blue), "post", "b.png")


def test_cli_refuses_a_paletted_image_in_one_line(tmp_path, cli, clean_failure):
    from PIL import Image

    for path in write_jpeg_pair(tmp_path):
        Image.open(path).convert("P").save(path.with_suffix(".png"))
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", tmp_path / "pre.png", tmp_path / "post.png", "-o", out, "--method", "freqcorr",
                      "--quiet"), "pre image", "palette indices", output=out)


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


def test_auto_band_reads_rgb_renderings_as_luma_and_stacks_as_band_1(tmp_path, cli):
    pre, post = shifted_texture(96, 0.5, 0.0)
    gains = (0.9, 1.0, 1.1)
    paths = {}
    for name, colorinterp in (("rgb", RGB), ("stack", GRAY3)):
        paths[name] = [write_geotiff(tmp_path / f"{kind}_{name}.tif", np.stack([g * img for g in gains]),
                                     colorinterp=colorinterp) for kind, img in (("pre", pre), ("post", post))]
    with open_pair(*paths["rgb"]) as rgb, open_pair(*paths["stack"]) as stack:
        assert rgb.band == LUMA and stack.band == 1
    for name, band, tag in (("rgb", "luma", '"band": "luma"'), ("stack", "1", '"band": 1')):
        out = tmp_path / f"{name}.tif"
        rc, _, err = cli("estimate", *paths[name], "-o", out, "--method", "freqcorr", "--quiet")
        assert rc == 0, err
        assert f"band {band}," in err                       # the summary line says which band was read
        with rasterio.open(out) as ds:
            assert tag in ds.tags()["PARAMETERS"]
            assert np.nanmedian(ds.read(1)) == pytest.approx(0.5, abs=0.02)


def write_jpeg_pair(folder, dx: float = 0.5, dy: float = -0.25) -> list:
    """Two true-colour JPEG quick-looks (no georeferencing, RGB by their format) of a texture moved by (dx, dy)."""
    from PIL import Image

    pre, post = shifted_texture(128, dx, dy)
    paths = []
    for kind, img in (("pre", pre), ("post", post)):
        codes = np.clip(np.rint((img - img.min()) / np.ptp(pre) * 200 + 20), 0, 255).astype(np.uint8)
        paths.append(folder / f"{kind}.jpg")
        Image.fromarray(np.dstack([codes] * 3)).save(paths[-1], quality=95)
    return paths


def test_a_jpeg_rendering_pair_is_read_as_luma_in_pixels_without_rasterio_warnings(tmp_path, cli):
    """The defaults read the luminance, and the product is on pre's pixel grid, north up, with no CRS and no
    raw NotGeoreferencedWarning."""
    paths = write_jpeg_pair(tmp_path)
    out = tmp_path / "out.tif"
    rc, _, err = cli("estimate", *paths, "-o", out, "--method", "freqcorr", "--quiet")
    assert rc == 0 and "band luma," in err and "NotGeoreferenced" not in err, err
    with rasterio.open(out) as ds:
        assert ds.crs is None and '"band": "luma"' in ds.tags()["PARAMETERS"] and ds.tags()["UNITS"] == "pixel"
        ew, ns = ds.read(1), ds.read(2)
    assert np.nanmedian(ew) == pytest.approx(0.5, abs=0.05)     # EW = +column
    assert np.nanmedian(ns) == pytest.approx(0.25, abs=0.05)    # NS = -row: post moved up by 0.25 px


def test_a_jpeg_area_of_interest_keeps_north_up_and_metres_are_refused(tmp_path, cli, clean_failure):
    """An area of interest of an ungeoreferenced pair has a translated identity transform: still pixels, north up
    (it once read NS with the wrong sign); metres are refused in one line, with no file left."""
    paths = write_jpeg_pair(tmp_path)
    out = tmp_path / "aoi.tif"
    rc, _, err = cli("estimate", *paths, "-o", out, "--method", "freqcorr", "--quiet", "--bounds", "16,16,112,112")
    assert rc == 0, err
    with rasterio.open(out) as ds:
        assert ds.shape == (96, 96) and ds.transform.c == 16
        assert np.nanmedian(ds.read(1)) == pytest.approx(0.5, abs=0.05)
        assert np.nanmedian(ds.read(2)) == pytest.approx(0.25, abs=0.05)
    clean_failure(cli("estimate", *paths, "-o", tmp_path / "m.tif", "--units", "meter", "--quiet"),
                  "units 'meter' need georeferenced images", output=tmp_path / "m.tif")
