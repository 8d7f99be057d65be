"""Model-against-model acceptance helpers (microflow.analysis.acceptance) and the v3 acceptance script."""

import pytest

from microflow.analysis.acceptance import iteration_check, ratio_checks, split_table, verdict_lines


def result(epe, near, iterations=(0.3, 0.2, 0.1)):
    cats = {c: {"epe": e, "epe_near": n} for c, e, n in zip("012", epe, near)}
    return {"categories": cats, "overall": {"epe_iterations": list(iterations)}}


def test_ratio_checks_limits_per_category():
    reference = result((0.10, 0.10, 0.20), (0.2, 0.4, 1.0))
    candidate = result((0.09, 0.091, 0.10), (0.17, 0.35, 0.86))
    checks = ratio_checks(candidate, reference, 0.9, {"0": 0.85, "1": 0.85, "2": 0.85}, "robust")
    assert [ok for _, ok in checks] == [True, False, True, True, False, False]
    assert "vs robust 0.1000 = 0.910x (limit 0.90x)" in checks[1][0]


def test_iteration_check_needs_the_last_below_the_first():
    assert iteration_check(result((1, 1, 1), (1, 1, 1), (0.3, 0.1, 0.2)))[1]
    assert not iteration_check(result((1, 1, 1), (1, 1, 1), (0.2, 0.1, 0.25)))[1]


def test_split_table_and_verdict_lines():
    lines = split_table([("a", result((0.1, 0.2, 0.3), (1, 2, 3)))])
    assert lines[2] == "| a | 0.1000 | 0.2000 | 0.3000 | 1.0000 | 2.0000 | 3.0000 |"
    assert verdict_lines([("x", True), ("y", False)]) == ["- PASS: x", "- FAIL: y"]


@pytest.mark.slow
def test_v3_acceptance_split_part_runs_and_judges(tmp_path, benchmark_script):
    """The reference against itself: EPE ratios of exactly 1.0 fail the 0.9x limit, the report is written."""
    script = benchmark_script("model_v3_acceptance")
    report = tmp_path / "v3.md"
    code = script.main(["--model", "robust", "--parts", "split", "--per-category", "1", "--size", "96",
                        "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--report", str(report),
                        "--threads", "1"])
    text = report.read_text()
    assert code == 1 and "ACCEPTANCE FAILED" in text
    assert "FAIL: EPE very small" in text and "= 1.000x (limit 0.90x)" in text


def test_v3_acceptance_refuses_an_unknown_model_in_one_line(tmp_path, capsys, benchmark_script):
    script = benchmark_script("model_v3_acceptance")
    report = tmp_path / "v3.md"
    code = script.main(["--model", str(tmp_path / "missing.safetensors"), "--parts", "cost", "--repeats", "1",
                        "--out", str(tmp_path / "out"), "--report", str(report), "--threads", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("model_v3_acceptance: error:")
    assert not report.exists()
