import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from microflow.errors import ParameterError
from microflow.model.warp import crop_padding, pad_to_multiple, warp_backward
from microflow.synth.shift import fourier_shift


def smooth_texture(shape, seed=0, sigma=3.0):
    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.normal(size=shape), sigma, mode="wrap")


def as_tensor(img):
    return torch.from_numpy(np.asarray(img, np.float32))[None, None]


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("dx, dy", [(1.3, -2.7), (-0.4, 0.25), (3.0, 0.0)])
def test_warp_pulls_shifted_post_back_onto_pre_on_non_square(interpolation, dx, dy):
    pre = smooth_texture((48, 80))
    post = fourier_shift(pre, dx, dy)  # feature at p in pre is at p + (dx, dy) in post
    flow = torch.tensor([dx, dy], dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, 48, 80)
    warped = warp_backward(as_tensor(post), flow, interpolation)[0, 0].numpy()
    inner = (slice(6, -6), slice(6, -6))
    error = np.abs(warped - pre)[inner].max() / pre.std()
    assert error < 0.07  # interpolation error only (torch bicubic is Keys a=-0.75, about bilinear's)
    wrong_sign = warp_backward(as_tensor(post), -flow, interpolation)[0, 0].numpy()
    assert np.abs(wrong_sign - pre)[inner].max() / pre.std() > 5 * error


def test_rows_are_normalized_by_height_not_width():
    img = torch.arange(20 * 60, dtype=torch.float32).view(1, 1, 20, 60)  # value = 60 * row + col
    flow = torch.zeros(1, 2, 20, 60)
    flow[:, 1] = 2.0  # sample two rows below
    warped = warp_backward(img, flow, "bilinear")
    np.testing.assert_allclose(warped[0, 0, :18].numpy(), img[0, 0, 2:].numpy(), atol=1e-3)


def test_zero_flow_is_identity_and_border_is_clamped():
    img = torch.rand(2, 1, 17, 23)
    np.testing.assert_allclose(warp_backward(img, torch.zeros(2, 2, 17, 23)).numpy(), img.numpy(), atol=1e-5)
    far = torch.full((2, 2, 17, 23), 100.0)
    np.testing.assert_allclose(warp_backward(img, far, "bilinear")[:, 0].numpy(),
                               np.broadcast_to(img[:, 0, -1:, -1:].numpy(), (2, 17, 23)), atol=1e-5)


def test_pad_to_multiple_round_trip():
    img = torch.rand(1, 2, 30, 41)
    padded, pads = pad_to_multiple(img, 16)
    assert padded.shape[-2:] == (32, 48)
    torch.testing.assert_close(crop_padding(padded, pads), img)


def test_rejects_unknown_interpolation():
    with pytest.raises(ParameterError):
        warp_backward(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4), "nearest-ish")
