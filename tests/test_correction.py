"""Stable-ground correction (microflow.correction, ``microflow correct``): one test per function, on
synthetic fields with a known offset, plane, along-track stripes and detector steps."""

from __future__ import annotations

import json

import fiona
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS as RioCRS
from rasterio.warp import transform_geom

from microflow.correction import CorrectionOptions, correct_field, correct_product
from microflow.correction.fit import Track, correlation_inflation, fit_model, robust_scale, tukey_weights
from microflow.correction.models import (parse_model, poly_design, poly_names, project_out_poly, step_labels,
                                         track_coordinates)
from microflow.correction.product import R68
from microflow.correction.stable import automatic_mask, gradient_outliers, read_vector, vector_mask
from microflow.correction.track import find_steps, line_azimuth
from microflow.errors import InputError, ParameterError
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import read_product, write_product

H, W = 160, 200
CRS = "EPSG:32633"
TRANSFORM = Affine(30.0, 0.0, 400_000.0, 0.0, -30.0, 5_000_000.0)
AZIMUTH = 193.0
BOUNDARIES = (-150.0, -90.0)
JUMPS = (0.12, -0.06)
LOCAL_CS = ('LOCAL_CS["site grid",LOCAL_DATUM["x",0],UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]')


def artefacts(shape=(H, W), azimuth=AZIMUTH, transform=TRANSFORM):
    """(2, H, W) offset + plane + stripes along the track + detector steps [px], internal frame."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    t, u = track_coordinates(rows, cols, azimuth, transform)
    stripes = 0.05 * np.sin(2 * np.pi * t / 23.0) + 0.03 * np.sin(2 * np.pi * t / 61.0 + 1.0)
    steps = sum(j * (u >= b) for b, j in zip(BOUNDARIES, JUMPS))
    ax = 0.6 + 0.3 * cols / shape[1] - 0.2 * rows / shape[0] + stripes + steps
    ay = -0.4 + 0.1 * cols / shape[1] + 0.4 * rows / shape[0] + 0.5 * stripes - steps
    return np.stack([ax, ay])


def bump(shape=(H, W)):
    """A local 'real' motion: 1.5 px east inside a disc of radius 25 px centred at (80, 100)."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    inside = np.hypot(rows - 80, cols - 100) < 25
    return np.stack([1.5 * inside, 0.0 * inside]), inside


def noisy(field, sigma=0.02, seed=0):
    return field + sigma * np.random.default_rng(seed).standard_normal(field.shape)


def as_field(d, sigma=None):
    return DisplacementField(d[0], d[1], np.ones(d.shape[1:], np.float32), sigma=sigma)


def pixel_polygon(r0, r1, c0, c1, transform=TRANSFORM):
    """GeoJSON polygon of a pixel rectangle [r0, r1) x [c0, c1) in map coordinates."""
    corners = [transform @ (c, r) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0))]
    return {"type": "Polygon", "coordinates": [corners]}


def write_vector(path, geom, crs=CRS, driver="GPKG"):
    schema = {"geometry": "Polygon", "properties": {"id": "int"}}
    with fiona.open(path, "w", driver=driver, crs=crs, schema=schema) as layer:
        layer.write({"geometry": geom, "properties": {"id": 1}})
    return str(path)


@pytest.fixture
def product(tmp_path):
    """Product (pixel units) = bump + artefacts + noise, sigma 0.05 px; and the clean bump field."""
    motion, inside = bump()
    d = noisy(motion + artefacts())
    path = tmp_path / "before.tif"
    sigma = np.full((H, W), 0.05, np.float32)
    write_product(path, as_field(d, sigma), {"height": H, "width": W, "crs": RioCRS.from_string(CRS),
                                             "transform": TRANSFORM}, "test")
    return str(path), motion, inside


# --- models ---------------------------------------------------------------------------------------------

def test_parse_model_orders_terms_and_refuses_unknown_or_repeated():
    spec = parse_model("stripes+PLANE")
    assert (spec.name, spec.degree, spec.stripes, spec.steps, spec.n_poly) == ("plane+stripes", 1, True, False, 3)
    assert parse_model("quadratic").n_poly == 6 and parse_model("steps").degree == -1
    for bad in ("plane+constant", "wobble", "plane+plane", ""):
        with pytest.raises(ParameterError):
            parse_model(bad)


def test_poly_design_columns_match_names():
    x, y = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    design = poly_design(x, y, 2)
    assert poly_names(2) == ["1", "x", "y", "x^2", "x*y", "y^2"]
    np.testing.assert_allclose(design[0], [1, 0.5, 2.0, 0.25, 1.0, 4.0])
    assert poly_design(x, y, -1).shape == (2, 0)


