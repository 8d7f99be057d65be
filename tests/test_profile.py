"""Fault profiles: offsets of an Okada rupture and an analytic screw dislocation, signs, units, CLI."""

import csv

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from microflow.analysis.profile import apply_transform, offset_at_trace, profile_arrays, profile_product
from microflow.cli.main import main
from microflow.convention import product_to_field
from microflow.errors import ParameterError
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import write_product
from microflow.synth.okada import FaultSegment, okada_surface

PIXEL = 150.0
SHAPE = (96, 96)
GRID = Affine(PIXEL, 0.0, 400000.0, 0.0, -PIXEL, 3700000.0)
CENTRE = apply_transform(GRID, SHAPE[1] / 2, SHAPE[0] / 2)


def _pixel_centres():
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]] + 0.5
    return apply_transform(GRID, cols, rows)


def _strike_vector(strike):
    s = np.radians(strike)
    return np.array([np.sin(s), np.cos(s)])


def _write_truth(path, ew, ns, units="meter"):
    scale = 1.0 if units == "meter" else PIXEL
    dx, dy = product_to_field(ew / scale, ns / scale, GRID, units)
    profile = {"crs": CRS.from_epsg(32611), "transform": GRID, "height": SHAPE[0], "width": SHAPE[1]}
    write_product(path, DisplacementField(dx, dy, np.ones(SHAPE)), profile, "truth", units)
    return path


def _okada_product(path, strike, rake, slip):
    """Vertical surface-breaking fault, 80 km long and 10 km deep, centred on the 14.4 km grid."""
    along = _strike_vector(strike)
    length = 80000.0
    seg = FaultSegment(CENTRE[0] - along[0] * length / 2, CENTRE[1] - along[1] * length / 2, strike, 90.0, rake,
                       slip, length, 10000.0, 0.0)
    ue, un, _ = okada_surface(*_pixel_centres(), seg)
    return _write_truth(path, ue, un)


def _segment(strike, half=3000.0):
    along = _strike_vector(strike)
    return tuple(np.array(CENTRE) - half * along), tuple(np.array(CENTRE) + half * along)


@pytest.mark.parametrize("strike, rake, slip", [(30.0, 180.0, 2.0), (120.0, 0.0, 1.5)])
def test_okada_offset_at_trace_within_five_percent(tmp_path, strike, rake, slip):
    product = _okada_product(tmp_path / "okada.tif", strike, rake, slip)
    start, end = _segment(strike)
    prof = profile_product(product, start, end, width=9, half_length=6000.0, fit_distance=2000.0)
    expected = slip if rake == 180.0 else -slip  # + right-lateral, - left-lateral
    assert prof.parallel_offset.offset == pytest.approx(expected, rel=0.05)
    assert abs(prof.normal_offset.offset) < 0.01 * slip
    assert prof.units == "meter" and prof.distance_unit == "m"
    # the same segment drawn the other way gives the same offset sense
    reverse = profile_product(product, end, start, width=9, half_length=6000.0, fit_distance=2000.0)
    assert reverse.parallel_offset.offset == pytest.approx(prof.parallel_offset.offset, rel=1e-6)


def test_screw_dislocation_pixel_product_pixel_coordinates(tmp_path):
    """u = (s/pi) atan(D/t) on each side: offset s at the trace; here an opening on a N-S fault."""
    slip_px, depth = 1.2, 2000.0
    east, _ = _pixel_centres()
    t = CENTRE[0] - east  # distance to a north-going trace, + to the west (left)
    u = np.sign(t) * slip_px * PIXEL / np.pi * np.arctan(depth / np.abs(t))
    product = _write_truth(tmp_path / "screw.tif", -u, np.zeros(SHAPE), units="pixel")  # west side moves west
    col = SHAPE[1] / 2 - 0.5
    prof = profile_product(product, (col, 70.0), (col, 20.0), width=7, half_length=40, fit_distance=12, gap=1,
                           pixel_coords=True)
    assert prof.distance_unit == "px" and prof.units == "pixel"
    assert prof.normal_offset.offset == pytest.approx(slip_px, rel=0.05)  # opening: sides move apart
    assert abs(prof.parallel_offset.offset) < 1e-3
    in_metres = profile_product(product, (col, 70.0), (col, 20.0), width=7, half_length=40, fit_distance=12,
                                gap=1, pixel_coords=True, out_units="meter")
    assert in_metres.normal_offset.offset == pytest.approx(PIXEL * prof.normal_offset.offset, rel=1e-6)


