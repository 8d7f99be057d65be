"""What every window correlator must do on a known sub-pixel shift: the right signs and magnitude."""

import pytest

from microflow.methods import freqcorr, get_method, ncc
from shift_pairs import medians, texture_pair


@pytest.mark.parametrize("name, module", [("freqcorr", freqcorr), ("ncc", ncc)])
def test_registry_name_maps_to_the_module_estimate(name, module):
    assert get_method(name) is module.estimate


@pytest.mark.parametrize("method", ["freqcorr", "ncc"])
@pytest.mark.parametrize("texture", ["gravel", "grass"])
def test_known_shift_sign_and_magnitude(method, texture):
    # content moved right (+0.30 col) and down (+0.20 row)
    pre, post = texture_pair(0.30, 0.20, texture)
    mx, my = medians(get_method(method)(pre, post, window=32, step=8))
    assert mx == pytest.approx(0.30, abs=0.03) and my == pytest.approx(0.20, abs=0.03)
