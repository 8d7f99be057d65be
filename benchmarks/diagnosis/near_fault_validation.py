"""Diagnosis: a candidate against the reference on the VALIDATION split (never the test split), EPE and
near-fault EPE per category, with log-TV; what training decisions may be judged on.

The split is the recipe of ``benchmarks/model_v3_acceptance.py --parts split`` (Okada pairs of the three
categories, 256², uint16 files) written on the Landsat-8 validation area with another seed, so a choice
made here does not look at the test pairs.

    python benchmarks/diagnosis/near_fault_validation.py --model W.safetensors [W2 ...] [--reference robust]
        [--per-category 40] [--seed 7] [--data out/near_fault_validation] [--param ensemble=2 ...]

``--param KEY=VALUE`` sets a MicroFlow parameter of the candidates only (the reference runs plainly), e.g.
``--reference world2 --model world2 --param ensemble=2`` scores the flip ensemble against one read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    """The validation split's options, shared with ``near_fault_profile.py``."""
    parser.add_argument("--reference", default="robust")
    parser.add_argument("--per-category", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", default="out/near_fault_validation")
    parser.add_argument("--threads", type=int, default=1)


def validation_split(args):
    """Write (once) and return the SplitJob of the validation pairs; torch on ``args.threads``."""
    import torch

    from microflow.synth.folder import SplitJob, write_split

    torch.set_num_threads(args.threads)
    job = SplitJob(str(Path(args.data) / f"seed{args.seed}"), "validation", args.size, seed=args.seed,
                   categories=(0, 1, 2))
    write_split(job, 3 * args.per_category)
    return job


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", required=True, help="candidate weights (files or shipped names)")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="candidates' MicroFlow parameter")
    add_split_arguments(parser)
    args = parser.parse_args(argv)
    from microflow.analysis.acceptance import split_table
    from microflow.analysis.evaluate import evaluate_method
    from microflow.cli.common import parse_params

    job = validation_split(args)
    rows = []
    extra = parse_params(args.param)
    for index, model in enumerate([args.reference, *args.model]):
        params = {"model": model, **(extra if index else {})}
        result = evaluate_method(job.root, "validation", "microflow", params=params, regularize="ltv",
                                 limit=args.per_category, progress=False)
        label = "".join(f", {k}={v}" for k, v in params.items() if k != "model")
        rows.append((f"`{Path(model).stem if Path(model).suffix else model}`{label} + log-TV", result))
    reference = rows[0][1]["categories"]
    print("\n".join(split_table(rows)))
    for label, result in rows[1:]:
        cats = result["categories"]
        ratios = [f"{cats[c][k] / reference[c][k]:.3f}" for k in ("epe", "epe_near") for c in "012"]
        print(f"{label}: EPE ratio {' / '.join(ratios[:3])}, near-fault ratio {' / '.join(ratios[3:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
