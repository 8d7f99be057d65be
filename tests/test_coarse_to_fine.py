"""Coarse-to-fine MicroFlow (large displacements): pyramid rules, the starting field, the range."""

import numpy as np
import pytest
import torch

from microflow.errors import ParameterError
from microflow.methods import coarse_to_fine as C
from microflow.model.microflow_net import build_microflow
from microflow.synth.forward import constant_field, warp_by_field
from microflow.synth.textures import TextureBank


def test_pyramid_levels_reach_the_range_and_keep_the_coarsest_level_usable():
    assert C.pyramid_levels(4.0, (512, 512)) == 0
    assert C.pyramid_levels(4.1, (512, 512)) == 1
    assert C.pyramid_levels(32.0, (512, 512)) == 3          # 32 / 2^3 = 4 px
    assert C.pyramid_levels(32.0, (96, 512)) == 1           # 96 / 2 = 48 >= 32, 96 / 4 = 24 < 32
    with pytest.raises(ParameterError):
        C.pyramid_levels(0.0, (512, 512))


def test_upsample_field_doubles_values_and_size():
    field = torch.ones(1, 2, 8, 10) * torch.tensor([1.5, -0.5]).view(1, 2, 1, 1)
    up = C.upsample_field(field, (16, 20))
    assert up.shape == (1, 2, 16, 20)
    torch.testing.assert_close(up[0, :, 5, 5], torch.tensor([3.0, -1.0]))


def test_gate_is_zero_in_the_native_range_and_identity_beyond():
    field = torch.zeros(1, 2, 1, 3)
    field[0, 0] = torch.tensor([C.GATE_LOW_PX * 0.5, (C.GATE_LOW_PX + C.GATE_HIGH_PX) / 2, C.GATE_HIGH_PX * 2])
    gated = C.gate(field)[0, 0, 0]
    assert gated[0] == 0 and gated[2] == field[0, 0, 0, 2]
    assert 0 < gated[1] < field[0, 0, 0, 1]


def test_gaussian_smooth_keeps_constants_and_removes_noise():
    torch.manual_seed(0)
    constant = torch.full((1, 2, 20, 30), 3.0)
    torch.testing.assert_close(C.gaussian_smooth(constant), constant)
    noise = torch.randn(1, 2, 64, 64)
    assert C.gaussian_smooth(noise).std() < 0.3 * noise.std()


def test_network_with_a_zero_start_equals_the_plain_network():
    torch.manual_seed(2)
    net = build_microflow(width=4, iterations=2).eval()
    pre, post = torch.randn(1, 1, 32, 48), torch.randn(1, 1, 32, 48)
    with torch.no_grad():
        plain = net(pre, post)
        started = net(pre, post, init=torch.zeros(1, 2, 32, 48))
    for a, b in zip(plain, started):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    with pytest.raises(ParameterError):
        net(pre, post, init=torch.zeros(1, 2, 16, 16))


def _shifted(shift: tuple[float, float], size: int = 256):
    margin = int(max(abs(s) for s in shift)) + 8
    texture = TextureBank("test", "skimage", augment=False).sample(np.random.default_rng(3), size + 2 * margin,
                                                                   size + 2 * margin)
    return warp_by_field(texture, constant_field(*shift), margin)


def test_sub_pixel_pairs_run_without_a_pyramid():
    from microflow.methods.microflow import MicroFlowEstimator

    est = MicroFlowEstimator("compact", threads=1)
    pre, post = _shifted((0.4, -0.3))
    a, b = (torch.from_numpy(est._normalized(img[None], None)[:, None]) for img in (pre, post))
    assert C.initial_field(est.net, a, b, 32.0) is None


def test_default_microflow_measures_a_large_shift_that_the_native_range_misses():
    from microflow.methods.microflow import estimate

    shift = (12.3, -7.6)
    pre, post = _shifted(shift)
    inner = (slice(32, -32), slice(32, -32))
    errors = {}
    for max_displacement in (4.0, 32.0):
        field = estimate(pre, post, max_displacement=max_displacement, threads=1)
        errors[max_displacement] = float(np.hypot(field.dx - shift[0], field.dy - shift[1])[inner].mean())
    assert errors[32.0] < 0.25
    assert errors[4.0] > 3.0


def test_initial_field_reports_each_level_coarsest_first():
    from microflow.methods.microflow import MicroFlowEstimator

    est = MicroFlowEstimator("compact", threads=1)
    pre, post = _shifted((12.3, -7.6))
    a, b = (torch.from_numpy(est._normalized(img[None], None)[:, None]) for img in (pre, post))
    levels: list = []
    start = C.initial_field(est.net, a, b, 32.0, levels_out=levels)
    assert [lv for lv, _ in levels] == [3, 2, 1]
    assert [f.shape[-1] for _, f in levels] == [32, 64, 128]
    fine = C.upsample_field(levels[-1][1], (256, 256))[0, :, 32:-32, 32:-32]
    mean = fine.mean(dim=(1, 2))
    assert abs(float(mean[0]) - 12.3) < 0.5 and abs(float(mean[1]) + 7.6) < 0.5
    np.testing.assert_allclose(start[0, :, 32:-32, 32:-32].numpy(), fine.numpy(), atol=1e-5)  # gate open: f_0 = F


