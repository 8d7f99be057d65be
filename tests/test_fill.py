"""Undeclared zero fill (:mod:`microflow.io.fill`): the nodata option, the zero share, the auto rule, and
``open_pair(nodata="auto")`` on exact and resampled pairs."""

import numpy as np
import pytest
import rasterio

from affine import Affine

from conftest import TRANSFORM, shifted_texture, write_geotiff
from microflow.errors import MicroflowWarning, ParameterError
from microflow.io.fill import AUTO, ZERO_FILL_SHARE, parse_nodata, resolve_nodata, zero_share
from microflow.io.raster import open_pair


@pytest.mark.parametrize("value, expected", [(None, None), ("None", None), (" auto ", AUTO), ("0", 0.0),
                                             (-9999, -9999.0)])
def test_parse_nodata(value, expected):
    assert parse_nodata(value) == expected


def test_parse_nodata_keeps_nan_and_refuses_the_rest():
    assert np.isnan(parse_nodata("nan"))
    for value in ("zero", "inf", True):
        with pytest.raises(ParameterError, match="nodata must be"):
            parse_nodata(value)


def test_zero_share_counts_finite_pixels_only():
    image = np.array([[0.0, 0.0, 5.0, np.nan]])
    assert zero_share(image) == pytest.approx(2 / 3) and zero_share(np.full((2, 2), np.nan)) == 0.0


def test_auto_is_zero_only_for_undeclared_fill_above_the_share():
    clean, filled = np.ones((10, 10)), np.ones((10, 10))
    filled[:, :1] = 0.0                                                   # 10 % fill
    assert resolve_nodata(AUTO, {"pre": clean, "post": clean}, False) is None
    with pytest.warns(MicroflowWarning, match=r"\(post 10%\): 0 is taken as no data \(--nodata none keeps"):
        assert resolve_nodata(AUTO, {"pre": clean, "post": filled}, False) == 0.0
    assert resolve_nodata(AUTO, {"pre": clean, "post": filled}, True) is None     # a declared value: auto keeps out
    assert resolve_nodata(AUTO, {"pre": clean, "post": filled}, False, share=0.2) is None
    assert resolve_nodata(None, {"post": filled}, False) is None and resolve_nodata(5.0, {}, False) == 5.0
    assert 0 < ZERO_FILL_SHARE < 0.1


@pytest.mark.parametrize("align", ["exact", "resample"])
def test_open_pair_auto_masks_zero_fill_of_either_image(tmp_path, align):
    image = shifted_texture(100, 0.0, 0.0)[0] + 10.0                      # no natural zeros
    filled = image.copy()
    filled[:, :25] = 0.0
    pre = write_geotiff(tmp_path / "pre.tif", image)
    post = write_geotiff(tmp_path / "post.tif", filled, transform=TRANSFORM @ Affine.translation(0.5, 0.0)
                         if align == "resample" else TRANSFORM)
    with pytest.warns(MicroflowWarning, match="post 2[4-6]%"), open_pair(pre, post, nodata=AUTO, align=align) as pair:
        assert pair.nodata == 0.0
        a, b = pair.read()
    assert np.isnan(b[:, :20]).all() and np.isfinite(b[:, 30:-2]).all() and np.isnan(a[:, :20]).all()
    with open_pair(pre, pre, nodata=AUTO) as pair:
        assert pair.nodata is None
    with rasterio.open(write_geotiff(tmp_path / "declared.tif", filled, nodata=65535)) as ds:
        assert ds.nodata == 65535
    with open_pair(pre, tmp_path / "declared.tif", nodata=AUTO) as pair:
        assert pair.nodata is None