def test_offset_fit_uncertainty_reflects_noise():
    rng = np.random.default_rng(0)
    distance = np.arange(-49.5, 50.0, 1.0)
    values = np.where(distance > 0, 0.5, -0.5) + 0.01 * distance + rng.normal(0, 0.1, distance.size)
    off = offset_at_trace(distance, values, gap=1.0, fit_distance=30.0)
    assert abs(off.offset - 1.0) < 3 * off.sigma
    assert 0.03 < off.sigma < 0.15  # two intercepts of 29-point fits with sigma 0.1 noise
    exact = offset_at_trace(distance, np.where(distance > 0, 1.0, 0.0) + 0.2 * distance, gap=1.0, fit_distance=30)
    assert exact.offset == pytest.approx(1.0) and exact.sigma < 1e-9


def test_bad_segments_raise():
    ew = np.zeros(SHAPE, np.float32)
    with pytest.raises(ParameterError, match="zero length"):
        profile_arrays(ew, ew, GRID, "pixel", CENTRE, CENTRE)
    with pytest.raises(ParameterError, match="outside"):
        profile_arrays(ew, ew, GRID, "pixel", (0.0, 0.0), (10.0, 10.0))
    with pytest.raises(ParameterError, match="georeferencing"):
        profile_arrays(ew, ew, None, "pixel", (10, 10), (10, 50), out_units="meter")