def test_renormalize_takes_its_statistics_from_valid_pixels_and_zeroes_the_rest():
    torch.manual_seed(0)
    image = 2.0 * torch.randn(1, 1, 64, 64)   # normalized at full resolution: the fill 0 is its median
    valid = torch.ones(1, 1, 64, 64, dtype=torch.bool)
    valid[..., 32:] = False
    filled = torch.where(valid, image, torch.zeros(()))   # half the window is the zero fill of no-data
    out = C.renormalize(filled, valid)
    inside = out[valid]
    assert abs(float(inside.median())) < 0.05 and 0.9 < float(inside.std()) < 1.1
    assert float(out[~valid].abs().max()) == 0.0
    spread = C.renormalize(filled)[valid].std()     # without the mask the fill collapses the IQR
    assert float(spread) > 10.0 * float(inside.std())


def test_renormalize_batch_equals_each_window_alone_and_zeroes_an_empty_one():
    torch.manual_seed(1)
    images = torch.randn(3, 1, 32, 32) * torch.tensor([1.0, 5.0, 2.0]).view(3, 1, 1, 1) + 3.0
    valid = torch.rand(3, 1, 32, 32) > 0.3
    valid[2] = False                                   # a window that is all no-data
    out = C.renormalize(images, valid)
    for i in range(2):
        alone = C.renormalize(images[i:i + 1], valid[i:i + 1])
        np.testing.assert_allclose(out[i:i + 1].numpy(), alone.numpy(), atol=1e-6)
        median, scale = C.median_and_scale(images[i][valid[i]])
        np.testing.assert_allclose(out[i][valid[i]].numpy(), ((images[i][valid[i]] - median) / scale).numpy(), atol=1e-5)
    assert torch.isfinite(out).all() and float(out[2].abs().max()) == 0.0


def test_clamp_magnitude_bounds_the_field_and_keeps_its_direction():
    field = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1) * torch.tensor([1.0, 100.0]).view(1, 1, 1, 2)
    out = C.clamp_magnitude(field, 10.0)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(out[0, :, 0, 1], torch.tensor([6.0, 8.0]))


def test_a_half_no_data_window_gets_a_bounded_start_near_the_shift():
    """Real scenes (a glacier outline, --nodata 0) give windows that are mostly fill: the start stays right."""
    from microflow.methods.microflow import MicroFlowEstimator, no_data_masks

    est = MicroFlowEstimator("compact", threads=1)
    shift = (9.0, -5.0)
    pre, post = _shifted(shift)
    pre, post = pre.copy(), post.copy()
    pre[:, 100:] = np.nan     # 61 % fill: without the mask its zeros collapse each level's IQR (start: -8, +6 px)
    post[:, 100:] = np.nan
    a, b = (torch.from_numpy(est._normalized(img[None], None)[:, None]) for img in (pre, post))
    start = C.initial_field(est.net, a, b, 32.0, valid=no_data_masks(pre[None], post[None], "cpu"))
    assert float(torch.linalg.vector_norm(start, dim=1).max()) <= 32.0 + 1e-3
    inner = start[0, :, 40:-40, 30:80].mean(dim=(1, 2))
    assert abs(float(inner[0]) - shift[0]) < 1.0 and abs(float(inner[1]) - shift[1]) < 1.0


def test_a_window_moving_a_little_below_the_native_range_still_starts_the_pyramid():
    """STOP_PX keeps a margin below NATIVE_RANGE_PX: a coarse reading of 3.5 px must not stop the pyramid
    (at 4.5 px a model reading 5 px of ice a little low lost the window's range)."""
    from microflow.methods.microflow import MicroFlowEstimator

    assert C.STOP_PX < C.NATIVE_RANGE_PX
    est = MicroFlowEstimator("compact", threads=1)
    pre, post = _shifted((3.2, -1.9))  # |d| = 3.7 px
    a, b = (torch.from_numpy(est._normalized(img[None], None)[:, None]) for img in (pre, post))
    start = C.initial_field(est.net, a, b, 32.0)
    assert start is not None
    inner = start[0, :, 48:-48, 48:-48].mean(dim=(1, 2))
    assert abs(float(inner[0]) - 3.2) < 0.5 and abs(float(inner[1]) + 1.9) < 0.5