def test_track_coordinates_of_a_north_up_image():
    rows, cols = np.array([0.0, 3.0, 5.0]), np.array([0.0, 4.0, 1.0])
    t, u = track_coordinates(rows, cols, 0.0, TRANSFORM)
    np.testing.assert_allclose(t, -rows)
    np.testing.assert_allclose(u, cols)
    t, u = track_coordinates(rows, cols, 90.0, None)
    np.testing.assert_allclose(t, cols, atol=1e-12)
    np.testing.assert_allclose(u, rows, atol=1e-12)


def test_project_out_poly_removes_the_shared_trend_only():
    centres = np.arange(50.0)
    wiggle = np.sin(centres)
    profile = np.stack([2 + 0.1 * centres + wiggle, -1 + 0 * centres])
    out = project_out_poly(profile, np.ones(50), centres, 1)
    assert abs(out[0].mean()) < 1e-9 and np.abs(out[1]).max() < 1e-9
    assert np.corrcoef(out[0], wiggle)[0, 1] > 0.99
    np.testing.assert_array_equal(project_out_poly(profile, np.ones(50), centres, -1), profile)


def test_step_labels_count_the_boundaries_passed():
    np.testing.assert_array_equal(step_labels([-200, -150, -100, 0], BOUNDARIES), [0, 1, 1, 2])


# --- fit ------------------------------------------------------------------------------------------------

def _stable_pixels(mask):
    rows, cols = np.nonzero(mask)
    return rows, cols


def test_robust_constant_ignores_outliers():
    d = noisy(np.stack([np.full((H, W), 0.7), np.full((H, W), -0.3)]))
    d[:, :40, :40] += 5.0  # moving block, 5 % of the pixels
    rows, cols = _stable_pixels(np.ones((H, W), bool))
    fit = fit_model(parse_model("constant"), d[:, rows, cols], rows, cols, (H, W))
    np.testing.assert_allclose(fit.poly[:, 0], [0.7, -0.3], atol=2e-3)
    assert np.all(fit.weights[(rows < 40) & (cols < 40)] == 0)


def test_fit_recovers_plane_stripes_and_given_steps():
    truth = artefacts()
    d = noisy(truth)
    rows, cols = _stable_pixels(np.ones((H, W), bool))
    t, _ = track_coordinates(rows, cols, AZIMUTH, TRANSFORM)
    track = Track(AZIMUTH, TRANSFORM, float(np.floor(t.min())), int(np.ceil((t.max() - np.floor(t.min())) / 0.5)) + 1,
                  np.array(BOUNDARIES))
    fit = fit_model(parse_model("plane+stripes+steps"), d[:, rows, cols], rows, cols, (H, W), track)
    model, var = fit.evaluate(rows, cols)
    err = model - truth[:, rows, cols]
    assert np.sqrt(np.mean(err ** 2)) < 0.006
    np.testing.assert_allclose(np.diff(fit.steps[0]), JUMPS, atol=0.01)
    assert np.all(var > 0)
    plane_only = fit_model(parse_model("plane"), d[:, rows, cols], rows, cols, (H, W))
    assert np.sqrt(np.mean((plane_only.evaluate(rows, cols)[0] - truth[:, rows, cols]) ** 2)) > 0.03


def test_robust_scale_and_tukey_weights():
    r = np.random.default_rng(1).standard_normal((2, 20000)) * np.array([[0.1], [0.2]])
    np.testing.assert_allclose(robust_scale(r), [0.1, 0.2], rtol=0.05)
    r[:, :10] = 10.0
    w = tukey_weights(r, np.array([0.1, 0.2]))
    assert np.all(w[:10] == 0) and np.median(w[10:]) > 0.9


def test_correlation_inflation_is_one_for_white_noise_and_large_for_smooth_noise():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(2)
    rows, cols = [a.ravel() for a in np.mgrid[0:128, 0:128]]
    white = rng.standard_normal((2, 128 * 128))
    smooth = np.stack([gaussian_filter(rng.standard_normal((128, 128)), 4).ravel() for _ in range(2)])
    one = np.ones(rows.size)
    assert correlation_inflation(rows, cols, white, one, robust_scale(white)) < 1.5
    assert correlation_inflation(rows, cols, smooth, one, robust_scale(smooth)) > 20


# --- track ----------------------------------------------------------------------------------------------

