"""Diagnosis: the log-TV strength λ judged on real data that no choice was fitted on.

``tune_logtv.py`` chooses (λ, ε) on the synthetic validation split. This script checks a choice where it
matters for users: MicroFlow runs once per pair (raw field), then every λ of ``--lams`` regularizes the
same raw field, and each is scored on

- the real cross-band null pairs (Landsat-8 B2/B3/B4 of one date, ``analysis.null_pairs``): mean
  deviation from a constant field [px], 16 px border excluded (the criterion of ``null_pairs.py``);
- the real Perito Moreno series of ``../shared/realdata-dev`` (when present): median triplet closure
  residual [px] on the glacier mask 48 px from the border, per triplet (``analysis.shift_set``).

The whole field is regularized at once (the product path tiles large fields with a halo; at these sizes
the difference is far below the numbers compared).

    python benchmarks/diagnosis/logtv_real_checks.py --model world [W.safetensors ...] [--lams 0.2 0.4]
        [--eps 1.0] [--nulls-per-combination 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np


def regularized(raw: tuple[np.ndarray, np.ndarray], lam: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    from microflow.regularization import regularize

    return regularize(raw[0], raw[1], "ltv", lam=lam, eps=eps)


def null_scores(model: str, lams, eps: float, count: int) -> dict[float, float]:
    """{λ: mean null deviation [px]} of ``model`` on the real cross-band null pairs."""
    from microflow.analysis.null_pairs import DEFAULT_BORDER, null_deviation, null_pairs
    from microflow.api import estimate_arrays

    per = {lam: [] for lam in lams}
    for _, pre, post in null_pairs(count_per_combination=count):
        field = estimate_arrays(pre, post, "microflow", model=model)
        for lam in lams:
            per[lam].append(null_deviation(*regularized((field.dx, field.dy), lam, eps), DEFAULT_BORDER))
    return {lam: float(np.mean(v)) for lam, v in per.items()}


def closure_scores(model: str, lams, eps: float) -> dict[float, dict[str, float]]:
    """{λ: {"A/B/C": median closure residual [px]}} of ``model`` on the Perito Moreno triplets."""
    from microflow.analysis.closure import border_region, closure_summary
    from microflow.analysis.shift_set import (CLOSURE_MARGIN, LONG_TRIPLET, SHORT_TRIPLETS, once_per_pair,
                                              perito_field, perito_mask, triplet_residual)

    region = border_region(perito_mask(), CLOSURE_MARGIN)
    raw = once_per_pair(lambda a, b: perito_field(a, b, "microflow", {"model": model}))
    out = {}
    for lam in lams:  # each pair run once, each (pair, λ) smoothed once, whatever triplets share it
        smoothed = once_per_pair(lambda a, b, lam=lam: regularized(raw(a, b), lam, eps))
        out[lam] = {"/".join(t): closure_summary(triplet_residual(smoothed, t), region)["median"]
                    for t in SHORT_TRIPLETS + (LONG_TRIPLET,)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["world"])
    parser.add_argument("--lams", nargs="+", type=float, default=[0.2, 0.4])
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--nulls-per-combination", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from microflow.analysis.shift_set import perito_available

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)  # sigma calibrated for another model: not read here
    header, lines = None, []
    for model in args.model:
        nulls = null_scores(model, args.lams, args.eps, args.nulls_per_combination)
        closure = closure_scores(model, args.lams, args.eps) if perito_available() else {}
        for lam in args.lams:
            triplets = closure.get(lam, {})
            if header is None:
                header = "| model | λ | nulls [px] | " + " | ".join(f"closure {t}" for t in triplets) + " |"
                lines += [header, "|" + "---|" * (header.count("|") - 1)]
            name = Path(model).stem if Path(model).suffix else model
            lines.append(f"| `{name}` | {lam} | {nulls[lam]:.4f} | "
                         + " | ".join(f"{v:.3f}" for v in triplets.values()) + " |")
            print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
