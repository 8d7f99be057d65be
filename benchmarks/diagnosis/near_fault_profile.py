"""Diagnosis: EPE against the distance to the fault trace, candidate against reference, on the VALIDATION
split (never the test split); where within the near-fault zone a model loses to the other.

Pairs: the split of ``near_fault_validation.py`` (Okada pairs, 256², Landsat-8 validation area, seed 7).
Every field with log-TV, as the product. Per distance bin [px] (Euclidean distance to the nearest trace
pixel, 16 px border excluded) the mean EPE over all pixels of all pairs of a category, and the ratio.

    python benchmarks/diagnosis/near_fault_profile.py --model world [--reference robust] [--category 0]
        [--per-category 40] [--seed 7] [--data out/near_fault_validation]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from near_fault_validation import add_split_arguments, validation_split  # noqa: E402

EDGES = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, float("inf"))   # px from the trace


def profile(model: str, paths: list, edges=EDGES) -> tuple[list[float], list[int]]:
    """(mean EPE per distance bin, pixel count per bin) of ``model`` + log-TV over the pairs ``paths``."""
    import numpy as np
    from scipy import ndimage

    from microflow.analysis import metrics as M
    from microflow.api import estimate_arrays
    from microflow.regularization import regularize
    from microflow.synth.faultdeform import read_sample

    sums, counts = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1, np.int64)
    for path in paths:
        sample = read_sample(path)
        field = estimate_arrays(sample.pre, sample.post, "microflow", model=model)
        raw = field.stack()
        pred = np.stack(regularize(raw[0], raw[1], "ltv"))
        error = M.endpoint_error_map(pred, sample.flow)
        trace = np.asarray(sample.fault_mask, bool)
        distance = ndimage.distance_transform_edt(~trace) if trace.any() else np.full(trace.shape, np.inf)
        keep = M.interior_mask(trace.shape) & np.isfinite(error)
        index = np.digitize(distance[keep], edges[1:-1], right=True)
        sums += np.bincount(index, weights=error[keep], minlength=len(sums))
        counts += np.bincount(index, minlength=len(counts))
    return (sums / np.maximum(counts, 1)).tolist(), counts.tolist()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="candidate weights (file or shipped name)")
    parser.add_argument("--category", type=int, default=0)
    add_split_arguments(parser)
    args = parser.parse_args(argv)
    from microflow.synth.faultdeform import list_samples

    job = validation_split(args)
    paths = list_samples(job.root, "validation", (args.category,))[:args.per_category]
    reference, counts = profile(args.reference, paths)
    candidate, _ = profile(args.model, paths)
    bins = [f"{a:g}-{b:g}" for a, b in zip(EDGES[:-1], EDGES[1:])]
    print(f"category {args.category}, {len(paths)} validation pairs, EPE [px] with log-TV by distance to the trace [px]")
    print("| model | " + " | ".join(bins) + " |")
    print("|---" * (len(bins) + 1) + "|")
    print("| pixels | " + " | ".join(str(c) for c in counts) + " |")
    for name, values in ((args.reference, reference), (args.model, candidate)):
        print(f"| `{Path(name).stem}` | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    print("| ratio | " + " | ".join(f"{c / r:.3f}" if r else "-" for c, r in zip(candidate, reference)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
