import pytest
import torch

from microflow.errors import ParameterError
from torch import nn

from microflow.model.geoflownet import build_geoflownet, conv_of_concat, count_parameters, deconv_block


def test_paper_width_has_exact_parameter_count():
    with torch.device("meta"):  # shapes only: no memory, no init cost
        net = build_geoflownet(64)
    assert count_parameters(net) == 38_002_512


def test_concat_widths_and_module_names_follow_flownets():
    with torch.device("meta"):
        net = build_geoflownet(64)
    keys = set(net.state_dict())
    assert {"conv1.0.weight", "conv1.0.bias", "conv6_1.0.weight", "deconv5.0.weight", "predict_flow2.weight",
            "upsampled_flow6_to_5.weight", "upsampled_flow3_to_2.weight"} <= keys
    assert not any("bias" in k for k in keys if k.startswith(("deconv", "predict", "upsampled")))
    assert [net.predict_flow5.in_channels, net.predict_flow4.in_channels, net.predict_flow3.in_channels,
            net.predict_flow2.in_channels] == [1026, 770, 386, 194]


def test_compact_forward_is_full_resolution_flow():
    torch.manual_seed(0)
    net = build_geoflownet(4)
    out = net(torch.randn(2, 2, 32, 48))
    assert out.shape == (2, 2, 32, 48)
    assert torch.isfinite(out).all() and out.abs().sum() > 0


def test_init_is_kaiming_with_zero_bias():
    torch.manual_seed(0)
    net = build_geoflownet(16)
    assert net.conv3[0].bias.detach().abs().max().item() == 0.0
    fan_in = net.conv4_1[0].weight[0].numel()
    expected_std = (2.0 / (1 + 0.1 ** 2) / fan_in) ** 0.5
    assert net.conv4_1[0].weight.std().item() == pytest.approx(expected_std, rel=0.05)


def test_width_must_be_positive():
    with pytest.raises(ParameterError):
        build_geoflownet(0)


@pytest.mark.parametrize("layer", [nn.Conv2d(7, 3, 3, 1, 1, bias=True), nn.ConvTranspose2d(7, 3, 4, 2, 1, bias=False),
                                   deconv_block(7, 3)])
def test_conv_of_concat_equals_the_layer_on_the_concatenation(layer):
    torch.manual_seed(0)
    parts = [torch.randn(2, c, 9, 11) for c in (4, 1, 2)]
    with torch.no_grad():
        expected = layer(torch.cat(parts, 1))
        got = conv_of_concat(layer, parts)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ParameterError):
        conv_of_concat(layer, parts[:2])


def test_forward_equals_flownets_decoder_with_concatenations():
    torch.manual_seed(0)
    net = build_geoflownet(4).eval()
    pair = torch.randn(1, 2, 48, 64)
    with torch.no_grad():
        c2, c3, c4, c5, c6 = net.encode(pair)
        flow = net.predict_flow6(c6)
        x = c6
        for skip, deconv, up, predict in ((c5, net.deconv5, net.upsampled_flow6_to_5, net.predict_flow5),
                                          (c4, net.deconv4, net.upsampled_flow5_to_4, net.predict_flow4),
                                          (c3, net.deconv3, net.upsampled_flow4_to_3, net.predict_flow3),
                                          (c2, net.deconv2, net.upsampled_flow3_to_2, net.predict_flow2)):
            x = torch.cat([skip, deconv(x), up(flow)], 1)
            flow = predict(x)
        torch.testing.assert_close(net(pair), flow, atol=1e-5, rtol=1e-5)
