"""Null benchmark (issue 11): deviation from a constant field, zero-motion cross-band pairs, scores."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from microflow.analysis.null_pairs import (check_null_criterion, null_deviation, null_pairs, null_table,
                                           score_null_pairs)
from microflow.errors import InputError, ParameterError

ROOT = Path(__file__).resolve().parents[1]


def landsat_pairs(count: int, size: int, seed: int):
    try:
        return null_pairs(count, size, seed=seed, source="landsat")
    except (InputError, OSError) as exc:  # offline and not cached
        pytest.skip(f"Landsat texture unavailable: {exc}")


def locate(window: np.ndarray, area: np.ndarray) -> tuple[int, int] | None:
    """Top-left (row, col) where ``window`` is an exact crop of ``area``, else None."""
    h, w = window.shape
    area = area.astype(np.float32)
    rows, cols = np.nonzero(area[:area.shape[0] - h + 1, :area.shape[1] - w + 1] == window[0, 0])
    for r, c in zip(rows, cols):
        if np.array_equal(area[r:r + h, c:c + w], window):
            return int(r), int(c)
    return None


def test_null_deviation_of_a_constant_field_is_zero():
    dx, dy = np.full((20, 30), 0.37), np.full((20, 30), -1.2)
    dx[0, :] = np.nan  # no estimate there
    assert null_deviation(dx, dy) == pytest.approx(0.0, abs=1e-12)
    assert null_deviation(dx, dy, border=3) == pytest.approx(0.0, abs=1e-12)


def test_null_deviation_of_a_known_field():
    # interior 3x2, one pixel NaN: d - median = (0, 0), (0, 0), (0, 3), (4, 0), (0, 0) -> mean |.| = 7 / 5
    dx = np.full((5, 4), 100.0)
    dy = np.full((5, 4), 100.0)
    dx[1:3, 1:3], dy[1:3, 1:3] = [[10, 10], [10, 14]], [[-5, -5], [-2, -5]]
    dx[3, 1], dy[3, 1] = np.nan, 50.0  # either component NaN: left out of the median and the mean
    dx[3, 2], dy[3, 2] = 10.0, -5.0  # a fifth pixel on the median: (0, 0)
    assert null_deviation(dx, dy, border=1) == pytest.approx(7 / 5)
    with pytest.raises(ParameterError, match="shape"):
        null_deviation(dx, dy[:-1])
    assert np.isnan(null_deviation(np.full((4, 4), np.nan), np.zeros((4, 4))))


def test_landsat_null_pairs_are_deterministic_and_from_the_test_area():
    from microflow.synth.textures import TextureBank

    pairs = landsat_pairs(1, 64, seed=3)
    assert [name for name, _, _ in pairs] == ["B2/B3#0", "B3/B4#0", "B2/B4#0"]
    again = landsat_pairs(1, 64, seed=3)
    assert all(np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2]) for a, b in zip(pairs, again))
    other = landsat_pairs(1, 64, seed=4)
    assert not np.array_equal(pairs[0][1], other[0][1])
    areas = [a.data for a in TextureBank("test", "landsat").areas]  # B2, B3, B4 of the test area
    for (name, pre, post), (i, j) in zip(pairs, [(0, 1), (1, 2), (0, 2)]):
        where = locate(pre, areas[i])
        assert where is not None, f"{name}: pre is not a crop of the test area"
        r, c = where
        assert np.array_equal(post, areas[j][r:r + 64, c:c + 64].astype(np.float32)), name


def test_cross_band_pairs_are_two_different_bands_of_one_window():
    for name, pre, post in landsat_pairs(1, 64, seed=3):
        assert pre.shape == post.shape == (64, 64) and pre.dtype == np.float32
        assert np.corrcoef(pre.ravel(), post.ravel())[0, 1] > 0.6, name  # one window
        assert np.mean(np.abs(pre - post)) > 0.01 * np.mean(pre), name  # two bands


def test_skimage_null_pairs_differ_radiometrically_only():
    pairs = null_pairs(2, 64, seed=5, source="skimage")
    assert [name for name, _, _ in pairs] == ["skimage#0", "skimage#1"]
    (_, pre, post), again = pairs[0], null_pairs(1, 64, seed=5, source="skimage")[0]
    assert np.array_equal(pre, again[1]) and np.array_equal(post, again[2])
    assert np.corrcoef(pre.ravel(), post.ravel())[0, 1] > 0.8
    assert np.mean(np.abs(pre - post)) > 100  # DN: different transforms
    with pytest.raises(ParameterError, match="exceeds"):
        null_pairs(1, 512, source="skimage")
    with pytest.raises(ParameterError, match="source"):
        null_pairs(1, 64, source="sentinel")


def test_score_null_pairs_with_freqcorr_gives_finite_small_deviations():
    pairs = null_pairs(1, 96, seed=0, source="skimage")
    scores = score_null_pairs(["freqcorr", ("freqcorr[w24]", "freqcorr", {"window": 24})], pairs, ("none", "ltv"))
    assert list(scores) == ["freqcorr", "freqcorr[w24]"]
    for label, regs in scores.items():
        assert list(regs) == ["none", "ltv"]
        for reg, s in regs.items():
            assert s["method"] == "freqcorr"
            assert np.isfinite(s["mean"]) and 0 < s["mean"] < 0.3, (label, reg, s["mean"])
            assert s["per_pair"] == {"skimage#0": s["mean"]} and s["per_combination"] == {"skimage": s["mean"]}
            assert s["median"] == s["mean"] and s["seconds_per_pair"] > 0
        assert regs["ltv"]["mean"] < regs["none"]["mean"]  # log-TV flattens the texture-induced noise
    assert scores["freqcorr"]["none"]["mean"] != scores["freqcorr[w24]"]["none"]["mean"]  # params reach it
    table = null_table(scores)
    assert f"| `freqcorr` | log-TV | {scores['freqcorr']['ltv']['mean']:.3f} |" in table
    with pytest.raises(ParameterError, match="regularizers"):
        score_null_pairs(["freqcorr"], pairs, ("magic",))


def _scores(**means):
    return {label: {reg: {"method": label.split("[")[0], "mean": m} for reg, m in regs.items()}
            for label, regs in means.items()}


def test_null_criterion_needs_the_limit_and_every_correlator():
    scores = _scores(microflow={"none": 0.2, "ltv": 0.05}, freqcorr={"none": 0.9, "ltv": 0.3},
                     ncc={"none": 0.5, "ltv": 0.06})
    ok, lines = check_null_criterion(scores, "microflow")
    assert ok and len(lines) == 3 and all(line.startswith("PASS") for line in lines)
    scores["ncc"]["ltv"]["mean"] = 0.04  # a correlator at its best beats it
    ok, lines = check_null_criterion(scores, "microflow")
    assert not ok and lines[2].startswith("FAIL") and "ncc" in lines[2]
    ok, lines = check_null_criterion(_scores(microflow={"ltv": 0.09}, freqcorr={"ltv": 0.9}), "microflow")
    assert not ok and lines[0].startswith("FAIL")
    ok, _ = check_null_criterion(_scores(microflow={"ltv": float("nan")}, freqcorr={"ltv": 0.9}), "microflow")
    assert not ok
    with pytest.raises(ParameterError, match="ltv"):
        check_null_criterion(_scores(microflow={"none": 0.01}), "microflow")


@pytest.mark.slow
def test_null_pairs_script_compares_models_and_writes_the_report(tmp_path):
    import shutil

    from microflow.model.weights import DEFAULT_MODEL, shipped_models

    if DEFAULT_MODEL not in shipped_models():
        pytest.skip("no shipped default model")
    copy = shutil.copy(shipped_models()[DEFAULT_MODEL], tmp_path / "other.safetensors")
    report = tmp_path / "NULL.md"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "null_pairs.py"), "--source", "skimage",
                          "--size", "80", "--count-per-combination", "1", "--methods", "microflow", "farneback",
                          "--model", DEFAULT_MODEL, "--models", str(copy), "--threads", "1", "--report", str(report)],
                         capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr
    text = report.read_text()
    for row in (f"`microflow[{DEFAULT_MODEL}]` | none", "`microflow[other]` | log-TV", "`farneback` | log-TV"):
        assert f"| {row} |" in text
    criterion = text.split("## Criterion (issue 11)")[1].split("##")[0]
    assert f"microflow[{DEFAULT_MODEL}] + log-TV: mean deviation" in criterion  # the default model is checked
    assert "microflow[other]" not in criterion and "farneback" in criterion
    assert ("ACCEPTANCE PASSED" in run.stdout) == (run.returncode == 0)
