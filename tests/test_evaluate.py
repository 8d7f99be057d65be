import hashlib
import json
import re

import numpy as np
import pytest

from microflow.analysis import evaluate as E
from microflow.cli.main import main
from microflow.errors import ParameterError
from microflow.methods.base import DisplacementField
from microflow.synth.faultdeform import iter_samples


def _key(pre: np.ndarray, post: np.ndarray) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(pre, np.float32).tobytes())
    digest.update(np.ascontiguousarray(post, np.float32).tobytes())
    return digest.hexdigest()


@pytest.fixture
def use_fake_method(monkeypatch):
    """Route every method name to ``fake(pre, post, **params)`` in the API and in evaluate."""

    def install(fake):
        monkeypatch.setattr("microflow.api.get_method", lambda name: fake)
        monkeypatch.setattr("microflow.analysis.evaluate.get_method", lambda name: fake)

    return install


def oracle(root, split="test", error=(0.0, 0.0), nan_columns=0, iterations=False):
    """A fake method that answers the truth of each sample plus ``error``, NaN on the first columns."""
    truth = {_key(s.pre, s.post): s.flow for s in iter_samples(root, split)}

    def fake(pre, post, progress=False, **params):
        flow = truth[_key(pre, post)] + np.asarray(error, np.float32)[:, None, None]
        flow[:, :, :nan_columns] = np.nan
        field = DisplacementField(flow[0], flow[1], np.ones(pre.shape, np.float32))
        if iterations:
            field.iterations = [flow * 0.0, flow + 0.5, flow]
        return field

    return fake


def test_oracle_with_known_error(faultdeform_root, use_fake_method):
    root = faultdeform_root(size=48, per_category=2)
    use_fake_method(oracle(root, error=(0.3, -0.4)))
    result = E.evaluate_method(root, border=8, progress=False)
    assert set(result["categories"]) == {"0", "1", "2"}
    for summary in result["categories"].values():
        assert summary["count"] == 2
        assert summary["epe"] == pytest.approx(0.5, abs=1e-6)
        assert summary["epe_near"] == pytest.approx(0.5, abs=1e-6)
        assert summary["epe_far"] == pytest.approx(0.5, abs=1e-6)
        assert (summary["bias_dx"], summary["bias_dy"]) == (pytest.approx(0.3), pytest.approx(-0.4))
        assert summary["valid_fraction"] == 1.0
        assert summary["smooth"] == pytest.approx(summary["smooth_true"], abs=1e-6)
        assert summary["smooth_far"] == pytest.approx(0.0, abs=1e-6)
        assert summary["smooth_near"] > 0.0
        assert summary["seconds_per_mp"] > 0.0
    # the zero-field reference is the mean true magnitude: category 1 offsets (0.3,-0.2) x1 and x1.5
    assert result["categories"]["1"]["zero_epe"] == pytest.approx(np.hypot(0.3, 0.2) * 1.25, rel=1e-5)
    assert result["overall"]["count"] == 6
    assert "epe_iterations" not in result["overall"]
    assert sum(result["epe_by_magnitude"]["count"]) == 6 * (48 - 16) ** 2


def test_nan_pixels_are_excluded_and_counted(faultdeform_root, use_fake_method):
    root = faultdeform_root(size=48, per_category=1, categories=(2,))
    use_fake_method(oracle(root, error=(0.1, 0.0), nan_columns=24))
    result = E.evaluate_method(root, categories=(2,), border=8, progress=False)
    summary = result["categories"]["2"]
    assert summary["valid_fraction"] == pytest.approx(16 / 32)  # interior columns 8..39, 24.. valid
    assert summary["epe"] == pytest.approx(0.1, abs=1e-6)  # NaN is not an error of 0 or of |d|
    assert summary["smooth_true"] > 0 and np.isfinite(summary["smooth"])


def test_per_iteration_epe_and_limit(faultdeform_root, use_fake_method):
    root = faultdeform_root(size=48, per_category=3)
    use_fake_method(oracle(root, iterations=True))
    result = E.evaluate_method(root, categories=(0, 2), limit=2, border=8, progress=False)
    assert [r["category"] for r in result["samples"]].count(0) == 2
    assert result["overall"]["count"] == 4 and "1" not in result["categories"]
    it = result["overall"]["epe_iterations"]
    assert len(it) == 3 and it[1] == pytest.approx(0.5 * np.sqrt(2), abs=1e-6) and it[2] == pytest.approx(0.0)
    assert it[0] == pytest.approx(result["overall"]["zero_epe"], rel=1e-5)
    table = E.format_table(result, "markdown")
    assert "EPE per iteration" in table and table.splitlines()[1].startswith("|---|")


