"""Issue-22 shift set: a candidate model against the reference (``robust``) on data neither was fitted on.

Semi-synthetic groups (:mod:`microflow.analysis.shift_set`): scikit-image ``grass``/``gravel``/``brick``
and the Landsat-8 test area integrated by 4, Okada pairs of the three categories plus zero-motion pairs;
and the triplet closure on the real Perito Moreno series (``../shared/realdata-dev``, read here, never
copied). Every MicroFlow row runs with log-TV, as the default product does; freqcorr is the peer.

Criteria (issue 22): the candidate's EPE <= 0.8x the reference's in every category of every group, and
its median closure residual on the long clear triplet <= 0.7x the reference's and below freqcorr's.
Without ``--candidate`` the report only tabulates. Exit 1 on FAIL, 2 on an error.

    python benchmarks/shift_set.py [--candidate PATH.safetensors] [--reference robust] [--per-category 6]
        [--nulls 3] [--no-closure | --triplets long] [--report docs/SHIFT_SET.md] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _threads import limit_threads

EPE_LIMIT, CLOSURE_LIMIT = 0.8, 0.7
NAMES = {"0": "very small", "1": "small", "2": "large"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", help="weights file of the model under test")
    parser.add_argument("--reference", default="robust", help="reference model (default robust)")
    parser.add_argument("--per-category", type=int, default=6)
    parser.add_argument("--nulls", type=int, default=3)
    parser.add_argument("--no-closure", action="store_true", help="skip the real-series closure")
    parser.add_argument("--triplets", choices=("all", "long"), default="all",
                        help="closure triplets: the three short ones and the long one, or only the long one "
                             "(the criterion; 3 fields per method instead of 10)")
    parser.add_argument("--no-freqcorr", action="store_true", help="skip the freqcorr rows")
    parser.add_argument("--report", default="docs/SHIFT_SET.md")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def rows_to_run(args) -> list[tuple[str, str, dict]]:
    rows = [(f"microflow[{Path(args.reference).stem}] + log-TV", "microflow+ltv", {"model": args.reference})]
    if args.candidate:
        rows.append((f"microflow[{Path(args.candidate).stem}] + log-TV", "microflow+ltv", {"model": args.candidate}))
    if not args.no_freqcorr:
        rows.append(("freqcorr", "freqcorr", {}))
    return rows


def table(results: dict, groups) -> list[str]:
    head = "| method | group | EPE very small | EPE small | EPE large | near very small | near small | near large | null |"
    lines = [head, "|---|---|" + "---:|" * 7]
    for label, by_group in results.items():
        for g in groups:
            r = by_group["pairs"][g]
            cells = [f"{r[c]['epe']:.4f}" for c in "012"] + [f"{r[c]['epe_near']:.3f}" for c in "012"]
            lines.append(f"| {label} | {g} | " + " | ".join(cells) + f" | {r['null']:.4f} |")
    return lines


def closure_table(results: dict) -> list[str]:
    triplets = next(iter(results.values())).get("closure") or {}
    if not triplets:
        return []
    lines = ["| method | " + " | ".join(triplets) + " |", "|---|" + "---:|" * len(triplets)]
    for label, r in results.items():
        lines.append(f"| {label} | " + " | ".join(f"{r['closure'][t]['median']:.3f}" for t in triplets) + " |")
    return lines


def verdict(results: dict, labels: list[str], groups, long_triplet: str, candidate: bool) -> tuple[bool, list[str]]:
    """Check the candidate (``labels[1]``) against the reference (``labels[0]``)."""
    if not candidate:
        return True, ["NOTE no candidate: nothing checked"]
    ref, cand = results[labels[0]], results[labels[1]]
    ok, out = True, []
    for g in groups:
        for c in "012":
            mine, theirs = cand["pairs"][g][c]["epe"], ref["pairs"][g][c]["epe"]
            passed = mine <= EPE_LIMIT * theirs
            ok &= passed
            out.append(f"{'PASS' if passed else 'FAIL'}: {g} EPE {NAMES[c]}: {mine:.4f} vs {theirs:.4f} = "
                       f"{mine / theirs:.3f}x (limit {EPE_LIMIT}x)")
    if cand.get("closure"):
        long = long_triplet
        mine, theirs = cand["closure"][long]["median"], ref["closure"][long]["median"]
        passed = mine <= CLOSURE_LIMIT * theirs
        line = f"long-triplet closure {mine:.3f} vs {theirs:.3f} px = {mine / theirs:.3f}x (limit {CLOSURE_LIMIT}x)"
        if "freqcorr" in results:
            peer = results["freqcorr"]["closure"][long]["median"]
            passed &= mine < peer
            line += f", freqcorr {peer:.3f}"
        ok &= passed
        out.append(f"{'PASS' if passed else 'FAIL'}: {line}")
    return ok, out


def main(argv=None) -> int:
    args = parse_args(argv)
    argv_text = " ".join(sys.argv[1:] if argv is None else list(argv))
    limit_threads(args.threads)
    from microflow.analysis import shift_set as S
    from microflow.errors import MicroflowError

    started = time.perf_counter()
    spec = S.ShiftSpec(args.per_category, args.nulls)
    closure = not args.no_closure and S.perito_available()
    triplets = (S.LONG_TRIPLET,) if args.triplets == "long" else S.SHORT_TRIPLETS + (S.LONG_TRIPLET,)
    results = {}
    try:
        pairs = {g: S.shift_pairs(g, spec) for g in S.GROUPS}
        for label, key, params in rows_to_run(args):
            tic = time.perf_counter()
            results[label] = {"pairs": {g: S.score_pairs(pairs[g], key, params) for g in S.GROUPS}}
            if closure:
                results[label]["closure"] = S.closure_scores(key, params, triplets)
            print(f"{label}: {time.perf_counter() - tic:.0f} s", file=sys.stderr)
    except MicroflowError as exc:
        print(f"shift_set: error: {exc}", file=sys.stderr)
        return 2
    labels = list(results)
    passed, lines = verdict(results, labels, S.GROUPS, "/".join(S.LONG_TRIPLET), bool(args.candidate))
    text = ["# Shift set (issue 22): data no model was fitted on", "",
            f"Generated by `python benchmarks/shift_set.py {argv_text}` (do not edit by hand); "
            f"{time.perf_counter() - started:.0f} s on {os.cpu_count()} CPUs.", "",
            f"Groups: scikit-image grass/gravel/brick (whole pictures) and the Landsat-8 test area integrated by "
            f"{S.LANDSAT_FACTOR}; {args.per_category} Okada pairs per category and {args.nulls} zero-motion pairs "
            f"per group, {spec.size}² px, all temporal perturbations, seed {spec.seed}. EPE in px over the interior "
            "(16 px border); near = within 5 px of the trace; null = mean ||d - median d|| on the zero-motion pairs.",
            "", *table(results, S.GROUPS), ""]
    if closure:
        text += ["## Triplet closure on the real Perito Moreno series (Sentinel-2, green band, --nodata 0)", "",
                 f"Median of |d_AB(p) + d_BC(p + d_AB(p)) - d_AC(p)| [px] on the glacier mask, {S.CLOSURE_MARGIN} px "
                 "from the border (`microflow.analysis.closure`); the last triplet is the long one (~13 px).", "",
                 *closure_table(results), ""]
    text += ["## Criteria", "", *[f"- {line}" for line in lines], ""]
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text("\n".join(text) + "\n")
    Path(args.report).with_suffix(".json").write_text(json.dumps(results, indent=1))
    print("\n".join(text))
    if args.candidate:
        print("ACCEPTANCE PASSED" if passed else "ACCEPTANCE FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
