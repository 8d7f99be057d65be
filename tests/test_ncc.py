"""NCC template matcher on known shifts, its peak fits, and its parameter checks."""

import numpy as np
import pytest

from microflow.errors import InputError, ParameterError
from microflow.methods.ncc import estimate, gaussian_peak, quadratic_peak
from shift_pairs import medians, texture_pair


def test_multi_pixel_shift_within_search_radius():
    pre, post = texture_pair(-2.4, 1.3)
    mx, my = medians(estimate(pre, post, window=32, step=8, search=4))
    assert mx == pytest.approx(-2.4, abs=0.05) and my == pytest.approx(1.3, abs=0.05)


def test_shift_beyond_search_radius_gives_nan():
    pre, post = texture_pair(3.0, 0.0)
    field = estimate(pre, post, window=32, step=8, search=2)
    assert np.isnan(field.dx).mean() > 0.9


def test_resampling_refinement_reduces_peak_fit_bias():
    pre, post = texture_pair(0.3, 0.2, "moon")
    plain = medians(estimate(pre, post, window=32, step=8, refine=0))
    refined = medians(estimate(pre, post, window=32, step=8, refine=1))
    assert abs(refined[0] - 0.3) < abs(plain[0] - 0.3) and abs(refined[1] - 0.2) < abs(plain[1] - 0.2)


def test_zero_shift_gives_zero_and_full_confidence():
    # a 3x3 quadratic fit of a finite-window NCC surface is not symmetric: small per-window scatter
    pre, _ = texture_pair(0, 0)
    field = estimate(pre, pre.copy(), window=32, step=8)
    assert abs(np.nanmedian(field.dx)) < 0.005 and abs(np.nanmedian(field.dy)) < 0.005
    assert np.nanpercentile(np.hypot(field.dx, field.dy), 95) < 0.1
    assert np.nanmin(field.confidence) > 0.99


def test_output_shape_dtype_and_confidence_range():
    pre, post = texture_pair(0.3, 0.2, size=96)
    other, _ = texture_pair(0, 0, "grass", size=96)
    field = estimate(pre, post, window=32, step=8)
    assert field.shape == pre.shape and field.confidence.dtype == np.float32
    assert field.dx.dtype == field.dy.dtype == np.float32
    conf = field.confidence[np.isfinite(field.confidence)]
    assert conf.size and conf.min() >= 0 and conf.max() <= 1
    unrelated = estimate(pre, other, window=32, step=8).confidence  # NaN: peak on the search border
    assert np.median(np.nan_to_num(unrelated)) < 0.5 < np.median(conf)


def test_image_smaller_than_window_raises_input_error():
    img = np.zeros((40, 20), np.float32)
    with pytest.raises(InputError, match="image smaller than the correlation window"):
        estimate(img, img, window=32)


@pytest.mark.parametrize("params", [{"window": 0}, {"step": 0}, {"search": 0}, {"search": 1.5},
                                    {"refine": -2}, {"subpixel": "cubic"}, {"edges": "wrap"}])
def test_bad_parameters_raise_parameter_error(params):
    pre, post = texture_pair(0.3, 0.2, size=64)
    with pytest.raises(ParameterError):
        estimate(pre, post, **params)


def test_peak_fits_find_the_vertex_of_exact_models():
    y, x = np.mgrid[-1:2, -1:2].astype(float)
    x0, y0 = 0.31, -0.22
    quadratic = 1 - 0.3 * (x - x0) ** 2 - 0.2 * (y - y0) ** 2 - 0.05 * (x - x0) * (y - y0)
    qx, qy = quadratic_peak(quadratic[None])
    assert (qx[0], qy[0]) == pytest.approx((x0, y0), abs=1e-9)
    gaussian = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / 1.3)
    gx, gy = gaussian_peak(gaussian[None])
    assert (gx[0], gy[0]) == pytest.approx((x0, y0), abs=1e-9)
