"""Local window statistics: box mean, standard deviation and ZNCC."""

import torch

from microflow.methods.local_stats import box_mean, local_std, local_zncc, zncc_stats


def test_box_mean_keeps_constants_and_averages_a_window():
    constant = torch.full((1, 1, 9, 12), 2.5)
    torch.testing.assert_close(box_mean(constant, 5), constant)
    spike = torch.zeros(1, 1, 9, 9)
    spike[0, 0, 4, 4] = 9.0
    out = box_mean(spike, 3)
    assert out[0, 0, 4, 4] == 1.0 and out[0, 0, 3, 5] == 1.0 and out[0, 0, 1, 1] == 0.0


def test_local_std_is_zero_on_flat_images_and_one_on_unit_noise():
    torch.manual_seed(0)
    assert float(local_std(torch.full((1, 1, 20, 20), 4.0), 7).abs().max()) < 1e-3
    noise = torch.randn(1, 1, 200, 200)
    assert abs(float(local_std(noise, 15).mean()) - 1.0) < 0.05


def test_zncc_ignores_gain_and_offset_and_sees_form():
    torch.manual_seed(1)
    a = torch.randn(1, 1, 64, 64)
    torch.testing.assert_close(local_zncc(a, 3.0 * a - 2.0, 9), torch.ones_like(a), atol=1e-3, rtol=0)
    torch.testing.assert_close(local_zncc(a, -a, 9), -torch.ones_like(a), atol=1e-3, rtol=0)
    unrelated = local_zncc(a, torch.randn(1, 1, 64, 64), 15)
    assert float(unrelated.abs().mean()) < 0.1


def test_separable_box_mean_equals_the_two_dimensional_window():
    torch.manual_seed(2)
    values = torch.rand(2, 1, 40, 33)
    padded = torch.nn.functional.pad(values, (7, 7, 7, 7), mode="replicate")
    direct = torch.nn.functional.avg_pool2d(padded, 15, stride=1)
    torch.testing.assert_close(box_mean(values, 15), direct, atol=1e-6, rtol=0)


def test_zncc_with_precomputed_stats_of_the_first_image_is_the_same():
    torch.manual_seed(3)
    a, b = torch.randn(1, 1, 48, 48), torch.randn(1, 1, 48, 48)
    torch.testing.assert_close(local_zncc(a, b, 9, zncc_stats(a, 9)), local_zncc(a, b, 9))
