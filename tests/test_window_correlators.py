"""What every window correlator must do on a known sub-pixel shift: the right signs and magnitude."""

import numpy as np
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


@pytest.mark.parametrize("method", ["freqcorr", "ncc"])
def test_max_displacement_widens_the_correlator_search(method):
    """A 14 px shift is out of reach of the default 32 px windows and found with max_displacement=16."""
    from microflow.methods import get_method
    from microflow.synth.forward import constant_field, warp_by_field
    from microflow.synth.textures import TextureBank

    texture = TextureBank("test", "skimage", augment=False).sample(np.random.default_rng(5), 192 + 48, 192 + 48)
    pre, post = warp_by_field(texture, constant_field(14.0, -3.5), 24)
    estimate = get_method(method)
    inner = (slice(48, -48), slice(48, -48))
    wide = estimate(pre, post, max_displacement=16)
    error = np.hypot(wide.dx - 14.0, wide.dy + 3.5)[inner]
    assert np.nanmedian(error) < 0.1
    narrow = estimate(pre, post)
    assert not (np.nanmedian(np.hypot(narrow.dx - 14.0, narrow.dy + 3.5)[inner]) < 0.1)