def test_find_steps_finds_detector_boundaries_and_ignores_a_smooth_ramp():
    rows, cols = _stable_pixels(np.ones((H, W), bool))
    _, u = track_coordinates(rows, cols, AZIMUTH, TRANSFORM)
    steps = sum(j * (u >= b) for b, j in zip(BOUNDARIES, JUMPS))
    resid = noisy(np.stack([steps, -steps]))
    found, _ = find_steps(u, resid, np.ones(u.size), robust_scale(resid))
    np.testing.assert_allclose(found, BOUNDARIES, atol=1.0)
    ramp = noisy(np.stack([0.002 * u, 0.001 * u]))
    assert find_steps(u, ramp, np.ones(u.size), robust_scale(ramp))[0].size == 0


def test_line_azimuth_finds_the_track_of_stripes():
    rows, cols = _stable_pixels(np.ones((H, W), bool))
    t, _ = track_coordinates(rows, cols, 31.0, TRANSFORM)
    resid = noisy(np.stack([0.05 * np.sin(2 * np.pi * t / 17.0), 0.02 * np.sin(2 * np.pi * t / 29.0)]))
    phi = line_azimuth(rows, cols, resid, np.ones(t.size), robust_scale(resid), TRANSFORM)
    assert abs(phi - 31.0) < 0.5


# --- stable ---------------------------------------------------------------------------------------------

def test_automatic_mask_drops_low_confidence_and_high_sigma():
    valid = np.ones((H, W), bool)
    conf = np.ones((H, W))
    conf[:10] = 0.05
    sigma = np.full((H, W), 0.05) + 0.001 * np.random.default_rng(3).standard_normal((H, W))
    sigma[-10:] = 0.5
    keep = automatic_mask(valid, conf, sigma, 0.2, 3.0)
    assert not keep[:10].any() and not keep[-10:].any() and keep[10:-10].mean() > 0.98


def test_gradient_outliers_flag_a_sharp_change_only():
    d = noisy(np.zeros((2, H, W)), 0.02)
    d[0, :, 120:] += 0.8  # a fault along column 120
    flagged = gradient_outliers(d, np.ones((H, W), bool), 5.0)
    assert flagged[:, 118:122].all()
    assert flagged[:, :90].mean() < 0.02


def test_vector_in_another_crs_is_reprojected(tmp_path):
    geom = pixel_polygon(20, 60, 30, 90)
    local = vector_mask(write_vector(tmp_path / "a.gpkg", geom), (H, W), TRANSFORM, RioCRS.from_string(CRS))
    wgs = transform_geom(CRS, "EPSG:4326", geom)
    moved = vector_mask(write_vector(tmp_path / "b.geojson", wgs, "EPSG:4326", "GeoJSON"), (H, W), TRANSFORM,
                        RioCRS.from_string(CRS))
    assert local.sum() == 40 * 60
    assert np.mean(local != moved) < 0.002


def test_a_trace_line_counts_only_with_a_buffer(tmp_path):
    import fiona

    ends = [TRANSFORM @ (20, 80), TRANSFORM @ (180, 80)]
    path = tmp_path / "trace.gpkg"
    schema = {"geometry": "LineString", "properties": {"id": "int"}}
    with fiona.open(path, "w", driver="GPKG", crs=CRS, schema=schema) as layer:
        layer.write({"geometry": {"type": "LineString", "coordinates": ends}, "properties": {"id": 1}})
    crs = RioCRS.from_string(CRS)
    with pytest.raises(InputError, match="no polygon"):
        vector_mask(path, (H, W), TRANSFORM, crs)
    zone = vector_mask(path, (H, W), TRANSFORM, crs, buffer_m=300.0)  # 10 px each side
    assert zone[80, 100] and zone[70, 100] and not zone[60, 100] and not zone[80, 5]


def test_vector_refusals(tmp_path):
    crs = RioCRS.from_string(CRS)
    outside = write_vector(tmp_path / "far.gpkg", pixel_polygon(1000, 1100, 1000, 1100))
    with pytest.raises(InputError, match="outside"):
        vector_mask(outside, (H, W), TRANSFORM, crs)
    path = write_vector(tmp_path / "local.shp", pixel_polygon(0, 50, 0, 50), "EPSG:4326", "ESRI Shapefile")
    (tmp_path / "local.prj").write_text(LOCAL_CS)
    with pytest.raises(InputError, match="cannot transform"):
        read_vector(path, crs)


# --- correct_field / correct_product / CLI --------------------------------------------------------------

