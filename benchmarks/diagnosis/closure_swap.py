"""Diagnosis: which field of a Perito Moreno triplet makes one model's closure worse than another's.

The closure residual r = |d_AB + d_BC(. + d_AB) - d_AC| mixes three fields. Scoring every combination of
two models' fields (A->B, B->C from one, A->C from the other, ...) tells whether a model loses the long
pair A->C (range: the coarse-to-fine start) or the two short ones. Median of r over the glacier mask,
48 px from the border, log-TV fields of the product path (``analysis.shift_set.perito_field``).

    python benchmarks/diagnosis/closure_swap.py --models world W.safetensors [--triplet 20200101 20200131 20200220]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs=2, required=True, metavar=("M1", "M2"))
    parser.add_argument("--triplet", nargs=3, default=None, metavar=("A", "B", "C"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from microflow.analysis.closure import border_region, closure_residual, closure_summary
    from microflow.analysis.shift_set import CLOSURE_MARGIN, LONG_TRIPLET, perito_field, perito_mask, triplet_pairs

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    a, b, c = triplet = tuple(args.triplet or LONG_TRIPLET)
    pairs = triplet_pairs(triplet)
    fields = {(m, p): perito_field(*p, "microflow+ltv", {"model": m}) for m in args.models for p in pairs}
    names = [Path(m).stem if Path(m).suffix else m for m in args.models]
    region = border_region(perito_mask(), CLOSURE_MARGIN)
    print(f"triplet {a}/{b}/{c}: median closure residual [px] by the model of each field")
    print("| A->B | B->C | A->C | median r |\n|---|---|---|---|")
    for choice in itertools.product(range(2), repeat=3):
        residual = closure_residual(*(fields[args.models[i], p] for i, p in zip(choice, pairs)))
        print(f"| {' | '.join(names[i] for i in choice)} | {closure_summary(residual, region)['median']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
