"""The full-resolution refinement head (model/refine.py) and its place in MicroFlowNet and training."""

import pytest
import torch

from microflow.errors import ParameterError
from microflow.model.microflow_net import build_microflow
from microflow.model.refine import RefineHead, build_refine_head
from microflow.model.weights import load_model, save_weights
from microflow.training.trainer import Trainer, initialize_from, parameter_groups

from test_training import TinyShiftPairs, tiny_config, tiny_val_set


def test_head_starts_at_zero_and_keeps_the_shape():
    head = RefineHead(6)
    pre, warped, flow = torch.rand(2, 1, 20, 24), torch.rand(2, 1, 20, 24), torch.randn(2, 2, 20, 24)
    out = head(pre, warped, flow)
    assert out.shape == (2, 2, 20, 24) and out.dtype == torch.float32
    assert torch.count_nonzero(out) == 0
    torch.nn.init.normal_(head.layers[-1].weight)
    assert torch.count_nonzero(head(pre, warped, flow)) > 0


def test_build_refine_head_zero_means_none_and_rejects_negative():
    assert build_refine_head(0) is None
    assert build_refine_head(3).width == 3
    with pytest.raises(ParameterError, match="refine"):
        build_refine_head(-1)


def test_a_net_with_a_fresh_head_gives_the_fields_of_the_same_net_without_it():
    torch.manual_seed(0)
    plain = build_microflow(width=4, iterations=2)
    headed = build_microflow(width=4, iterations=2, refine=4)
    headed.load_state_dict(plain.state_dict(), strict=False)
    pre, post = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        for a, b in zip(plain(pre, post), headed(pre, post)):
            torch.testing.assert_close(a, b)
    assert plain.config == {"width": 4, "iterations": 2, "shared_weights": False, "interpolation": "bicubic"}
    assert headed.config["refine"] == 4


def test_the_head_corrects_only_the_last_iteration():
    torch.manual_seed(1)
    net = build_microflow(width=4, iterations=2, refine=4)
    torch.nn.init.normal_(net.refine.layers[-1].weight, std=0.1)
    pre, post = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        full = net(pre, post)
        first_only = net(pre, post, iterations=1)
    torch.testing.assert_close(full[0], first_only[0])  # iteration 1 never refined
    net_without = net.without_refine()
    assert net_without.refine is None and "refine" not in net_without.config
    with torch.no_grad():
        assert not torch.allclose(net_without(pre, post)[-1], full[-1])


def test_weights_with_a_head_round_trip(tmp_path):
    net = build_microflow(width=4, iterations=2, refine=3)
    torch.nn.init.normal_(net.refine.layers[-1].weight)
    path = save_weights(tmp_path / "h.safetensors", net, window=32)
    loaded = load_model(path)
    assert loaded.config["model"]["refine"] == 3
    for a, b in zip(loaded.net.state_dict().values(), net.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_warm_start_adds_a_head_to_headless_weights_but_not_the_reverse(tmp_path):
    plain = build_microflow(width=4, iterations=2)
    source = save_weights(tmp_path / "plain.safetensors", plain, window=32)
    headed = build_microflow(width=4, iterations=2, refine=4)
    initialize_from(headed, str(source))
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(headed.state_dict()[key], value)
    assert torch.count_nonzero(headed.refine.layers[-1].weight) == 0
    with_head = save_weights(tmp_path / "headed.safetensors", headed, window=32)
    with pytest.raises(ParameterError, match="model.init"):
        initialize_from(build_microflow(width=4, iterations=2), str(with_head))
    with pytest.raises(ParameterError, match="model.init"):
        initialize_from(build_microflow(width=4, iterations=3, refine=4), str(source))


def test_trainer_gives_the_head_its_own_learning_rate_and_trains_it(tmp_path):
    config = tiny_config(tmp_path, "model.refine=4", "optim.refine_lr_scale=10", "run.steps=3")
    trainer = Trainer(config, tmp_path / "run", train_data=TinyShiftPairs(), val_set=tiny_val_set())
    groups = parameter_groups(trainer.net, config.optim)
    assert len(groups) == 2 and groups[1]["lr"] == pytest.approx(10 * config.optim.lr)
    assert len(trainer.optimizer.param_groups) == 2
    trainer.fit()
    assert torch.count_nonzero(trainer.net.refine.layers[-1].weight) > 0
    assert load_model(tmp_path / "run" / "final.safetensors").config["model"]["refine"] == 4


def test_drop_refine_head_script_keeps_the_backbones_and_the_card(tmp_path, repo_script):
    script = repo_script("drop_refine_head")
    net = build_microflow(width=4, iterations=2, refine=4)
    torch.nn.init.normal_(net.refine.layers[-1].weight)
    source = save_weights(tmp_path / "h.safetensors", net, window=32, card={"training": {"steps": 7}})
    assert script.main([str(source), str(tmp_path / "b.safetensors")]) == 0
    dropped = load_model(tmp_path / "b.safetensors")
    assert dropped.net.refine is None and "refine" not in dropped.config["model"]
    assert dropped.card["training"]["steps"] == 7 and "removed" in dropped.card["training"]["refine_head"]
    for key, value in dropped.net.state_dict().items():
        torch.testing.assert_close(value, net.state_dict()[key])
    assert script.main([str(tmp_path / "b.safetensors"), str(tmp_path / "c.safetensors")]) == 2  # no head


def test_average_weights_script_writes_the_weighted_mean_and_refuses_mismatches(tmp_path, repo_script):
    script = repo_script("average_weights")
    torch.manual_seed(3)
    a, b = build_microflow(width=4, iterations=2), build_microflow(width=4, iterations=2)
    pa = save_weights(tmp_path / "a.safetensors", a, window=32, card={"training": {"steps": 5}})
    pb = save_weights(tmp_path / "b.safetensors", b, window=32, card={"training": {"steps": 9}})
    assert script.main([str(tmp_path / "m.safetensors"), str(pa), str(pb), "--weights", "0.25", "0.75"]) == 0
    mean = load_model(tmp_path / "m.safetensors")
    for key, value in mean.net.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.25 * a.state_dict()[key] + 0.75 * b.state_dict()[key])
    assert "0.25 x a.safetensors" in mean.card["training"]["weight_average"]
    other = save_weights(tmp_path / "c.safetensors", build_microflow(width=4, iterations=3), window=32)
    assert script.main([str(tmp_path / "x.safetensors"), str(pa), str(other)]) == 2  # another architecture
    assert script.main([str(tmp_path / "x.safetensors"), str(pa), str(pb), "--weights", "0.5", "0.6"]) == 2
    assert script.main([str(tmp_path / "x.safetensors"), str(pa)]) == 2
    assert not (tmp_path / "x.safetensors").exists()
