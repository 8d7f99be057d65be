"""Training log helpers: consecutive passes on one step axis (one test per function)."""

from __future__ import annotations

from microflow.training.logbook import TrainingLog, lineage_offsets, plot_lineage


def _log(path, steps, value):
    log = TrainingLog(path, [0, 1], 2)
    for s in steps:
        log.append({"step": s, "train_loss": 0.5, "val_epe_c0_k2": value, "val_epe_c1_k2": 2 * value})
    return path


def test_lineage_offsets_start_each_pass_where_the_previous_ends(tmp_path):
    runs = [("a", _log(tmp_path / "a.csv", [100, 200, 300], 0.1)), ("b", _log(tmp_path / "b.csv", [50, 120], 0.08)),
            ("c", _log(tmp_path / "c.csv", [10], 0.07))]
    out = lineage_offsets(runs)
    assert [(label, start) for label, _, start in out] == [("a", 0), ("b", 300), ("c", 420)]
    assert [len(rows) for _, rows, _ in out] == [3, 2, 1]


def test_plot_lineage_writes_a_png(tmp_path):
    runs = [("a", _log(tmp_path / "a.csv", [100, 200], 0.1)), ("b", _log(tmp_path / "b.csv", [100], 0.09))]
    png = tmp_path / "lineage.png"
    plot_lineage(runs, png, [0, 1], 2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