def test_correct_field_with_an_exclusion_keeps_the_local_motion():
    motion, inside = bump()
    d = noisy(motion + artefacts())
    options = CorrectionOptions(model="plane+stripes+steps", track_azimuth=AZIMUTH)
    result = correct_field(as_field(d), options, transform=TRANSFORM, stable=~inside)
    err = np.stack([result.field.dx, result.field.dy]) - (d - artefacts())
    assert np.sqrt(np.mean(err[:, ~inside] ** 2)) < 0.008
    assert abs(np.mean(result.field.dx[inside]) - 1.5) < 0.01
    whole = correct_field(as_field(d), options, transform=TRANSFORM, stable=np.ones((H, W), bool))
    assert abs(np.mean(whole.field.dx[inside]) - 1.5) < 0.1  # robust weights save most of it even then
    assert result.info["stable_share"] == pytest.approx((~inside).mean(), abs=1e-6)


def test_correct_field_automatic_mask_and_estimated_track():
    motion, inside = bump()
    d = noisy(motion + artefacts())
    result = correct_field(as_field(d), CorrectionOptions(model="plane+stripes+steps"), transform=TRANSFORM)
    err = np.stack([result.field.dx, result.field.dy]) - (d - artefacts())
    assert np.sqrt(np.mean(err[:, ~inside] ** 2)) < 0.015
    rows, cols = np.mgrid[0:H, 0:W]
    ring = np.abs(np.hypot(rows - 80, cols - 100) - 25) < 2
    assert not result.stable[ring].any()  # the gradient test takes out the edge of the moving disc
    kept_inside = inside[np.nonzero(result.stable)]  # its flat interior is left to the robust weights
    assert kept_inside.any() and np.all(result.fit.weights[kept_inside] == 0)
    assert result.info["track_azimuth_estimated"]
    assert min(abs(result.info["track_azimuth_deg"] - AZIMUTH + k) for k in (0, 180, -180)) < 1.0


def test_correct_field_refuses_too_little_stable_ground():
    d = noisy(artefacts())
    tiny = np.zeros((H, W), bool)
    tiny[:5, :5] = True
    with pytest.raises(ParameterError, match="too small"):
        correct_field(as_field(d), CorrectionOptions(model="plane"), stable=tiny)
    strip = np.zeros((H, W), bool)
    strip[:, :40] = True  # enough pixels, too few image lines for stripes along the rows
    with pytest.raises(ParameterError, match="image lines"):
        correct_field(as_field(d), CorrectionOptions(model="plane+stripes", track_azimuth=90.0), stable=strip)


def test_correct_product_writes_tags_sigma_and_the_correction(tmp_path, product):
    before, motion, inside = product
    stable = write_vector(tmp_path / "stable.gpkg", pixel_polygon(0, H, 0, 60))
    out, corr = tmp_path / "after.tif", tmp_path / "corr.tif"
    options = CorrectionOptions(model="plane", stable=stable, save_correction=str(corr))
    info = correct_product(before, out, options)
    bands_in, _, _ = read_product(before)
    bands_out, tags, _ = read_product(out)
    bands_corr, _, _ = read_product(corr)
    tag = json.loads(tags["CORRECTION"])
    assert tag["model"] == "plane" and tag["stable_share"] == pytest.approx(60 / W, abs=0.01)
    assert set(tag["parameters"]["dx"]) == {"1", "x", "y"} and tag == {k: info[k] for k in tag}
    np.testing.assert_allclose(bands_in[:2] - bands_out[:2], bands_corr[:2], atol=1e-5)
    assert np.all(bands_out[3] > bands_in[3]) and np.all(bands_out[3] < bands_in[3] + 0.05)
    std = np.sqrt(np.maximum(bands_out[3] ** 2 - bands_in[3] ** 2, 0) / R68 ** 2 * 2)
    assert np.nanmax(std) > 0


def test_cli_correct_prints_the_share_and_plot_shows_before_after(tmp_path, product, cli):
    before, _, inside = product
    exclude = write_vector(tmp_path / "bump.gpkg", pixel_polygon(55, 105, 75, 125))
    out = tmp_path / "after.tif"
    rc, stdout, err = cli("correct", before, "-o", out, "--model", "plane+stripes+steps", "--track-azimuth", AZIMUTH,
                          "--exclude", exclude, "--buffer", 90)
    assert rc == 0, err
    assert "stable ground:" in stdout and "% of the valid field" in stdout
    share = float(stdout.split("stable ground:")[1].split("%")[0])
    assert share == pytest.approx(100 * (1 - (50 + 6) * (50 + 6) / (H * W)), abs=1.0)
    bands, _, _ = read_product(out)
    assert abs(np.mean(bands[0][inside]) - 1.5) < 0.02
    png = tmp_path / "ba.png"
    rc, _, err = cli("plot", out, "--before", before, "-o", png)
    assert rc == 0 and png.stat().st_size > 10_000, err