def test_cli_profile_writes_csv_and_png(tmp_path, capsys):
    product = _okada_product(tmp_path / "okada.tif", 0.0, 180.0, 1.0)
    start, end = _segment(0.0)
    prefix = tmp_path / "prof"
    argv = ["profile", str(product), "--start", f"{start[0]},{start[1]}", "--end", f"{end[0]},{end[1]}",
            "--width", "5", "--half-length", "4000", "--fit-distance", "1500", "-o", str(prefix)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    printed = out.split()
    assert float(printed[printed.index("fault-parallel") + 2]) == pytest.approx(1.0, rel=0.05)
    assert out.count("rho=") == 2 and out.count("n_eff=") == 2  # AR(1) error model reported per component
    rows = list(csv.DictReader(open(f"{prefix}.csv")))
    assert list(rows[0]) == ["distance", "parallel_median", "parallel_std", "normal_median", "normal_std", "n"]
    distance = np.array([float(r["distance"]) for r in rows])
    parallel = np.array([float(r["parallel_median"]) for r in rows])
    assert distance.min() < -3500 and distance.max() > 3500
    assert parallel[distance > 0].min() > 0 > parallel[distance < 0].max()  # west side moves north
    assert open(f"{prefix}.png", "rb").read(4) == b"\x89PNG"
    assert main(argv) == 2  # outputs exist


def test_weighted_offset_fit_and_propagated_uncertainty_by_hand():
    t = np.array([-4.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 4.0])
    values = np.where(t > 0, 2.0 + 0.5 * t, -1.0 + 0.25 * t)  # exact lines: offset 3
    sigmas = np.array([0.2, 0.1, 0.2, 0.1, 0.1, 0.2, 0.1, 0.2])
    off = offset_at_trace(t, values, gap=0.5, fit_distance=10.0, sigmas=sigmas)
    assert off.offset == pytest.approx(3.0)

    def intercept_se(tt, ss):  # [(X^T W X)^-1]_00 = sum(w t^2) / det
        w = 1 / ss ** 2
        return np.sqrt((w * tt ** 2).sum() / ((w.sum() * (w * tt ** 2).sum()) - (w * tt).sum() ** 2))

    expected = np.hypot(intercept_se(t[t > 0], sigmas[t > 0]), intercept_se(t[t < 0], sigmas[t < 0]))
    assert off.sigma_propagated == pytest.approx(expected) and off.sigma == pytest.approx(expected)  # chi2 = 0
    # a bin with a large sigma barely moves the weighted fit; unweighted it drags the intercept
    bad = values.copy()
    bad[4] += 1.0
    big = sigmas.copy()
    big[4] = 100.0
    assert offset_at_trace(t, bad, 0.5, 10.0, big).offset == pytest.approx(3.0, abs=1e-3)
    assert abs(offset_at_trace(t, bad, 0.5, 10.0).offset - 3.0) > 0.3
    # scatter beyond what sigma predicts inflates the reported sigma (Birge ratio), not the propagated one
    noisy = values + np.array([0.3, -0.3, 0.3, -0.3, 0.3, -0.3, 0.3, -0.3])
    inflated = offset_at_trace(t, noisy, 0.5, 10.0, np.full(8, 0.01))
    assert inflated.sigma > 10 * inflated.sigma_propagated


def test_profile_of_a_product_with_sigma_weights_and_reports_it(tmp_path):
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    dx = np.where(cols >= SHAPE[1] // 2, 0.5, -0.5).astype(np.float32)  # 1 px opening on a N-S fault... in EW
    sigma = np.full(SHAPE, 0.15, np.float32)
    profile = {"crs": CRS.from_epsg(32611), "transform": GRID, "height": SHAPE[0], "width": SHAPE[1]}
    path = write_product(tmp_path / "s.tif", DisplacementField(dx, 0 * dx, np.ones(SHAPE), sigma=sigma), profile,
                         "test", "pixel")
    col = SHAPE[1] / 2 - 0.5
    prof = profile_product(path, (col, 80.0), (col, 16.0), width=9, half_length=40, fit_distance=20, gap=2,
                           pixel_coords=True)
    np.testing.assert_allclose(prof.bin_sigma[np.isfinite(prof.bin_sigma)], 0.15 / 1.5096, rtol=1e-3)
    assert abs(prof.normal_offset.offset) == pytest.approx(1.0, abs=1e-4)
    assert 0 < prof.normal_offset.sigma_propagated < 0.15 and np.isfinite(prof.normal_offset.sigma)
    assert main(["profile", str(path), "--start", f"{col},80", "--end", f"{col},16", "--pixel-coords",
                 "--half-length", "40", "--fit-distance", "20", "--gap", "2", "--width", "9"]) == 0


def _ar1(rng, n, rho):
    """Unit-variance AR(1) sequence of lag-1 correlation ``rho``."""
    u = np.empty(n)
    u[0] = rng.normal()
    for i in range(1, n):
        u[i] = rho * u[i - 1] + np.sqrt(1 - rho ** 2) * rng.normal()
    return u


def _independent_se(t, v):
    """Intercept standard error of an ordinary line fit with independent errors (the former formula)."""
    slope, intercept = np.polyfit(t, v, 1)
    s2 = ((v - intercept - slope * t) ** 2).sum() / (t.size - 2)
    return np.sqrt(s2 * (1 / t.size + t.mean() ** 2 / ((t - t.mean()) ** 2).sum()))


def _ar1_profiles(rho, draws, sigmas=None, seed=3):
    """Offsets of step profiles (true offset 1.2, 36 fitted bins a side) with AR(1) bin errors."""
    rng = np.random.default_rng(seed)
    t = np.arange(-39.5, 40.0, 1.0)
    scale = np.full(t.size, 0.05) if sigmas is None else sigmas
    for _ in range(draws):
        noise = scale * np.concatenate([_ar1(rng, 40, rho)[::-1], _ar1(rng, 40, rho)])
        values = np.where(t > 0, 0.6, -0.6) + 0.003 * t + noise
        yield t, values, offset_at_trace(t, values, gap=4.0, fit_distance=40.0, sigmas=sigmas)


def test_ar1_errors_give_nominal_coverage_where_independent_fits_do_not():
    rows = list(_ar1_profiles(0.7, 200))
    hits = np.array([abs(off.offset - 1.2) <= off.sigma for _, _, off in rows])
    assert 0.6 <= hits.mean() <= 0.8  # 68 % nominal
    rho = np.array([off.left.rho for _, _, off in rows] + [off.right.rho for _, _, off in rows])
    assert abs(np.mean(rho) - 0.7) < 0.08  # the moment estimate undoes the bias of residual lag-1 products
    left = rows[0][2].left
    assert left.n == 36 and left.n_eff == pytest.approx(36 * (1 - left.rho) / (1 + left.rho))
    naive = []
    for t, v, off in rows:
        se = np.hypot(_independent_se(t[(t > 4) & (t <= 40)], v[(t > 4) & (t <= 40)]),
                      _independent_se(t[(t < -4) & (t >= -40)], v[(t < -4) & (t >= -40)]))
        naive.append(abs(off.offset - 1.2) <= se)
    assert np.mean(naive) < 0.45  # treating the bins as independent is overconfident


def test_independent_errors_keep_n_eff_near_n_and_nominal_coverage():
    rows = list(_ar1_profiles(0.0, 200))
    hits = np.array([abs(off.offset - 1.2) <= off.sigma for _, _, off in rows])
    assert 0.6 <= hits.mean() <= 0.8
    n_eff = np.array([off.left.n_eff for _, _, off in rows])
    assert np.median(n_eff) > 0.95 * 36 and np.mean(n_eff) > 0.85 * 36
    assert all(2 <= off.right.n_eff <= 36 for _, _, off in rows)


def test_sigma_band_is_propagated_with_the_residual_correlation():
    t = np.arange(-39.5, 40.0, 1.0)
    sigmas = 0.04 * (1 + 3 * np.exp(-np.abs(t) / 8))  # calibrated band, larger near the trace
    rows = list(_ar1_profiles(0.8, 200, sigmas))
    hits = np.array([abs(off.offset - 1.2) <= off.sigma_propagated for _, _, off in rows])
    assert 0.6 <= hits.mean() <= 0.8
    # the same band taken as independent bins (rho = 0) covers far less often
    independent = offset_at_trace(t, np.where(t > 0, 0.6, -0.6), 4.0, 40.0, sigmas).sigma_propagated
    assert np.mean([abs(off.offset - 1.2) <= independent for _, _, off in rows]) < 0.45
