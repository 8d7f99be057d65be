"""Known shifts through the one conversion module, both directions and both units."""

import numpy as np
import pytest
from affine import Affine

from microflow.convention import (check_metric_units, field_to_product, is_georeferenced, pixel_sizes,
                                  product_to_field)
from microflow.errors import ParameterError
from microflow.synth.shift import fourier_shift

NORTH_UP_30M = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)


def test_north_up_pixel_units_flip_ns_only():
    ew, ns = field_to_product(np.array([0.3]), np.array([0.2]), NORTH_UP_30M, "pixel")
    # content moved right (east) and down (south): EW +0.3, NS -0.2
    assert ew[0] == pytest.approx(0.3) and ns[0] == pytest.approx(-0.2)


def test_meter_units_use_pixel_size():
    ew, ns = field_to_product(np.array([0.5]), np.array([-1.0]), NORTH_UP_30M, "meter")
    assert ew[0] == pytest.approx(15.0) and ns[0] == pytest.approx(30.0)


def test_non_square_and_rotated_roundtrip():
    rotated = Affine.translation(1e5, 2e5) @ Affine.rotation(20) @ Affine.scale(15.0, -30.0)
    dx = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    dy = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    for units in ("pixel", "meter"):
        ew, ns = field_to_product(dx, dy, rotated, units)
        back_dx, back_dy = product_to_field(ew, ns, rotated, units)
        np.testing.assert_allclose(back_dx, dx, atol=1e-5)
        np.testing.assert_allclose(back_dy, dy, atol=1e-5)
    assert pixel_sizes(rotated) == pytest.approx((15.0, 30.0))


def test_ungeoreferenced_is_north_up_unit_pixels():
    ew, ns = field_to_product(np.array([1.0]), np.array([1.0]), Affine.identity(), "meter")
    assert (ew[0], ns[0]) == (1.0, -1.0)


def test_a_window_of_an_ungeoreferenced_raster_is_still_north_up_pixels():
    """An area of interest of a JPEG has the transform Affine(1, 0, c0, 0, 1, r0): the same frame as the whole."""
    window = Affine.translation(100.0, 100.0)
    assert not is_georeferenced(window) and not is_georeferenced(None) and is_georeferenced(NORTH_UP_30M)
    for transform in (Affine.identity(), window):
        ew, ns = field_to_product(np.array([0.3]), np.array([0.2]), transform, "pixel")
        assert (ew[0], ns[0]) == pytest.approx((0.3, -0.2))
        assert product_to_field(ew, ns, transform)[1][0] == pytest.approx(0.2)


def test_metric_units_need_georeferencing():
    check_metric_units("meter", NORTH_UP_30M)
    check_metric_units("pixel", Affine.translation(5.0, 5.0))
    with pytest.raises(ParameterError, match="units 'meter' need georeferenced images"):
        check_metric_units("meter", Affine.translation(5.0, 5.0))


def test_nan_is_kept():
    ew, ns = field_to_product(np.array([np.nan]), np.array([0.0]), NORTH_UP_30M)
    assert np.isnan(ew[0]) and ns.dtype == np.float32


def test_bad_units():
    with pytest.raises(ParameterError):
        field_to_product(np.zeros(1), np.zeros(1), NORTH_UP_30M, "feet")


def test_fourier_shift_moves_content_by_plus_d():
    img = np.zeros((32, 32))
    img[10, 12] = 1.0
    out = fourier_shift(img, dx=3, dy=-2)
    assert np.unravel_index(np.argmax(out), out.shape) == (8, 15)
