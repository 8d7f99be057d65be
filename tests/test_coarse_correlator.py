"""The coarsest level's correlator candidate (methods/coarse_correlator.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microflow.methods.coarse_correlator import chip_correlation, choose_network_or_candidates, dense_correlation
from microflow.synth.radiometry import fractal_noise
from microflow.synth.shift import fourier_shift


def shifted_pair(dx=5.3, dy=-2.6, size=128, seed=0):
    img = fractal_noise(np.random.default_rng(seed), (size, size), 2.0)
    post = fourier_shift(img, dx, dy).astype(np.float32)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]  # noqa: E731
    return as_tensor(img), as_tensor(post)


def test_chip_correlation_finds_a_known_shift_in_the_internal_convention():
    pre, post = shifted_pair()
    grid, peak = chip_correlation(pre, post)
    inner = grid[0, :, 2:-2, 2:-2]
    assert inner[0].median().item() == pytest.approx(5.3, abs=0.3)
    assert inner[1].median().item() == pytest.approx(-2.6, abs=0.3)
    assert grid.shape[-2:] == ((128 - 32) // 8 + 1,) * 2 and peak.min().item() > 0.08


def test_chip_correlation_gives_zero_where_nothing_correlates():
    pre, _ = shifted_pair(seed=1)
    _, other = shifted_pair(seed=2)
    grid, peak = chip_correlation(pre, other)
    assert (grid[peak.expand_as(grid) < 0.08] == 0).all()


def test_dense_correlation_covers_every_pixel_and_is_zero_on_tiny_images():
    pre, post = shifted_pair()
    dense = dense_correlation(pre, post)
    assert dense.shape == (1, 2, 128, 128) and torch.isfinite(dense).all()
    assert dense[0, 0, 64, 64].item() == pytest.approx(5.3, abs=0.3)
    tiny = dense_correlation(pre[..., :20, :20], post[..., :20, :20])
    assert tiny.shape == (1, 2, 20, 20) and not tiny.any()


def test_choose_network_or_candidates_prefers_the_candidate_that_aligns_the_images():
    pre, post = shifted_pair(dx=3.0, dy=1.0)
    network = torch.zeros(1, 2, 128, 128)
    right = torch.stack([torch.full((128, 128), 3.0), torch.full((128, 128), 1.0)])[None]
    chosen = choose_network_or_candidates(pre, post, network, [right])
    inner = chosen[0, :, 16:-16, 16:-16]
    assert (inner[0] == 3.0).float().mean() > 0.9
    kept = choose_network_or_candidates(pre, post, right, [network])        # the network already right: it stays
    assert (kept[0, :, 16:-16, 16:-16] == right[0, :, 16:-16, 16:-16]).float().mean() > 0.95
