"""One-off diagnosis (issue 24): the coarsest level's correlator candidate on and off, on the real series.

    python benchmarks/diagnosis/coarse_correlator_ab.py [--triplets long short] [--freqcorr]

Median triplet closure on the Perito Moreno glacier (``microflow.analysis.shift_set.closure_scores``,
default product: robust + log-TV) with ``coarse_to_fine.USE_CORRELATOR`` False then True, and the median
|d_AC| on the glacier (the motion the closure is measured against). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triplets", nargs="+", default=["long", "short"], choices=("long", "short"))
    parser.add_argument("--freqcorr", action="store_true", help="also the freqcorr row")
    args = parser.parse_args()
    from microflow.analysis import shift_set as S
    from microflow.methods import coarse_to_fine

    triplets = ((S.LONG_TRIPLET,) if "long" in args.triplets else ()) + \
               (S.SHORT_TRIPLETS[:1] if "short" in args.triplets else ())
    rows = []
    for label, key, toggle in [("robust + log-TV, network start", "microflow+ltv", False),
                               ("robust + log-TV, network or correlator start", "microflow+ltv", True)] + \
            ([("freqcorr", "freqcorr", True)] if args.freqcorr else []):
        coarse_to_fine.USE_CORRELATOR = toggle
        tic = time.perf_counter()
        scores = S.closure_scores(key, None, triplets=triplets)
        rows.append((label, scores, time.perf_counter() - tic))
        print(label, {k: round(v["median"], 3) for k, v in scores.items()}, f"{rows[-1][2]:.0f} s", flush=True)
    a, _, c = S.LONG_TRIPLET
    dx, dy = S.product_field(str(S.PERITO / f"{a}.jpg"), str(S.PERITO / f"{c}.jpg"), "freqcorr", None)
    region = S.border_region(S.perito_mask(), S.CLOSURE_MARGIN)
    print(f"median |d_AC| on the glacier (freqcorr, long triplet): {np.nanmedian(np.hypot(dx, dy)[region]):.2f} px")
    names = list(rows[0][1])
    print("| start | " + " | ".join(names) + " | s |")
    print("|---|" + "---:|" * (len(names) + 1))
    for label, scores, seconds in rows:
        print(f"| {label} | " + " | ".join(f"{scores[n]['median']:.3f}" for n in names) + f" | {seconds:.0f} |")


if __name__ == "__main__":
    main()