def test_regularize_post_processes_before_scoring(faultdeform_root, use_fake_method):
    root = faultdeform_root(size=48, per_category=1, categories=(1,))
    exact = oracle(root)

    def noisy(pre, post, **params):
        field = exact(pre, post)
        noise = np.random.default_rng(0).normal(0.0, 0.3, (2,) + pre.shape).astype(np.float32)
        return DisplacementField(field.dx + noise[0], field.dy + noise[1], field.confidence)

    use_fake_method(noisy)
    raw = E.evaluate_method(root, categories=(1,), border=8, progress=False)
    smoothed = E.evaluate_method(root, categories=(1,), border=8, progress=False, regularize="ltv")
    assert smoothed["regularize"] == "ltv" and raw["regularize"] == "none"
    assert smoothed["overall"]["epe"] < 0.6 * raw["overall"]["epe"]
    with pytest.raises(ParameterError, match="regularize"):
        E.evaluate_method(root, progress=False, regularize="median")


def test_table_styles(faultdeform_root, use_fake_method):
    root = faultdeform_root(size=48, per_category=1)
    use_fake_method(oracle(root, error=(0.0, 0.25), nan_columns=48))  # no estimate at all
    result = E.evaluate_method(root, border=8, progress=False)
    plain = E.format_table(result, "plain").splitlines()
    assert plain[0].split()[:3] == ["category", "n", "EPE"]
    assert len(plain) == 1 + 3 + 1 and plain[-1].startswith("all")
    cells = re.split(r"\s{2,}", plain[1].strip())
    assert cells[0] == "0 (very small)" and cells[2] == "-"  # EPE undefined without any estimate
    assert "0.0%" in plain[1]
    with pytest.raises(ValueError):
        E.format_table(result, "html")


def test_bad_arguments(faultdeform_root, tmp_path):
    root = faultdeform_root(size=48, per_category=1, categories=(0,))
    with pytest.raises(ValueError, match="unknown method"):
        E.evaluate_method(root, method="nope", progress=False)
    with pytest.raises(ValueError, match="categories"):
        E.evaluate_method(root, categories=(5,), progress=False)
    with pytest.raises(ValueError, match="border"):
        E.evaluate_method(root, border=-1, progress=False)
    from microflow.errors import InputError

    with pytest.raises(InputError, match="no samples"):
        E.evaluate_method(root, categories=(1,), progress=False)
    with pytest.raises(InputError, match="validation"):
        E.evaluate_method(root, split="validation", progress=False)


def test_cli_prints_table_and_writes_strict_json(faultdeform_root, use_fake_method, tmp_path, capsys):
    root = faultdeform_root(size=48, per_category=1)
    use_fake_method(oracle(root, error=(0.2, 0.0), nan_columns=0))
    out = tmp_path / "eval.json"
    rc = main(["evaluate", str(root), "--method", "freqcorr", "--categories", "1", "2", "--border", "8",
               "--json", str(out), "--quiet", "-p", "window=16"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "1 (small)" in captured.out and "2 (large)" in captured.out and "0 (very" not in captured.out
    data = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert data["params"] == {"window": 16} and data["categories"]["2"]["epe"] == pytest.approx(0.2, abs=1e-6)
    assert main(["evaluate", str(root), "--json", str(out), "--quiet"]) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err


def test_real_freqcorr_on_a_fault(faultdeform_root):
    pytest.importorskip("microflow.methods.freqcorr")
    root = faultdeform_root(size=96, per_category=1, categories=(1,))
    result = E.evaluate_method(root, method="freqcorr", categories=(1,), progress=False)
    summary = result["categories"]["1"]
    assert summary["epe_far"] < 0.1 < summary["zero_epe"]  # blocks of uniform 0.36 px shift
    assert summary["epe_near"] > summary["epe_far"]  # a window correlator blurs the fault
    assert summary["smooth_near"] < summary["smooth_true_near"]


def test_photometric_residual_prefers_the_exact_field(faultdeform_root, use_fake_method):
    root = faultdeform_root(size=64, per_category=1, categories=(2,))
    use_fake_method(oracle(root, error=(0.0, 0.0)))
    exact = E.evaluate_method(root, categories=(2,), border=8, progress=False)["categories"]["2"]
    use_fake_method(oracle(root, error=(0.8, -0.8)))
    wrong = E.evaluate_method(root, categories=(2,), border=8, progress=False)["categories"]["2"]
    assert exact["photo_residual"] < wrong["photo_residual"]
    assert exact["photo_residual"] < exact["photo_residual_zero"]
