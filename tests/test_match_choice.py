import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from microflow.methods.local_stats import zncc_stats
from microflow.methods.match_choice import choose_by_match, textured_mask
from microflow.model.warp import warp_backward


def textured_pair(dx=2.0, dy=-1.0, size=96):
    rng = np.random.default_rng(3)
    post = torch.from_numpy(gaussian_filter(rng.normal(size=(size, size)), 1.5).astype(np.float32))[None, None]
    post = post / post.std()
    field = torch.tensor([dx, dy]).view(1, 2, 1, 1).expand(1, 2, size, size).contiguous()
    return warp_backward(post, field, "bilinear"), post, field  # post(p + d) = pre(p)


def test_textured_mask_separates_flat_from_textured_windows():
    pre, _, _ = textured_pair()
    pre[..., :, :40] = 0.5
    mask = textured_mask(pre, 7, 0.3)
    assert not mask[..., :, :30].any() and mask[..., :, 50:].float().mean() > 0.95


def test_choose_by_match_takes_the_aligning_candidate_and_keeps_flat_windows():
    pre, post, right = textured_pair()
    zero = torch.zeros_like(right)
    textured = textured_mask(pre, 7, 0.3)
    chosen = choose_by_match(pre, post, zero, [right * 0.5, right], 7, 0.0, textured)
    assert (chosen[..., 8:-8, 8:-8] == right[..., 8:-8, 8:-8]).float().mean() > 0.95
    nothing_textured = torch.zeros_like(textured)
    torch.testing.assert_close(choose_by_match(pre, post, zero, [right], 7, 0.0, nothing_textured), zero)
    with_stats = choose_by_match(pre, post, zero, iter([right]), 7, 0.0, textured, zncc_stats(pre, 7))
    torch.testing.assert_close(with_stats, choose_by_match(pre, post, zero, [right], 7, 0.0, textured))
    # a margin larger than any ZNCC gain keeps the current field
    torch.testing.assert_close(choose_by_match(pre, post, zero, [right], 7, 3.0, textured), zero)
