"""Frequency correlator (and the sliding-window machinery it shares with ncc) on known shifts."""

import numpy as np
import pytest

from microflow.errors import InputError, ParameterError
from microflow.methods.freqcorr import estimate, fit_phase_plane, peak_shift, rfft_frequencies
from microflow.methods.sliding import apodization_window, densify, extract_windows, window_grid
from shift_pairs import medians, texture_pair


def test_multi_pixel_shift_recovered_by_recentering():
    pre, post = texture_pair(-1.6, 2.3)
    mx, my = medians(estimate(pre, post, window=32, step=8))
    assert mx == pytest.approx(-1.6, abs=0.03) and my == pytest.approx(2.3, abs=0.03)


def test_zero_shift_gives_zero():
    pre, _ = texture_pair(0, 0)
    field = estimate(pre, pre.copy(), window=32, step=8)
    assert np.nanmax(np.abs(field.dx)) < 1e-3 and np.nanmax(np.abs(field.dy)) < 1e-3


def test_moved_taper_refinement_removes_bias_toward_integer():
    pre, post = texture_pair(0.45, -0.45)
    plain = medians(estimate(pre, post, window=32, step=8, refine=0))
    refined = medians(estimate(pre, post, window=32, step=8, refine=2))
    assert plain[0] < 0.45 - 0.004 and plain[1] > -0.45 + 0.004  # fixed taper: pulled toward 0
    assert refined == pytest.approx((0.45, -0.45), abs=0.002)


def test_output_shape_dtype_confidence_and_nan_border():
    pre, post = texture_pair(0.3, 0.2, size=96)
    field = estimate(pre, post, window=32, step=8)
    assert field.shape == pre.shape
    assert field.dx.dtype == field.dy.dtype == field.confidence.dtype == np.float32
    conf = field.confidence[np.isfinite(field.confidence)]
    assert conf.size and conf.min() >= 0 and conf.max() <= 1
    assert np.isnan(field.dx[:15]).all() and np.isfinite(field.dx[16:-16, 16:-16]).all()
    filled = estimate(pre, post, window=32, step=8, edges="nearest")
    assert np.isfinite(filled.dx).all()


def test_confidence_separates_matched_from_unrelated_images():
    pre, post = texture_pair(0.3, 0.2)
    other, _ = texture_pair(0, 0, "grass")
    matched = np.nanmedian(estimate(pre, post, window=32, step=8).confidence)
    unrelated = np.nanmedian(estimate(pre, other, window=32, step=8).confidence)
    assert matched > 0.9 and unrelated < 0.5


def test_textureless_image_gives_nan():
    flat = np.full((64, 64), 7.0, np.float32)
    assert not np.isfinite(estimate(flat, flat, window=32, step=8).dx).any()


def test_image_smaller_than_window_raises_input_error():
    img = np.zeros((20, 40), np.float32)
    with pytest.raises(InputError, match="image smaller than the correlation window"):
        estimate(img, img, window=32)


@pytest.mark.parametrize("params", [{"window": 0}, {"step": -4}, {"window": 2.5}, {"step": True},
                                    {"max_frequency": 0.7}, {"mask_ratio": -1}, {"iterations": 0},
                                    {"refine": -1}, {"apodization": "gauss"},
                                    {"interpolation": "quadratic"}, {"edges": "zero"}])
def test_bad_parameters_raise_parameter_error(params):
    pre, post = texture_pair(0.3, 0.2, size=64)
    with pytest.raises(ParameterError):
        estimate(pre, post, **params)


# ----------------------------------------------------------------------------- core functions
def test_peak_shift_and_phase_fit_on_an_exact_phase_plane():
    fy, fx, _ = rfft_frequencies(32)
    d = np.array([[0.37, -1.21], [-2.6, 0.08]])  # (dx, dy) per window
    q = np.exp(2j * np.pi * (fx[None] * d[:, 0, None, None] + fy[None] * d[:, 1, None, None]))
    cx, cy = peak_shift(q.astype(np.complex64), 32)
    np.testing.assert_allclose(np.round(cx), np.round(d[:, 0]))  # sign: IFFT[Q] peaks at -d
    np.testing.assert_allclose(np.round(cy), np.round(d[:, 1]))
    mask = np.hypot(fx, fy)[None].repeat(2, 0) < 0.45
    mask[:, 0, 0] = False
    dx, dy, conf = fit_phase_plane(q.astype(np.complex64), mask, cx, cy, iterations=4)
    np.testing.assert_allclose(dx, d[:, 0], atol=1e-4)
    np.testing.assert_allclose(dy, d[:, 1], atol=1e-4)
    np.testing.assert_allclose(conf, 1.0, atol=1e-4)


# ----------------------------------------------------------------------------- sliding machinery
def test_window_grid_reaches_both_edges():
    grid = window_grid((100, 70), 32, 16)
    assert grid.rows.tolist() == [0, 16, 32, 48, 64, 68] and grid.cols.tolist() == [0, 16, 32, 38]
    assert grid.row_centres[0] == 15.5 and grid.row_centres[-1] == 100 - 1 - 15.5


def test_extract_windows_matches_slicing():
    img = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    wins = extract_windows(img, np.array([0, 5, 22]), np.array([3, 0, 32]), 8)
    for win, (r, c) in zip(wins, [(0, 3), (5, 0), (22, 32)]):
        np.testing.assert_array_equal(win, img[r:r + 8, c:c + 8])


def test_densify_reproduces_a_linear_field_and_contains_nan_windows():
    grid = window_grid((64, 80), 16, 8)
    rc, cc = np.meshgrid(grid.row_centres, grid.col_centres, indexing="ij")
    dense = densify(0.1 * rc - 0.05 * cc, grid)
    rows, cols = np.mgrid[0:64, 0:80]
    ok = np.isfinite(dense)
    assert ok[8:-8, 8:-8].all() and not ok[:7].any()
    np.testing.assert_allclose(dense[ok], (0.1 * rows - 0.05 * cols)[ok], atol=1e-5)
    values = 0.1 * rc
    values[3, 4] = np.nan
    holed = densify(values, grid, interpolation="cubic")
    assert 0 < np.isnan(holed[8:-8, 8:-8]).sum() <= 16 * 16


def test_moved_taper_is_the_shifted_taper():
    fixed = apodization_window(32, "hann")
    moved = apodization_window(32, "hann", shift_rows=np.array([2.0]), shift_cols=np.array([-3.0]))[0]
    np.testing.assert_allclose(moved[2:, :-3], fixed[:-2, 3:], atol=1e-6)
    assert moved[:2].max() == 0 and moved[:, -3:].max() == 0
