"""Real radiometric change in the generator (cross-band sources, pasted real texture) and the
large-displacement sets (glacier flows, large ruptures)."""

import numpy as np
import pytest
import torch

from microflow.errors import ParameterError
from microflow.model.loss import pixel_weights, sequence_loss
from microflow.synth.generator import generate_sample, sample_rng
from microflow.synth.large import generate_glacier, large_sample
from microflow.synth.real_change import RealChange, draw_bands, feathered_ellipse, paste_real_patches
from microflow.synth.textures import TextureBank
from microflow.training.data import near_fault, trace_distance


def test_draw_bands_gives_every_ordered_pair_of_different_bands():
    rng = np.random.default_rng(0)
    pairs = {draw_bands(rng, 3) for _ in range(300)}
    assert pairs == {(i, j) for i in range(3) for j in range(3) if i != j}


def test_feathered_ellipse_is_one_inside_zero_far_outside():
    alpha = feathered_ellipse((64, 64), (32.0, 32.0), (20.0, 10.0), 0.0, 2.0)
    assert alpha[32, 32] == pytest.approx(1.0, abs=0.05) and alpha[0, 0] == 0.0
    assert 0 < alpha[32, 32 + 5] < 1 or 0 < alpha[32 + 10, 32] < 1


def test_real_patches_change_post_only_under_the_patch():
    rng = np.random.default_rng(1)
    post = np.random.default_rng(2).normal(100, 10, (96, 96)).astype(np.float32)
    donor = np.random.default_rng(3).normal(500, 50, (96, 96)).astype(np.float32)
    before = post.copy()
    patches = paste_real_patches(rng, post, [donor], RealChange(patch_size_px=(20, 30)))
    changed = np.abs(post - before) > 1e-3
    assert len(patches) == 1 and 0.01 < changed.mean() < 0.5
    # matched to what it replaces: the patch keeps post's level, not the donor's
    assert abs(float(np.median(post[changed])) - 100) < 30


def test_real_change_is_validated():
    with pytest.raises(ParameterError):
        RealChange(p_cross_band=1.5)


def test_samples_without_real_change_are_unchanged_and_skimage_has_no_bands():
    bank = TextureBank("train", "skimage")
    a = generate_sample(sample_rng(5, "train", 3), 48, 1, bank)
    b = generate_sample(sample_rng(5, "train", 3), 48, 1, bank, real_change=RealChange(p_cross_band=1.0,
                                                                                       p_real_patches=0.0))
    # skimage pictures are not co-registered bands: no cross-band draw, same texture and field
    np.testing.assert_array_equal(a.flow, b.flow)
    assert b.params["perturbations"]["bands"] is None
    with pytest.raises(ParameterError):
        bank.sample_bands(np.random.default_rng(0), 16, 16, (0, 1))


def test_glacier_reaches_its_peak_smoothly():
    bank = TextureBank("test", "skimage")
    sample = generate_glacier(np.random.default_rng(4), 128, 12.0, bank)
    magnitude = np.hypot(*sample.flow)
    assert magnitude.max() == pytest.approx(12.0, rel=1e-4)
    gradient = max(float(np.abs(np.diff(sample.flow, axis=a)).max()) for a in (1, 2))
    assert gradient < 0.45  # W >= 4 peak: shear below 0.39 px/px (+ sampling)
    assert not sample.fault_mask.any()


def test_large_sets_alternate_kinds_deterministically():
    bank = TextureBank("test", "skimage")
    first, second = large_sample(1, 0, 96, (6, 10), bank), large_sample(1, 1, 96, (6, 10), bank)
    assert (first.params["kind"], second.params["kind"]) == ("glacier", "rupture")
    assert 6 <= np.hypot(*second.flow).max() <= 10 + 1e-3
    np.testing.assert_array_equal(large_sample(1, 1, 96, (6, 10), bank).post, second.post)


def test_near_fault_weights_raise_the_loss_next_to_the_trace():
    mask = np.zeros((16, 16), bool)
    mask[:, 8] = True
    near = near_fault(mask, mask.shape)
    assert near[:, 3:14].all() and not near[:, :3].any()
    valid = torch.ones(1, 16, 16, dtype=torch.bool)
    distance = torch.from_numpy(trace_distance(mask, mask.shape))[None]
    assert pixel_weights(valid, distance, 0.0) is valid
    weights = pixel_weights(valid, distance, 2.0)
    assert float(weights.max()) == 3.0 and float(weights.min()) == 1.0
    target = torch.zeros(1, 2, 16, 16)
    flow = torch.zeros(1, 2, 16, 16)
    flow[..., 8] = 1.0  # error only on the trace column
    assert sequence_loss([flow], target, valid=weights) > sequence_loss([flow], target, valid=valid)


def test_trace_weight_adds_only_on_the_trace_core():
    mask = np.zeros((16, 16), bool)
    mask[:, 8] = True
    distance = torch.from_numpy(trace_distance(mask, mask.shape))[None]
    valid = torch.ones(1, 16, 16, dtype=torch.bool)
    valid[0, 0, :] = False
    weights = pixel_weights(valid, distance, 2.0, core_weight=4.0, core_radius=1.5)
    row = weights[0, 5]
    np.testing.assert_array_equal(row[7:10].numpy(), 7.0)   # |c - 8| <= 1: 1 + 2 + 4
    assert float(row[6]) == 3.0 and float(row[10]) == 3.0  # 2 px: the 5 px band only
    assert float(row[0]) == 1.0 and float(weights[0, 0].max()) == 0.0  # far field; invalid stays 0
    no_trace = torch.from_numpy(trace_distance(np.zeros((16, 16), bool), (16, 16)))[None]
    assert torch.isinf(no_trace).all()
    assert float(pixel_weights(valid, no_trace, 2.0, 4.0)[0, 5].max()) == 1.0
