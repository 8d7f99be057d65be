import numpy as np
import pytest
import torch

from microflow.errors import ParameterError
from microflow.model.geoflownet import count_parameters
from microflow.model.loss import end_point_error, iteration_weights, sequence_loss
from microflow.model.microflow_net import build_microflow
from microflow.model.normalization import image_stats, normalize, normalize_pair, robust_stats
from microflow.model.warp import warp_backward


def test_forward_returns_k_full_resolution_fields_on_odd_sizes():
    torch.manual_seed(0)
    net = build_microflow(width=4, iterations=3)
    flows = net(torch.randn(2, 1, 37, 50), torch.randn(2, 1, 37, 50))
    assert len(flows) == 3 and all(f.shape == (2, 2, 37, 50) for f in flows)
    assert len(net(torch.randn(1, 1, 32, 32), torch.randn(1, 1, 32, 32), iterations=2)) == 2


def test_forward_follows_the_algorithm():
    torch.manual_seed(1)
    net = build_microflow(width=4, iterations=3, interpolation="bilinear").eval()
    pre, post = torch.randn(1, 1, 32, 48), torch.randn(1, 1, 32, 48)
    with torch.no_grad():
        flows = net(pre, post)
        f1 = net.backbones[0](torch.cat([pre, post], 1))
        f2 = f1 + net.backbones[1](torch.cat([pre, warp_backward(post, f1, "bilinear")], 1))
        f3 = f2 + net.backbones[2](torch.cat([pre, warp_backward(post, f2, "bilinear")], 1))
    for got, want in zip(flows, [f1, f2, f3]):
        torch.testing.assert_close(got, want)
    assert not torch.allclose(flows[1], flows[0])


def test_shared_weights_has_one_backbone_and_may_iterate_more():
    separate, shared = build_microflow(8, 3), build_microflow(8, 3, shared_weights=True)
    assert count_parameters(separate) == 3 * count_parameters(shared)
    assert len(shared(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), iterations=5)) == 5
    with pytest.raises(ParameterError):
        separate(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), iterations=4)


def test_loss_weights_are_gamma_powers():
    assert iteration_weights(3, 0.8) == pytest.approx([0.64, 0.8, 1.0])
    target = torch.zeros(1, 2, 4, 4)
    flows = [torch.full((1, 2, 4, 4), v) for v in (1.0, 2.0, 3.0)]
    assert sequence_loss(flows, target).item() == pytest.approx(0.64 * 1 + 0.8 * 2 + 3.0)
    valid = torch.zeros(1, 4, 4, dtype=torch.bool)
    valid[0, 0, 0] = True
    flows[2][0, :, 0, 0] = 0.0
    assert sequence_loss(flows, target, valid=valid).item() == pytest.approx(0.64 + 1.6)


def test_end_point_error_is_euclidean():
    flow = torch.zeros(1, 2, 3, 3)
    flow[:, 0], flow[:, 1] = 3.0, 4.0
    assert end_point_error(flow, torch.zeros_like(flow)).item() == pytest.approx(5.0)


def test_robust_normalization_absorbs_gain_and_offset_and_ignores_nan():
    rng = np.random.default_rng(0)
    img = rng.normal(100.0, 7.0, (64, 64)).astype(np.float32)
    center, scale = robust_stats(img)
    assert center == pytest.approx(100.0, abs=0.5) and scale == pytest.approx(7.0, rel=0.05)
    img[0, :5] = np.nan
    bright = 3.0 * img + 50.0
    pre_n, post_n = normalize_pair(img, bright)
    np.testing.assert_allclose(post_n[1:], pre_n[1:], atol=1e-4)
    assert abs(np.nanmedian(pre_n)) < 1e-6
    assert np.isnan(post_n[0, :5]).all()


