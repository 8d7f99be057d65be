"""Flip ensembles (methods/flip_ensemble.py): members mapped back to the original grid and axes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import shifted_texture
from microflow.errors import ParameterError
from microflow.methods.flip_ensemble import ensemble_mean, flip, members, unflip_field


def ramp(h: int = 6, w: int = 9) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                indexing="ij")
    return torch.stack([0.1 * cols + 0.3, -0.2 * rows + 0.05 * cols])[None]


@pytest.mark.parametrize("dims", members(4))
def test_a_field_seen_on_flipped_images_maps_back_exactly(dims):
    field = ramp()
    # what a perfect reader returns on the flipped images: the field at the mirrored pixel, mirrored axes
    sign = torch.tensor([-1.0 if -1 in dims else 1.0, -1.0 if -2 in dims else 1.0]).view(1, 2, 1, 1)
    seen = flip(field, dims) * sign
    assert torch.allclose(unflip_field(seen, dims), field)


def test_counts_and_identity():
    assert members(1) == ((),) and len(members(2)) == 2 and len(members(4)) == 4
    with pytest.raises(ParameterError, match="ensemble must be one of"):
        members(3)
    calls = []

    def read(a, b, valid):
        calls.append(valid)
        return [a[:, :1].repeat(1, 2, 1, 1)]

    image = torch.rand(1, 1, 5, 7)
    out = ensemble_mean(read, image, image, 1)
    assert torch.equal(out[0], image.repeat(1, 2, 1, 1)) and calls == [None]


def test_each_member_is_given_its_flipped_no_data_masks():
    seen = []

    def read(a, b, valid):
        seen.append(valid[0][0, 0, 0, 0].item())
        return [torch.zeros(1, 2, 4, 4)]

    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., 0, 0] = True   # only the top-left pixel: after a flip the top-left is another pixel
    ensemble_mean(read, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), 4, (mask, mask))
    assert seen == [True, False, False, False]


@pytest.mark.parametrize("count", [2, 4])
def test_the_shipped_model_reads_a_known_shift_through_every_member(count):
    from microflow.methods.microflow import MicroFlowEstimator

    pre, post = shifted_texture(128, 1.3, -0.6)
    single = MicroFlowEstimator(device="cpu", threads=1).predict(pre, post)[0]
    both = MicroFlowEstimator(device="cpu", threads=1, ensemble=count).predict(pre, post)[0]
    inner = (slice(24, -24), slice(24, -24))
    for estimate in (single, both):   # a sign or flip error reads -1.3 / +0.6 in the mirrored members
        assert abs(np.median(estimate[0][inner]) - 1.3) < 0.05 and abs(np.median(estimate[1][inner]) + 0.6) < 0.05
    assert 0.0 <= both[2].min() and both[2].max() <= 1.0
