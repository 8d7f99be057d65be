"""docs/BENCHMARKS.md and its figures from the results of :mod:`microflow.analysis.bench`.

``results`` maps a method name to the dict of
:func:`microflow.analysis.evaluate.evaluate_method`, with ``peak_rss_mb`` (peak resident memory
of the process that ran it) added. Figures are drawn with :class:`matplotlib.figure.Figure` (no
pyplot) and written atomically with :func:`microflow.analysis.plot.save_png`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from microflow.analysis.plot import DIVERGING_CMAP, NAN_COLOR, save_png
from microflow.convention import field_to_product
from microflow.synth.faultdeform import CATEGORIES, Sample

EPE_FIGURE = "bench_epe_vs_magnitude.png"
EXAMPLES_FIGURE = "bench_examples.png"


def _fmt(value, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return format(value, spec)


def summary_table(results: dict[str, dict], categories) -> str:
    """Markdown: one row per method, EPE per category and overall, time and memory."""
    head = ["method"] + [f"EPE {c} ({CATEGORIES[c]})" for c in categories] + ["EPE all", "s/MP", "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for method, result in results.items():
        per_category = [_fmt(result["categories"].get(str(c), {}).get("epe")) for c in categories]
        overall = result["overall"]
        lines.append("| " + " | ".join([f"`{method}`"] + per_category + [
            _fmt(overall["epe"]), _fmt(overall["seconds_per_mp"], ".2f"),
            _fmt(result.get("peak_rss_mb"), ".0f")]) + " |")
    return "\n".join(lines)


def detail_table(results: dict[str, dict], categories) -> str:
    """Markdown: one row per (method, category) with every accuracy and smoothness metric."""
    head = ["method", "category", "n", "EPE", "EPE near", "EPE far", "bias dx", "bias dy", "valid",
            "smooth / true", "smooth near / true", "zero EPE", "s/MP"]
    lines = ["| " + " | ".join(head) + " |", "|---|---" + "|---:" * (len(head) - 2) + "|"]
    for method, result in results.items():
        for c in categories:
            s = result["categories"].get(str(c))
            if not s:
                continue
            lines.append("| " + " | ".join([
                f"`{method}`", f"{c} ({CATEGORIES[c]})", str(s["count"]), _fmt(s["epe"]), _fmt(s["epe_near"]),
                _fmt(s["epe_far"]), _fmt(s["bias_dx"], "+.3f"), _fmt(s["bias_dy"], "+.3f"),
                _fmt(s["valid_fraction"], ".1%"), f"{_fmt(s['smooth'], '.4f')} / {_fmt(s['smooth_true'], '.4f')}",
                f"{_fmt(s['smooth_near'], '.4f')} / {_fmt(s['smooth_true_near'], '.4f')}",
                _fmt(s["zero_epe"]), _fmt(s["seconds_per_mp"], ".2f")]) + " |")
    return "\n".join(lines)


def plot_epe_vs_magnitude(results: dict[str, dict], path: str | os.PathLike) -> str:
    """Log-log EPE against true magnitude (pixels pooled over the split), one line per method.

    The dashed line ``EPE = |d|`` is the error of predicting no displacement.
    """
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    lowest, highest = np.inf, 0.0
    for method, result in results.items():
        bins = result["epe_by_magnitude"]
        edges = np.asarray(bins["edges"], float)
        centres = np.where(edges[:-1] > 0, np.sqrt(np.maximum(edges[:-1], 1e-9) * edges[1:]), edges[1:] / 2)
        epe = np.array([np.nan if v is None else v for v in bins["epe"]], float)
        use = (np.asarray(bins["count"]) > 0) & np.isfinite(epe) & (epe > 0)
        if use.any():
            ax.plot(centres[use], epe[use], marker="o", label=method)
            lowest, highest = min(lowest, centres[use].min()), max(highest, centres[use].max())
    if highest > 0:
        ref = np.array([lowest, highest])
        ax.plot(ref, ref, "k--", linewidth=1, label="zero field (EPE = |d|)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("true displacement magnitude |d| [px]")
    ax.set_ylabel("mean end-point error [px]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return save_png(fig, path)


def plot_examples(samples: list[Sample], predictions: dict[str, list[np.ndarray]], path: str | os.PathLike) -> str:
    """Grid: one row per sample; columns pre image, true EW, then EW of each method (shared limits per row).

    ``predictions[method][i]`` is the ``(2, H, W)`` [dx, dy] field of ``samples[i]``; EW (+east)
    comes from :func:`microflow.convention.field_to_product` on a north-up grid (``EW = dx``).
    """
    columns = 2 + len(predictions)
    fig = Figure(figsize=(2.3 * columns, 2.5 * len(samples) + 0.3), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(samples), columns, squeeze=False))
    for row, sample in enumerate(samples):
        true_ew, _ = field_to_product(sample.flow[0], sample.flow[1], None)
        limit = float(np.nanpercentile(np.abs(true_ew), 99)) or 1e-3
        low, high = np.nanpercentile(sample.pre, [2, 98])  # grayscale 2-98 % stretch
        panels = [("pre", np.clip((sample.pre - low) / max(high - low, 1e-12), 0, 1), "gray", None),
                  ("truth EW", true_ew, DIVERGING_CMAP, limit)]
        for method, fields in predictions.items():
            ew, _ = field_to_product(fields[row][0], fields[row][1], None)
            panels.append((method, ew, DIVERGING_CMAP, limit))
        for ax, (title, data, cmap, lim) in zip(axes[row], panels):
            ax.set_facecolor(NAN_COLOR)
            kwargs = {} if lim is None else {"vmin": -lim, "vmax": lim}
            image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, interpolation="nearest", **kwargs)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title if row == 0 else "", fontsize="small")
            if lim is not None and title == "truth EW":
                fig.colorbar(image, ax=axes[row].tolist(), shrink=0.8, label="EW [px]")
        axes[row][0].set_ylabel(f"category {sample.category}\n({CATEGORIES[sample.category]})", fontsize="small")
    return save_png(fig, path)


def benchmarks_markdown(results: dict[str, dict], *, categories, settings: dict, machine: dict,
                        notes: list[str], figures: dict[str, str], command: str, null_pairs: dict | None = None,
                        speed: dict | None = None) -> str:
    """The text of BENCHMARKS.md; ``figures`` maps a caption to a path relative to the markdown file.

    ``null_pairs``: scores of :func:`microflow.analysis.null_pairs.score_null_pairs` (a section when given);
    ``speed``: a ``benchmarks/speed_vs_release.py`` summary (:mod:`microflow.analysis.speed_report`).
    """
    lines = ["# Benchmarks", "",
             f"Generated by `{command}` (do not edit by hand). Every number below was measured by that run.", "",
             "## Setup", ""]
    lines += [f"- {key}: {value}" for key, value in settings.items()]
    lines += [f"- machine: {', '.join(f'{k} {v}' for k, v in machine.items())}", "",
              "Metrics (see `microflow.analysis.metrics`): EPE = mean |d_pred - d_true| in pixels over pixels "
              "with an estimate, `border` px from the edges excluded; *near* = within `radius` px of the fault "
              "trace, *far* = the rest; smoothness = mean joint Sobel gradient magnitude of the field (px/px), "
              "shown beside the truth's; *zero EPE* = error of predicting no displacement; s/MP = median "
              "seconds per megapixel of one `estimate_arrays` call; peak MB = peak resident memory of the "
              "process evaluating that method alone (Python, libraries and data included).", "",
              "## Summary (EPE in px)", "", summary_table(results, categories), "",
              "## Per category", "", detail_table(results, categories), ""]
    iterations = {m: r["overall"].get("epe_iterations") for m, r in results.items() if r["overall"].get("epe_iterations")}
    if iterations:
        lines += ["## EPE per iteration", ""]
        lines += [f"- `{m}`: " + ", ".join(f"{e:.3f}" for e in its) for m, its in iterations.items()]
        lines.append("")
    if null_pairs:
        from microflow.analysis.null_pairs import DEFINITION, null_table

        pairs = ", ".join(next(iter(next(iter(null_pairs.values())).values()))["per_pair"])
        lines += ["## Null pairs (zero motion, cross-band)", "",
                  "Two spectral bands of one date and one test-area window as pre and post "
                  "(`microflow.analysis.null_pairs`; skimage source: one picture under two radiometric transforms). "
                  + DEFINITION.format(border=settings.get("border", "-"), pairs=f"{pairs} (`null_size` px)"), "",
                  null_table(null_pairs), ""]
    if speed:
        from microflow.analysis.speed_report import SPEED_HEADING, speed_table

        lines += [SPEED_HEADING, "", speed_table(speed)]
    lines += ["## Figures", ""]
    for caption, rel in figures.items():
        lines += [f"**{caption}**", "", f"![{caption}]({rel})", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def write_text_atomic(path: str | os.PathLike, text: str) -> str:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return str(path)


def write_report(out_dir: str | os.PathLike, results: dict[str, dict], samples: list[Sample],
                 predictions: dict[str, list[np.ndarray]], *, categories, settings: dict, machine: dict,
                 notes: list[str], command: str, seconds: float, null_pairs: dict | None = None) -> dict:
    """Write ``BENCHMARKS.md``, ``bench_results.json`` (no per-sample records) and ``figures/bench_*.png``.

    Returns ``{"markdown": path, "figures": [paths]}``.
    """
    from microflow.analysis.evaluate import jsonable

    out_dir = Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    figures = {
        "EPE versus true displacement magnitude": plot_epe_vs_magnitude(results, figures_dir / EPE_FIGURE),
        "Example EW maps (px): truth and every method, one sample per category": plot_examples(
            samples, predictions, figures_dir / EXAMPLES_FIGURE),
    }
    relative = {caption: os.path.relpath(path, out_dir) for caption, path in figures.items()}
    settings = {**settings, "bench wall time": f"{seconds:.0f} s"}
    from microflow.analysis.speed_report import load_speed

    text = benchmarks_markdown(results, categories=categories, settings=settings, machine=machine, notes=notes,
                               figures=relative, command=command, null_pairs=null_pairs,
                               speed=load_speed(out_dir))
    markdown = write_text_atomic(out_dir / "BENCHMARKS.md", text)
    summary = {"settings": settings, "machine": machine, "notes": notes,
               "results": {m: {k: v for k, v in r.items() if k != "samples"} for m, r in results.items()}}
    if null_pairs:
        summary["null_pairs"] = null_pairs
    write_text_atomic(out_dir / "bench_results.json", json.dumps(jsonable(summary), indent=1))
    return {"markdown": markdown, "figures": list(figures.values())}
