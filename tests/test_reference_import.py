import json

import pytest
import torch

from microflow.cli.main import main
from microflow.errors import InputError
from microflow.methods.microflow import MicroFlowEstimator
from microflow.model.microflow_net import build_microflow
from microflow.model.reference_import import convert_state_dict, load_reference_state_dict
from microflow.model.weights import load_model


def reference_layout(net):
    """Our state dict renamed to the authors' layout (iteration_models.k.<FlowNetS key>)."""
    return {key.replace("backbones.", "iteration_models.", 1): value.clone() for key, value in net.state_dict().items()}


def test_convert_cli_round_trip_reproduces_outputs(tmp_path):
    torch.manual_seed(0)
    net = build_microflow(width=4, iterations=3).eval()
    ref = tmp_path / "ref.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference_layout(net).items()}}, ref)
    out = tmp_path / "converted.safetensors"
    assert main(["convert", str(ref), str(out)]) == 0
    loaded = load_model(out)
    assert loaded.config["model"] == {"width": 4, "iterations": 3, "shared_weights": False,
                                      "interpolation": "bicubic"}
    assert loaded.normalization == "minmax"
    pre, post = torch.rand(1, 1, 32, 48), torch.rand(1, 1, 32, 48)
    with torch.no_grad():
        for a, b in zip(net(pre, post), loaded.net(pre, post)):
            torch.testing.assert_close(a, b)
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["source"]["reference_checkpoint"] == "ref.pth" and len(card["source"]["reference_sha256"]) == 64
    assert main(["convert", str(ref), str(out)]) == 2  # exists, no --overwrite
    assert MicroFlowEstimator(out, device="cpu").normalization == "minmax"


def test_bare_geoflownet_can_run_shared(tmp_path):
    net = build_microflow(width=4, iterations=1)
    bare = {k.removeprefix("backbones.0."): v for k, v in net.state_dict().items()}
    state, config = convert_state_dict(bare, iterations=3)
    assert config["shared_weights"] and config["iterations"] == 3
    build_microflow(**config).load_state_dict(state)


def test_rejects_mismatched_checkpoints(tmp_path):
    state = reference_layout(build_microflow(width=4, iterations=2))
    del state["iteration_models.1.predict_flow2.weight"]
    with pytest.raises(InputError, match="missing"):
        convert_state_dict(state)
    state = reference_layout(build_microflow(width=4, iterations=2))
    state["iteration_models.1.conv2.0.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(InputError, match="shape"):
        convert_state_dict(state)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        load_reference_state_dict(bad)
