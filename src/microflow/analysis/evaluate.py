"""Evaluate a displacement method on a FaultDeform-format split, per displacement category.

Each metric of :mod:`microflow.analysis.metrics` is computed per sample on the interior
(``border`` px from the edges excluded), near the fault (within ``radius`` px of the trace, when
the sample has a fault mask) and far from it, then averaged over the samples of a category
(a sample where a metric is undefined, e.g. no fault mask, is skipped for that metric).

References printed beside the method: ``zero_epe``, the EPE of predicting no displacement
(= mean true magnitude), and ``smooth_true*``, the smoothness of the true field on the same
pixels. ``photo_residual`` is the truth-free photometric residual of
:mod:`microflow.analysis.photometric` (1 - local NCC of pre and post warped by the estimate; lower is
better), beside ``photo_residual_zero`` for the unwarped post. Time is wall-clock seconds of :func:`microflow.api.estimate_arrays` per megapixel
(median over samples, so a one-off warm-up such as loading a model does not dominate).

Methods that expose their intermediate estimates as ``field.iterations`` (a sequence of
``(2, H, W)`` ``[dx, dy]`` arrays or :class:`~microflow.methods.base.DisplacementField`) also get
``epe_iterations``, the EPE after each iteration.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Iterable

import numpy as np

from microflow.analysis import metrics as M
from microflow.analysis.photometric import photometric_residual
from microflow.errors import InputError, ParameterError
from microflow.methods import get_method
from microflow.synth.faultdeform import CATEGORIES, Sample, list_samples, read_sample

MAGNITUDE_EDGES = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0])
"""Bins of true displacement magnitude [px] for ``epe_by_magnitude``."""

SUMMARY_KEYS = ("epe", "epe_near", "epe_far", "bias_dx", "bias_dy", "valid_fraction",
                "smooth", "smooth_near", "smooth_far", "smooth_true", "smooth_true_near",
                "smooth_true_far", "zero_epe", "photo_residual", "photo_residual_zero", "seconds", "seconds_per_mp")


def _flow_of(estimate) -> np.ndarray:
    """``(2, H, W)`` float array from a DisplacementField or an array-like flow."""
    if hasattr(estimate, "stack"):
        return estimate.stack()
    return np.asarray(estimate, np.float32)


def sample_metrics(pred: np.ndarray, sample: Sample, border: int = M.DEFAULT_BORDER,
                   radius: float = M.NEAR_FAULT_RADIUS) -> dict:
    """Every metric of one prediction ``(2, H, W)`` against ``sample.flow`` (see module doc)."""
    true = sample.flow
    regions = M.evaluation_regions(true.shape[1:], sample.fault_mask, border, radius)
    record: dict = {"sample_id": sample.sample_id, "category": sample.category}
    for name, key in (("all", ""), ("near", "_near"), ("far", "_far")):  # an empty region gives NaN
        record[f"epe{key}"] = M.epe(pred, true, regions[name])
        record[f"smooth{key}"] = M.smoothness(pred, regions[name])
        record[f"smooth_true{key}"] = M.smoothness(true, regions[name])
    record["bias_dx"], record["bias_dy"] = M.mean_bias(pred, true, regions["all"])
    record["valid_fraction"] = M.valid_fraction(pred, regions["all"])
    record["zero_epe"] = M.epe(np.zeros_like(true), true, regions["all"])
    record["true_magnitude_max"] = float(np.nanmax(np.hypot(*true)))
    # truth-free score, as for real pairs: 1 - local NCC of pre and post warped by the estimate
    try:
        photo = photometric_residual(sample.pre, sample.post, pred[0], pred[1])
        record["photo_residual"], record["photo_residual_zero"] = photo["ncc_residual_field"], photo["ncc_residual_zero"]
    except InputError:  # no valid estimate at all
        record["photo_residual"] = record["photo_residual_zero"] = float("nan")
    return record


def _select(paths: list, limit: int | None) -> list:
    """At most ``limit`` paths per category (file order), all when ``limit`` is None."""
    if limit is None:
        return paths
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for path in paths:
        category = path.name.split("_")[1]
        if taken[category] < limit:
            taken[category] += 1
            chosen.append(path)
    return chosen


def aggregate(records: Iterable[dict]) -> dict:
    """Mean of every summary metric over ``records`` (NaN skipped) plus ``count``."""
    records = list(records)
    out: dict = {"count": len(records)}
    for key in SUMMARY_KEYS:
        values = np.array([r[key] for r in records if key in r], float)
        values = values[np.isfinite(values)]
        out[key] = float(values.mean()) if values.size else float("nan")
    if records:
        rates = np.array([r["seconds_per_mp"] for r in records], float)
        out["seconds_per_mp"] = float(np.median(rates))
        out["seconds"] = float(sum(r["seconds"] for r in records))
    iterations = [r["epe_iterations"] for r in records if r.get("epe_iterations")]
    if iterations and len({len(it) for it in iterations}) == 1:
        out["epe_iterations"] = [float(np.nanmean(col)) for col in zip(*iterations)]
    return out


def evaluate_method(root: str | os.PathLike, split: str = "test", method: str = "freqcorr",
                    categories: Iterable[int] = (0, 1, 2), border: int = M.DEFAULT_BORDER,
                    params: dict | None = None, limit: int | None = None, progress: bool = True,
                    ns_positive_down: bool = False, radius: float = M.NEAR_FAULT_RADIUS,
                    regularize: str = "none") -> dict:
    """Run ``method`` on every sample of ``root/split`` and summarise the errors per category.

    ``regularize`` ("none", "ltv" or "tv", default parameters) post-processes each field before it is
    scored, and its time is counted; the per-iteration EPEs of MicroFlow stay those of the raw field.

    ``limit`` caps the number of samples per category. Returns a JSON-serialisable dict with
    ``categories`` (``{"0": summary, ...}``), ``overall``, ``epe_by_magnitude`` and the per-sample
    ``samples`` records; see :func:`sample_metrics` and :func:`aggregate` for the keys.
    """
    from tqdm import tqdm

    from microflow.api import estimate_arrays
    from microflow.regularization import METHODS as REGULARIZERS
    from microflow.regularization import regularize as regularize_field

    if regularize not in REGULARIZERS:
        raise ParameterError(f"regularize must be one of {REGULARIZERS}, got {regularize!r}")
    if border < 0:
        raise ParameterError(f"border must be >= 0 px, got {border}")
    if limit is not None and limit < 1:
        raise ParameterError(f"limit must be a positive number of samples, got {limit}")
    categories = tuple(int(c) for c in categories)
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ParameterError(f"unknown categories {unknown}; choose from {sorted(CATEGORIES)}")
    get_method(method)  # fail on an unknown method before reading any sample
    params = dict(params or {})
    paths = _select(list_samples(root, split, categories), limit)
    if not paths:
        raise InputError(f"no samples of categories {list(categories)} in {os.path.join(root, split)}")

    records = []
    error_sum = np.zeros(len(MAGNITUDE_EDGES) - 1)
    error_count = np.zeros(len(MAGNITUDE_EDGES) - 1, np.int64)
    label = method if regularize == "none" else f"{method}+{regularize}"
    for path in tqdm(paths, desc=f"evaluate {label}", unit="sample", disable=not progress):
        sample = read_sample(path, ns_positive_down)
        start = time.perf_counter()
        field = estimate_arrays(sample.pre, sample.post, method, **params)
        pred = _flow_of(field)
        if regularize != "none":
            pred = np.stack(regularize_field(pred[0], pred[1], regularize))
        seconds = time.perf_counter() - start
        record = sample_metrics(pred, sample, border, radius)
        record["seconds"] = seconds
        record["seconds_per_mp"] = seconds / (sample.pre.size / 1e6)
        steps = getattr(field, "iterations", None)
        if steps:
            interior = M.interior_mask(sample.flow.shape[1:], border)
            record["epe_iterations"] = [M.epe(_flow_of(s), sample.flow, interior) for s in steps]
        s, c = M.epe_by_magnitude(pred, sample.flow, MAGNITUDE_EDGES, M.interior_mask(pred.shape[1:], border))
        error_sum += s
        error_count += c
        records.append(record)

    by_category = defaultdict(list)
    for record in records:
        by_category[record["category"]].append(record)
    with np.errstate(invalid="ignore", divide="ignore"):
        binned = np.where(error_count > 0, error_sum / np.maximum(error_count, 1), np.nan)
    return {
        "method": method, "regularize": regularize, "split": split, "root": os.fspath(root), "params": params,
        "border": border, "radius": radius, "ns_positive_down": ns_positive_down,
        "categories": {str(c): {"name": CATEGORIES[c], **aggregate(by_category[c])}
                       for c in categories if by_category[c]},
        "overall": aggregate(records),
        "epe_by_magnitude": {"edges": MAGNITUDE_EDGES.tolist(), "epe": binned.tolist(),
                             "count": error_count.tolist()},
        "samples": records,
    }


COLUMNS = (  # (header, key, format)
    ("n", "count", "{:d}"), ("EPE", "epe", "{:.3f}"), ("EPE near", "epe_near", "{:.3f}"),
    ("EPE far", "epe_far", "{:.3f}"), ("bias dx", "bias_dx", "{:+.3f}"), ("bias dy", "bias_dy", "{:+.3f}"),
    ("valid", "valid_fraction", "{:.1%}"), ("smooth", "smooth", "{:.4f}"),
    ("smooth true", "smooth_true", "{:.4f}"), ("zero EPE", "zero_epe", "{:.3f}"),
    ("photo res.", "photo_residual", "{:.4f}"), ("photo res. zero", "photo_residual_zero", "{:.4f}"),
    ("s/MP", "seconds_per_mp", "{:.2f}"),
)


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return fmt.format(value)


def format_table(result: dict, style: str = "markdown") -> str:
    """Rows = categories then ``all``; ``style`` is ``"markdown"`` or ``"plain"`` (aligned text)."""
    if style not in ("markdown", "plain"):
        raise ParameterError(f"table style must be 'markdown' or 'plain', got {style!r}")
    header = ["category"] + [h for h, _, _ in COLUMNS]
    rows = []
    for key, summary in list(result["categories"].items()) + [("all", result["overall"])]:
        label = f"{key} ({summary['name']})" if "name" in summary else key
        rows.append([label] + [_cell(summary.get(k), fmt) for _, k, fmt in COLUMNS])
    iterations = result["overall"].get("epe_iterations")
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(COLUMNS)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                           enumerate(zip(row, widths))) for row in [header] + rows]
    if iterations:
        lines.append("")
        lines.append("EPE per iteration: " + ", ".join(f"{e:.3f}" for e in iterations))
    return "\n".join(lines)


def jsonable(value):
    """Copy of ``value`` with NaN/inf floats as ``None`` and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
