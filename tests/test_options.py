"""``EstimateOptions``: one options object per run; ``estimate_files(pre, post, out, options, **overrides)``."""

import json

import numpy as np
import pytest

from microflow.api import estimate_files
from microflow.errors import ParameterError
from microflow.options import EstimateOptions
from microflow.products.geotiff import read_product


def test_an_options_object_gives_the_keyword_call_product(make_pair, tmp_path):
    pre, post = make_pair()
    estimate_files(pre, post, tmp_path / "kw.tif", "freqcorr", units="meter", window=32, tile_window=96)
    opts = EstimateOptions(method="freqcorr", units="meter", tile_window=96, params={"window": 16})
    summary = estimate_files(pre, post, tmp_path / "opts.tif", opts, window=32)  # an override wins over params
    assert summary["window"] == 96
    kw, kw_tags, _ = read_product(tmp_path / "kw.tif")
    ob, ob_tags, _ = read_product(tmp_path / "opts.tif")
    np.testing.assert_array_equal(kw, ob)
    assert json.loads(ob_tags["PARAMETERS"])["window"] == 32 and ob_tags["UNITS"] == "meter"
    assert opts.params == {"window": 16}  # the object itself is left as it was (frozen)


def test_build_sorts_fields_from_method_parameters():
    opts = EstimateOptions.build("ncc", band=2, step=4, bounds="1,2,3,4")
    assert opts.method == "ncc" and opts.band == 2 and opts.params == {"step": 4} and opts.bounds == "1,2,3,4"
    assert opts.tiler_settings()["method_params"] == {"step": 4}


@pytest.mark.parametrize("options, overrides, message", [
    (None, {"correct": "banana"}, "unknown correction model"),
    (None, {"units": "feet"}, "units"),
    (None, {"aoi_halo": -1}, "aoi_halo"),
    (42, {}, "EstimateOptions or a method name"),
])
def test_refusals_before_any_input_is_read(options, overrides, message):
    with pytest.raises(ParameterError, match=message):
        EstimateOptions.build(options, **overrides)
