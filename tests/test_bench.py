import json
import subprocess
import sys

import pytest

from microflow.analysis import report
from microflow.analysis.bench import microflow_model_status

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_bench_quick_on_a_tiny_split(faultdeform_root, tmp_path, cli):
    root = faultdeform_root(size=64, per_category=1)
    out = tmp_path / "docs"
    rc, _, err = cli("bench", "--quick", "--out", out, "--data", root, "--methods", "freqcorr", "farneback",
                     "microflow", "--quiet")
    assert rc == 0, err
    text = (out / "BENCHMARKS.md").read_text()
    summary = text.split("## Summary (EPE in px)")[1].split("##")[0]
    rows = {line.split("|")[1].strip(): line for line in summary.splitlines() if line.startswith("| `")}
    assert {"`freqcorr`", "`farneback`"} <= set(rows)
    raw = json.loads((out / "bench_results.json").read_text())
    for method in ("freqcorr", "farneback"):
        result = raw["results"][method]
        assert result["overall"]["epe"] < result["overall"]["zero_epe"]
        assert 10 < result["peak_rss_mb"] < 5000 and result["overall"]["seconds_per_mp"] > 0
        assert f"{result['overall']['epe']:.3f}" in rows[f"`{method}`"]
        null = raw["null_pairs"][method]["ltv"]["mean"]  # the zero-motion skimage pair, log-TV
        assert 0 <= null < 0.5 and f"| `{method}` | log-TV | {null:.3f} |" in text.split("## Null pairs")[1]
    if microflow_model_status()[0]:
        assert "`microflow` skipped" in text and "microflow" not in raw["results"]
    else:
        assert "`microflow`" in rows
    for name in (report.EPE_FIGURE, report.EXAMPLES_FIGURE):
        data = (out / "figures" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
        assert f"(figures/{name})" in text


def test_bench_rejects_unknown_methods(tmp_path, cli, clean_failure):
    clean_failure(cli("bench", "--quick", "--out", tmp_path, "--methods", "magic", "--quiet"), "magic")


def _result(epe_by_category: dict, peak=123.0):
    categories = {str(c): {"count": 2, "epe": e, "name": "x"} for c, e in epe_by_category.items()}
    return {"categories": categories, "overall": {"epe": 0.5, "seconds_per_mp": 1.25},
            "peak_rss_mb": peak}


def test_summary_table_marks_missing_values():
    table = report.summary_table({"a": _result({0: 0.1234, 2: float("nan")}), "b": _result({1: 0.2})}, (0, 1, 2))
    lines = table.splitlines()
    assert len(lines) == 4 and lines[1].count("---:") == 6
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["`a`", "0.123", "-", "-", "0.500", "1.25", "123"]
    assert [c.strip() for c in lines[3].split("|")[2:5]] == ["-", "0.200", "-"]


def test_peak_memory_sees_an_allocation_in_a_fresh_process():
    code = ("import numpy as np; from microflow.analysis.bench import peak_memory_mb; "
            "a = peak_memory_mb(); b = np.ones(2 ** 25); print(a, peak_memory_mb())")
    before, after = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                              check=True).stdout.split())
    assert 10 < before < 1000
    assert after - before == pytest.approx(2 ** 25 * 8 / 1e6, rel=0.2)  # 268 MB of float64 ones