def test_precomputed_stats_and_minmax_mode():
    img = np.array([[0.0, 2.0], [4.0, 8.0]], np.float32)
    np.testing.assert_allclose(normalize_pair(img, img, "minmax")[0], img / 8.0)
    given = normalize_pair(img, img, pre_stats=(1.0, 2.0), post_stats=(0.0, 4.0))
    np.testing.assert_allclose(given[0], (img - 1.0) / 2.0)
    np.testing.assert_allclose(given[1], img / 4.0)
    assert image_stats(np.full((4, 4), 5.0))[1] == 1.0  # constant image: no division by zero
    assert normalize(img, *image_stats(img, "minmax")).max() == 1.0
    with pytest.raises(ParameterError):
        image_stats(img, "zscore-ish")


# --------------------------------------------------------------------------- weights and inference
def test_weights_round_trip_with_embedded_config(tmp_path):
    from safetensors.torch import save_file

    from microflow.errors import InputError
    from microflow.model.weights import load_model, read_weights, save_weights

    torch.manual_seed(0)
    net = build_microflow(width=4, iterations=2, shared_weights=True, interpolation="bilinear")
    path = save_weights(tmp_path / "m.safetensors", net, normalization="robust", window=64,
                        card={"metrics": {"epe_per_category": {"0": [0.5, 0.25]}}})
    _, config = read_weights(path)
    assert config == {"model": net.config, "normalization": "robust", "window": 64}
    loaded = load_model(path)
    assert loaded.window == 64 and not loaded.net.training
    for a, b in zip(net.parameters(), loaded.net.parameters()):
        torch.testing.assert_close(a, b)
    assert loaded.card["sha256"] == loaded.sha256
    assert "| 0 | 0.5000 | 0.2500 |" in path.with_suffix(".md").read_text()
    save_file({"x": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(InputError, match="not a microflow-geo"):
        load_model(tmp_path / "foreign.safetensors")


def test_model_card_lists_the_generator_switches_flat():
    from microflow.model.weights import flatten_keys, model_card_markdown

    assert flatten_keys({"a": 1, "world": {"p_box": 0.25, "x": {"y": 2}}}) == {"a": 1, "world.p_box": 0.25,
                                                                               "world.x.y": 2}
    card = {"name": "w", "weights_file": "w.safetensors", "sha256": "0" * 64, "parameters": 10,
            "created": "today", "config": {"model": {"width": 8, "iterations": 3, "shared_weights": False,
                                                     "interpolation": "bicubic"}, "normalization": "robust"},
            "data_switches": {"cross_band": 0.4, "world": {"p_flow": 0.3}}}
    text = model_card_markdown(card)
    assert "## Data switches" in text and "- world.p_flow: 0.3" in text and "- cross_band: 0.4" in text


def test_missing_shipped_model_is_a_clear_error(tmp_path, monkeypatch):
    from microflow.errors import MicroflowError
    from microflow.model import weights

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(MicroflowError, match="no MicroFlow model named 'compact'.*none shipped"):
        weights.load_model("compact")
    save_weights_path = weights.save_weights(tmp_path / "tiny.safetensors", build_microflow(4, 1))
    assert weights.shipped_models() == {"tiny": save_weights_path}
    assert weights.load_model("tiny").name == "tiny"


def test_estimator_and_method_shapes_and_confidence(tmp_path):
    from microflow.methods import get_method
    from microflow.methods.microflow import TILING_WINDOW, MicroFlowEstimator
    from microflow.model.weights import save_weights

    torch.manual_seed(0)
    path = save_weights(tmp_path / "m.safetensors", build_microflow(4, 2), window=48)
    estimator = MicroFlowEstimator(path, device="cpu", threads=2, batch_size=2)
    assert estimator.loaded.window == 48 and estimator.preferred_window == TILING_WINDOW
    rng = np.random.default_rng(0)
    pre = rng.normal(100, 10, (3, 40, 56)).astype(np.float32)
    post = pre * 2.0 + 7.0
    out = estimator.predict(pre, post)
    assert out.shape == (3, 3, 40, 56) and out.dtype == np.float32
    assert np.isfinite(out).all() and (out[:, 2] >= 0).all() and (out[:, 2] <= 1).all()
    own = [robust_stats(pre[1]), robust_stats(post[1])]
    np.testing.assert_allclose(estimator.predict(pre[1:2], post[1:2], *own), out[1:2], atol=1e-4, rtol=1e-4)
    shifted = estimator.predict(pre[1:2], post[1:2], own[0], (own[1][0] + own[1][1], own[1][1]))
    assert np.abs(shifted[0, :2] - out[1, :2]).max() > 1e-4  # given stats are used
    field = get_method("microflow")(pre[0], post[0], model=str(path), device="cpu")
    np.testing.assert_allclose(field.dx, out[0, 0], atol=1e-4, rtol=1e-4)
    assert field.shape == (40, 56)


def test_large_arrays_are_estimated_in_blended_windows(tmp_path, monkeypatch):
    import microflow.methods.microflow as mf
    from microflow.api import estimate_arrays
    from microflow.errors import InputError
    from microflow.model.weights import save_weights
    from microflow.tiling.normalization_stats import array_statistics
    from scipy.ndimage import gaussian_filter

    torch.manual_seed(0)
    path = save_weights(tmp_path / "m.safetensors", build_microflow(4, 2), window=64)
    monkeypatch.setattr(mf, "TILING_WINDOW", 0)  # windows of the tiny model's 64 px
    monkeypatch.setattr(mf, "MAX_SINGLE_WINDOW_PIXELS", 96 * 96)
    pre = gaussian_filter(np.random.default_rng(1).normal(size=(140, 170)), 1.5).astype(np.float32)
    post = pre * 1.5 + 3.0
    post[100:104, 120:125] = np.nan
    with pytest.raises(InputError, match="estimate_arrays"):  # the method alone does not tile
        mf.estimate(pre, post, model=str(path), device="cpu")
    field = estimate_arrays(pre, post, model=str(path), device="cpu", threads=1, batch_size=3)
    assert field.shape == (140, 170) and field.iterations is None
    assert np.isnan(field.dx[100:104, 120:125]).all() and np.isnan(field.confidence[100:104, 120:125]).all()
    assert np.isfinite(field.dx[:100]).all()
    estimator = mf.MicroFlowEstimator(path, device="cpu", threads=1)
    stats = array_statistics(pre, post)  # global statistics, as the tiler computes them
    first = estimator.predict(pre[None, :64, :64], post[None, :64, :64], *stats)[0]
    # windows of 64 px every 48: only the first covers the top-left 48 x 48 px (batches of 3 windows vs 1:
    # float32 noise of the random tiny model's large values, ~1e-5 px)
    np.testing.assert_allclose(field.dx[:48, :48], first[0, :48, :48], atol=1e-4)
    np.testing.assert_allclose(field.dy[:48, :48], first[1, :48, :48], atol=1e-4)


def test_methods_never_import_the_tiler():
    """One-way dependency: tiling/ imports methods/ (predictors), methods/ never imports tiling/."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    import microflow.methods

    folder = Path(microflow.methods.__file__).parent
    pattern = re.compile(r"^\s*(from|import)\s+microflow\.tiling|import_module\(\s*[\"']microflow\.tiling", re.M)
    offenders = [p.name for p in folder.glob("*.py") if pattern.search(p.read_text())]
    assert not offenders, f"methods/ imports the tiler: {offenders}"
    code = ("import sys, microflow.methods as m, microflow.methods.microflow\n"
            "[m.get_method(n) for n in m.available_methods()]\n"
            "print(sorted(k for k in sys.modules if k.startswith('microflow.tiling')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_confidence_drops_where_warped_post_disagrees():
    from microflow.methods.microflow import confidence_map

    pre = torch.zeros(1, 1, 32, 32)
    post = pre.clone()
    post[..., 16:, :] = 3.0  # "temporal change" in the lower half
    zero = torch.zeros(1, 2, 32, 32)
    conf = confidence_map(pre, post, [zero, zero])
    assert conf[..., :8, :].min() == pytest.approx(1.0) and conf[..., 24:, :].max() < 1e-3
    moving = zero.clone()
    moving[:, 0] = 0.2
    assert confidence_map(pre, pre, [zero, moving])[..., :8, :].max() < 0.2
