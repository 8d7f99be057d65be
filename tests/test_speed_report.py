"""The speed section of BENCHMARKS.md (microflow.analysis.speed_report)."""

import json

from microflow.analysis.report import benchmarks_markdown
from microflow.analysis.speed_report import SPEED_HEADING, load_speed, replace_section, speed_table


def summary(tree_seconds=30.0):
    run = lambda s, gb: {"seconds": s, "cpu_seconds": s, "peak_rss_gb": gb, "epe": 0.02}  # noqa: E731
    return {"settings": {"release": "abc1234", "repeats": 2, "threads": 2, "command": "--sizes 2048",
                         "machine": "test CPU, 2 CPUs", "date": "2026-12-02"},
            "rows": [{"method": "microflow", "scene": "rupture", "size": 2048,
                      "best": {"release": run(60.0, 1.5), "tree": run(tree_seconds, 1.2)}}],
            "checks": [{"text": "microflow on 2048²: 2.00x", "pass": True},
                       {"text": "peak RSS 1.20 GB", "pass": False}]}


def test_speed_table_gives_throughput_ratio_and_verdicts():
    text = speed_table(summary())
    mp = 2048 ** 2 / 1e6
    assert f"| {mp / 60 * 60:.1f} | {mp / 30 * 60:.1f} | 2.00x | 1.50 | 1.20 |" in text
    assert "- PASS: microflow on 2048²: 2.00x" in text and "- FAIL: peak RSS 1.20 GB" in text
    assert "abc1234" in text and "--sizes 2048" in text


def test_replace_section_replaces_only_its_section_and_inserts_before_figures():
    page = "# B\n\n## Summary\n\nkeep\n\n## Figures\n\nfig\n"
    once = replace_section(page, SPEED_HEADING, "first\n")
    assert once.index(SPEED_HEADING) < once.index("## Figures") and "keep" in once and "fig" in once
    twice = replace_section(once, SPEED_HEADING, "second\n")
    assert twice.count(SPEED_HEADING) == 1 and "second" in twice and "first" not in twice
    assert twice.replace("second", "first") == once
    assert replace_section("# B\n", SPEED_HEADING, "x\n").endswith(f"{SPEED_HEADING}\n\nx\n\n")


def test_benchmarks_markdown_includes_the_speed_json_beside_it(tmp_path):
    assert load_speed(tmp_path) is None
    (tmp_path / "speed_vs_release.json").write_text(json.dumps(summary(20.0)))
    text = benchmarks_markdown({}, categories=[], settings={}, machine={}, notes=[], figures={},
                               command="test", speed=load_speed(tmp_path))
    assert SPEED_HEADING in text and "3.00x" in text
    assert SPEED_HEADING not in benchmarks_markdown({}, categories=[], settings={}, machine={}, notes=[],
                                                    figures={}, command="test")


def test_speed_vs_release_judges_the_epe_only_for_the_release_model(benchmark_script):
    script = benchmark_script("speed_vs_release")
    row = summary()["rows"][0]
    row["best"]["tree"]["epe"] = 0.0214  # +7 %: over the 2 % slack
    same = dict(script.verdicts(row, 4.0, "compact"))
    other = dict(script.verdicts(row, 4.0, "robust"))
    epe_same = next(text for text in same if "EPE" in text)
    epe_other = next(text for text in other if "EPE" in text)
    assert not same[epe_same] and "not judged" not in epe_same
    assert other[epe_other] and "not judged: the tree runs `robust`, the release `compact`" in epe_other
    assert next(ok for text, ok in script.verdicts(row, 4.0, "robust") if "Mpx/min" in text)  # 2.00x >= 2.0
