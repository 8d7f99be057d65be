"""Training log: one CSV row per logged step (``log.csv``) and the loss-curve figure (``loss.png``).

Columns: ``step, epoch, seconds`` (cumulative wall time of training and validation), ``lr``, then
means since the previous row: ``train_loss, train_epe``, ``step_s`` (wall seconds per training step,
data included, validation excluded) and ``data_s`` (of which waiting for data), then
``val_epe`` (mean over categories at the last iteration) and ``val_epe_c{c}_k{k}`` (category c,
iteration k, 1-based). Cells that were not measured at a step are empty.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

BASE_COLUMNS = ["step", "epoch", "seconds", "lr", "train_loss", "train_epe", "step_s", "data_s", "val_epe"]


def validation_columns(categories, iterations: int) -> list[str]:
    return [f"val_epe_c{c}_k{k}" for c in categories for k in range(1, iterations + 1)]


class TrainingLog:
    """Append-only CSV; on resume, rows after the checkpoint's step are dropped."""

    def __init__(self, path: str | Path, categories, iterations: int, resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.columns = BASE_COLUMNS + validation_columns(categories, iterations)
        rows = self.read() if resume_step is not None and self.path.exists() else []
        rows = [r for r in rows if int(float(r["step"])) <= (resume_step or 0)]
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def append(self, row: dict) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    def read(self) -> list[dict]:
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))


def _series(rows: list[dict], column: str) -> tuple[list[int], list[float]]:
    points = [(int(float(r["step"])), float(r[column])) for r in rows if r.get(column) not in (None, "")]
    points = [(s, v) for s, v in points if math.isfinite(v) and v > 0]
    return [s for s, _ in points], [v for _, v in points]


def plot_log(log_path: str | Path, png_path: str | Path, categories, iterations: int) -> None:
    """Train loss and validation EPE per category (last iteration) against the step, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(log_path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.semilogy(*_series(rows, "train_loss"), color="0.6", lw=1, label="train loss")
    ax.semilogy(*_series(rows, "train_epe"), color="0.2", lw=1, label="train EPE (px)")
    for c in categories:
        ax.semilogy(*_series(rows, f"val_epe_c{c}_k{iterations}"), marker="o", ms=3, label=f"val EPE cat {c} (px)")
    ax.set_xlabel("step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("MicroFlow training")
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)


def lineage_offsets(runs: list[tuple[str, str | Path]]) -> list[tuple[str, list[dict], int]]:
    """(label, rows, first step) of training passes run one after the other (each warm-started from the
    previous one's weights): pass i starts where the steps of passes 0..i-1 end."""
    out, start = [], 0
    for label, path in runs:
        with Path(path).open(newline="") as f:
            rows = list(csv.DictReader(f))
        out.append((label, rows, start))
        start += max((int(float(r["step"])) for r in rows), default=0)
    return out


def plot_lineage(runs: list[tuple[str, str | Path]], png_path: str | Path, categories, iterations: int,
                 title: str = "MicroFlow training passes") -> None:
    """Validation EPE per category (last iteration) of consecutive passes on one step axis, a vertical
    line and a label at each pass's start (log scale). Each pass validates on its own config's samples,
    so a level change at a boundary can be the validation set's, not the model's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows, start) in enumerate(lineage_offsets(runs)):
        ax.axvline(start, color="0.7", lw=0.8)
        ax.text(start, 1.0, f" {label}", transform=ax.get_xaxis_transform(), rotation=90, va="top",
                ha="left", fontsize=7, color="0.3")
        for j, c in enumerate(categories):
            steps, values = _series(rows, f"val_epe_c{c}_k{iterations}")
            ax.semilogy([start + s for s in steps], values, marker="o", ms=2, lw=1, color=colours[j % len(colours)],
                        label=f"val EPE cat {c} (px)" if i == 0 else None)
    ax.set_xlabel("cumulative step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
