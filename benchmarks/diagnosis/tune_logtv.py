"""Choose the log-TV defaults (λ, ε) on the synthetic VALIDATION split, never on the test split.

MicroFlow runs once per validation sample; every (λ, ε) of the grid then regularizes the same raw
fields. The score of a pair is the mean over categories of the per-category mean EPE (px), so the
categories weigh equally; the near-fault EPE and far-field smoothness are reported beside it. The
best pair is the one with the lowest score; the report says whether it differs from the defaults
in :mod:`microflow.regularization.log_tv`.

    python benchmarks/diagnosis/tune_logtv.py [--data out/tune] [--per-category 30] [--model robust]

The validation split (textures of the validation area, seed 2026, 256² px) is written once into
``--data``. Writes ``docs/LOGTV_TUNING.md``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from microflow.analysis import metrics as M
from microflow.api import estimate_arrays
from microflow.regularization import regularize
from microflow.regularization.log_tv import DEFAULT_LTV_EPS, DEFAULT_LTV_LAMBDA
from microflow.synth.faultdeform import iter_samples, list_samples
from microflow.synth.folder import SplitJob, write_split

LAMBDAS = (0.05, 0.1, 0.2, 0.4, 0.8)
EPSILONS = (0.1, 0.3, 1.0)
VALIDATION_SEED = 2026


def raw_fields(root: str, model: str) -> list[tuple]:
    """[(sample, raw field (2, H, W), evaluation regions)] of every validation sample."""
    out = []
    total = len(list_samples(root, "validation"))
    for sample in tqdm(iter_samples(root, "validation"), total=total, unit="sample", desc="microflow"):
        field = estimate_arrays(sample.pre, sample.post, "microflow", model=model, threads=1)
        regions = M.evaluation_regions(sample.flow.shape[1:], sample.fault_mask)
        out.append((sample, np.stack([field.dx, field.dy]), regions))
    return out


def score_grid(fields: list[tuple], grid: list[tuple]) -> dict:
    """{(lam, eps) or "none": {category: {epe, epe_near, smooth_far: [per-sample values]}}}."""
    scores = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for sample, raw, regions in tqdm(fields, unit="sample", desc="grid"):
        for key in ["none"] + grid:
            pred = raw if key == "none" else np.stack(regularize(raw[0], raw[1], "ltv", lam=key[0], eps=key[1]))
            row = scores[key][sample.category]
            row["epe"].append(M.epe(pred, sample.flow, regions["all"]))
            row["epe_near"].append(M.epe(pred, sample.flow, regions["near"]))
            row["smooth_far"].append(M.smoothness(pred, regions["far"]))
    return scores


def summarize(per_category: dict) -> dict:
    """Per-category means and their mean over categories ("score")."""
    with warnings.catch_warnings():  # a sample without a fault in view has no near-fault pixels
        warnings.simplefilter("ignore", RuntimeWarning)
        means = {c: {k: float(np.nanmean(v)) for k, v in row.items()} for c, row in per_category.items()}
    means["score"] = float(np.mean([m["epe"] for c, m in means.items()]))
    return means


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="out/tune")
    parser.add_argument("--per-category", type=int, default=30)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model", default="robust")
    parser.add_argument("--report", default="docs/LOGTV_TUNING.md")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small fields: one thread is fastest on a shared CPU
    job = SplitJob(args.data, "validation", args.size, seed=VALIDATION_SEED, categories=(0, 1, 2))
    write_split(job, 3 * args.per_category)
    grid = list(itertools.product(LAMBDAS, EPSILONS))
    summary = {k: summarize(v) for k, v in score_grid(raw_fields(args.data, args.model), grid).items()}
    categories = sorted(c for c in summary["none"] if c != "score")

    header = "| λ | ε | score | " + " | ".join(f"EPE c{c}" for c in categories) + " | " + \
             " | ".join(f"near c{c}" for c in categories) + " | EPE near (mean) | smooth far (mean) |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for key in ["none"] + grid:
        m = summary[key]
        lam, eps = ("-", "-") if key == "none" else key
        near = np.mean([m[c]["epe_near"] for c in categories])
        smooth = np.mean([m[c]["smooth_far"] for c in categories])
        lines.append(f"| {lam} | {eps} | {m['score']:.4f} | " + " | ".join(f"{m[c]['epe']:.4f}" for c in categories)
                     + " | " + " | ".join(f"{m[c]['epe_near']:.4f}" for c in categories)
                     + f" | {near:.4f} | {smooth:.4f} |")
    best = min(grid, key=lambda k: summary[k]["score"])
    default = (DEFAULT_LTV_LAMBDA, DEFAULT_LTV_EPS)
    verdict = (f"best λ = {best[0]}, ε = {best[1]} (score {summary[best]['score']:.4f}); current defaults "
               f"λ = {default[0]}, ε = {default[1]}"
               + (f" (score {summary[default]['score']:.4f})" if default in summary else " (not on the grid)")
               + (": the defaults are the best pair." if best == default else ": update the defaults."))
    print("\n".join(lines) + "\n\n" + verdict)
    Path(args.report).write_text(
        f"# log-TV parameters chosen on the validation split (`{args.model}`)\n\n"
        f"Regenerate: `python benchmarks/diagnosis/tune_logtv.py --per-category {args.per_category} --model {args.model}`. Validation split: "
        f"{args.per_category} samples per category, {args.size}² px, seed {VALIDATION_SEED}, Landsat-8 "
        "validation area (never the test split). Score = mean over categories of the mean EPE (px); near = "
        "within 5 px of the fault trace; smoothness = mean Sobel gradient magnitude far from the fault. "
        "The first row is the raw field.\n\n" + "\n".join(lines) + f"\n\n{verdict}\n")
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