def test_cli_refusals_are_one_line_and_leave_no_file(tmp_path, product, cli, clean_failure):
    before, _, _ = product
    out = tmp_path / "after.tif"
    far = write_vector(tmp_path / "far.gpkg", pixel_polygon(1000, 1100, 1000, 1100))
    clean_failure(cli("correct", before, "-o", out, "--stable", far), "outside", output=out)
    tiny = write_vector(tmp_path / "tiny.gpkg", pixel_polygon(0, 4, 0, 4))
    clean_failure(cli("correct", before, "-o", out, "--stable", tiny), "too small", output=out)
    local = write_vector(tmp_path / "local.shp", pixel_polygon(0, 50, 0, 50), "EPSG:4326", "ESRI Shapefile")
    (tmp_path / "local.prj").write_text(LOCAL_CS)
    clean_failure(cli("correct", before, "-o", out, "--exclude", local), "cannot transform", output=out)
    clean_failure(cli("correct", before, "-o", out, "--model", "wobble"), "unknown correction model", output=out)


def test_stable_mask_raster_on_another_grid(tmp_path, product):
    before, _, _ = product
    mask = np.zeros((H // 2, W // 2), np.uint8)
    mask[:, :30] = 1  # the western 60 product columns, at 60 m
    path = tmp_path / "mask.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H // 2, width=W // 2, count=1, dtype="uint8", crs=CRS,
                       transform=TRANSFORM @ Affine.scale(2)) as ds:
        ds.write(mask, 1)
    info = correct_product(before, tmp_path / "after.tif", CorrectionOptions(model="plane", stable_mask=str(path)))
    assert info["stable_share"] == pytest.approx(60 / W, abs=0.01)


def test_stable_mask_raster_outside_the_product_is_refused(tmp_path, product, cli, clean_failure):
    before, _, _ = product
    path = tmp_path / "far_mask.tif"
    far = Affine(30.0, 0.0, 900_000.0, 0.0, -30.0, 5_000_000.0)
    with rasterio.open(path, "w", driver="GTiff", height=20, width=20, count=1, dtype="uint8", crs=CRS,
                       transform=far) as ds:
        ds.write(np.ones((20, 20), np.uint8), 1)
    out = tmp_path / "after.tif"
    clean_failure(cli("correct", before, "-o", out, "--stable-mask", path), "outside", output=out)


def test_a_product_in_metres_gets_the_same_correction(tmp_path):
    motion, inside = bump()
    d = noisy(motion + artefacts())
    grid = {"height": H, "width": W, "crs": RioCRS.from_string(CRS), "transform": TRANSFORM}
    outs = []
    for units in ("pixel", "meter"):
        src = tmp_path / f"in_{units}.tif"
        write_product(src, as_field(d, np.full((H, W), 0.05, np.float32)), grid, "test", units=units)
        out = tmp_path / f"out_{units}.tif"
        correct_product(src, out, CorrectionOptions(model="plane+steps", track_azimuth=AZIMUTH,
                                                    boundaries=BOUNDARIES, min_share=0.5))
        outs.append(read_product(out)[0])
    np.testing.assert_allclose(outs[1][:2], 30.0 * outs[0][:2], atol=1e-3)
    np.testing.assert_allclose(outs[1][3], 30.0 * outs[0][3], rtol=1e-4)
    assert abs(np.median(outs[0][0][~inside])) < 0.01


def test_a_netcdf_product_is_corrected_into_a_geotiff(tmp_path):
    pytest.importorskip("netCDF4")
    from microflow.products.netcdf import write_product_any

    d = noisy(artefacts())
    grid = {"height": H, "width": W, "crs": RioCRS.from_string(CRS), "transform": TRANSFORM}
    write_product_any(tmp_path / "in.nc", as_field(d, np.full((H, W), 0.05, np.float32)), grid, "test")
    info = correct_product(tmp_path / "in.nc", tmp_path / "out.tif", CorrectionOptions(model="plane+steps",
                                                                                        track_azimuth=AZIMUTH))
    bands = read_product(tmp_path / "out.tif")[0]
    assert info["stable_share"] > 0.9 and np.sqrt(np.nanmean(bands[:2] ** 2)) < 0.05
