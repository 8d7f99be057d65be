"""Real-series checks of sigma and confidence (analysis/real_checks.py), on stand-in fields: one test per function."""

from __future__ import annotations

import numpy as np
import pytest

from microflow.analysis.real_checks import closure_coverage, pair_summary, stable_summary
from microflow.methods.base import DisplacementField

SHAPE = (120, 120)


def field(dx, dy, confidence=0.8, sigma=0.1):
    full = lambda v: np.broadcast_to(np.asarray(v, np.float32), SHAPE).copy()  # noqa: E731
    return DisplacementField(full(dx), full(dy), full(confidence), sigma=full(sigma))


def test_closure_coverage_is_about_68_percent_for_calibrated_independent_errors():
    rng = np.random.default_rng(5)
    s = 0.04
    noisy = {pair: field(1.0 + rng.normal(0, s, SHAPE), rng.normal(0, s, SHAPE), sigma=1.51 * s)
             for pair in (("a", "b"), ("b", "c"))}
    noisy["a", "c"] = field(2.0 + rng.normal(0, s, SHAPE), rng.normal(0, s, SHAPE), sigma=1.51 * s)
    region = np.zeros(SHAPE, bool)
    region[10:-10, 10:-10] = True
    out = closure_coverage(lambda a, b: noisy[a, b], [("a", "b", "c")], region)["a/b/c"]
    assert out["coverage"] == pytest.approx(0.68, abs=0.04)
    assert out["median_R"] == pytest.approx(np.sqrt(3) * 1.51 * s, rel=0.02)
    too_small = {k: field(v.dx, v.dy, sigma=0.3 * 1.51 * s) for k, v in noisy.items()}
    assert closure_coverage(lambda a, b: too_small[a, b], [("a", "b", "c")], region)["a/b/c"]["coverage"] < 0.2


def test_pair_summary_counts_low_confidence_and_no_data():
    f = field(0.5, 0.0, confidence=0.9, sigma=0.2)
    f.confidence[:60] = 0.2
    f.dx[:30] = np.nan
    f.confidence[:30] = np.nan
    region = np.ones(SHAPE, bool)
    out = pair_summary(f, region)
    assert out["low_confidence_share"] == pytest.approx(0.5)
    assert out["finite_share"] == pytest.approx(0.75)
    assert out["median_sigma"] == pytest.approx(0.2)


def test_stable_summary_removes_the_median_and_covers_the_rest():
    rng = np.random.default_rng(6)
    f = field(0.7 + rng.normal(0, 0.05, SHAPE), -0.3 + rng.normal(0, 0.05, SHAPE), sigma=1.51 * 0.05)
    stable = np.zeros(SHAPE, bool)
    stable[:, :60] = True
    f.confidence[:, 60:] = 0.3
    out = stable_summary(f, stable, ~stable)
    assert out["coverage"] == pytest.approx(0.68, abs=0.04)
    assert out["median_error"] == pytest.approx(0.05 * np.sqrt(2 * np.log(2)), rel=0.1)   # Rayleigh median
    assert out["confidence_stable"] == pytest.approx(0.8) and out["confidence_inside"] == pytest.approx(0.3)


def test_benchmark_verdicts_pass_only_a_calibrated_honest_product(benchmark_script):
    bench = benchmark_script("real_checks")
    clear = {"kind": "clear", "median_confidence": 0.8, "median_sigma": 0.05}
    result = {"perito": {"closure": {"a/b/c": {"coverage": 0.66}},
                         "pairs": {"a/b": clear, "a/x": {"kind": "cloudy", "median_confidence": 0.3, "median_sigma": 0.4}}}}
    assert all(ok for ok, _ in bench.verdicts("k", result))
    result["perito"]["closure"]["a/b/c"]["coverage"] = 0.4                  # sigma too small on real data
    result["perito"]["pairs"]["a/x"]["median_sigma"] = 0.03                 # a clouded pair that looks fine
    assert [ok for ok, _ in bench.verdicts("k", result)] == [False, False]
