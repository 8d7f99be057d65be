"""Farneback and TV-L1 wrappers: one sign convention, known shifts, confidence, parameter checks."""

import numpy as np
import pytest

from microflow.errors import ParameterError
from microflow.methods import get_method
from microflow.methods.optical_flow import (estimate_farneback, estimate_tvl1, unit_scale_each,
                                            photometric_confidence, to_uint8)
from shift_pairs import texture_pair

METHODS = [estimate_farneback, estimate_tvl1]
INNER = (slice(12, -12), slice(12, -12))


def test_registry_names():
    assert get_method("farneback") is estimate_farneback and get_method("tvl1") is estimate_tvl1


@pytest.mark.parametrize("method", METHODS)
def test_known_shift_sign_and_magnitude(method):
    # content moved right by 0.6 and up by 0.4 px: dx = +0.6, dy = -0.4
    pre, post = texture_pair(0.6, -0.4, size=96)
    field = method(pre, post)
    mx, my = np.median(field.dx[INNER]), np.median(field.dy[INNER])
    assert mx == pytest.approx(0.6, abs=0.08) and my == pytest.approx(-0.4, abs=0.08)


@pytest.mark.parametrize("method", METHODS)
def test_zero_shift_gives_near_zero(method):
    pre, _ = texture_pair(0, 0, size=96)
    field = method(pre, pre.copy())
    assert np.abs(np.median(field.dx)) < 0.01 and np.abs(np.median(field.dy)) < 0.01
    assert np.percentile(np.hypot(field.dx, field.dy), 95) < 0.05


@pytest.mark.parametrize("method", METHODS)
def test_output_shape_dtype_and_confidence_range(method):
    pre, post = texture_pair(0.3, 0.2, size=80)
    field = method(pre, post)
    assert field.shape == pre.shape
    assert field.dx.dtype == field.dy.dtype == field.confidence.dtype == np.float32
    assert np.isfinite(field.confidence).all()
    assert field.confidence.min() >= 0 and field.confidence.max() <= 1


def test_photometric_confidence_prefers_the_true_field():
    pre, post = texture_pair(0.6, -0.4, size=96)
    pre_u, post_u = unit_scale_each(pre, post)
    ones = np.ones_like(pre_u)
    right = photometric_confidence(pre_u, post_u, 0.6 * ones, -0.4 * ones)
    wrong = photometric_confidence(pre_u, post_u, -0.6 * ones, 0.4 * ones)
    assert np.median(right[INNER]) > 0.85 > 0.6 > np.median(wrong[INNER])


def test_per_image_scaling_absorbs_gain_and_offset():
    pre = np.linspace(0, 100, 400, dtype=np.float32).reshape(20, 20)
    pre_u, post_u = unit_scale_each(pre, 1.7 * pre + 50)
    np.testing.assert_allclose(post_u, pre_u, atol=1e-5)
    assert np.percentile(pre_u, 0.5) == pytest.approx(0.0, abs=1e-6)
    assert to_uint8(np.array([-0.2, 0.5, 1.4])).tolist() == [0, 128, 255]


@pytest.mark.parametrize("method, params", [
    (estimate_farneback, {"pyr_scale": 1.5}), (estimate_farneback, {"levels": 0}),
    (estimate_farneback, {"winsize": -3}), (estimate_farneback, {"poly_n": 6}),
    (estimate_farneback, {"poly_sigma": 0}), (estimate_farneback, {"iterations": 0}),
    (estimate_tvl1, {"attachment": -1}), (estimate_tvl1, {"tightness": 0}),
    (estimate_tvl1, {"num_warp": 0}), (estimate_tvl1, {"num_iter": 2.5}), (estimate_tvl1, {"tol": 0})])
def test_bad_parameters_raise_parameter_error(method, params):
    pre, post = texture_pair(0.3, 0.2, size=32)
    with pytest.raises(ParameterError):
        method(pre, post, **params)
