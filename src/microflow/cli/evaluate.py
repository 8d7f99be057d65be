"""``microflow evaluate DATASET_DIR``: accuracy of a method on a FaultDeform-format split."""

from __future__ import annotations

import json
import os
import sys

from microflow.cli.common import add_param_option, parse_params
from microflow.methods import DEFAULT_METHOD, available_methods


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score a method against the truth of a FaultDeform-format dataset",
                       description="Run a method on every sample of a split and print EPE (overall, near and "
                                   "far from the fault), bias, valid fraction, smoothness and speed per "
                                   "displacement category.")
    p.add_argument("dataset", help="dataset folder holding train/ validation/ test/")
    p.add_argument("--split", default="test", help="split folder to evaluate (default test)")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                   help=f"displacement method (default {DEFAULT_METHOD})")
    p.add_argument("--regularize", choices=("none", "ltv", "tv"), default="none",
                   help="post-regularize each field before scoring, default parameters (default none)")
    p.add_argument("--categories", type=int, nargs="+", default=[0, 1, 2], metavar="C",
                   help="displacement categories: 0 very small, 1 small, 2 large (default all)")
    p.add_argument("--limit", type=int, help="at most N samples per category")
    p.add_argument("--border", type=int, default=16, help="pixels excluded along each edge (default 16)")
    p.add_argument("--radius", type=float, default=5.0, help="near-fault distance in px (default 5)")
    p.add_argument("--ns-positive-down", action="store_true",
                   help="the dataset stores NS as +row (+south) instead of +north")
    p.add_argument("--json", metavar="OUT", help="also write the full results (per sample) as JSON")
    p.add_argument("--format", choices=("plain", "markdown"), default="plain", help="table style")
    p.add_argument("--overwrite", action="store_true", help="replace an existing JSON output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_param_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.analysis.evaluate import evaluate_method, format_table, jsonable
    from microflow.products.geotiff import check_output_path

    if args.json:
        check_output_path(args.json, (), args.overwrite)
    result = evaluate_method(args.dataset, split=args.split, method=args.method, categories=args.categories,
                             border=args.border, params=parse_params(args.param), limit=args.limit,
                             progress=not args.quiet, ns_positive_down=args.ns_positive_down,
                             radius=args.radius, regularize=args.regularize)
    label = args.method if args.regularize == "none" else f"{args.method} + {args.regularize}"
    print(f"{label} on {os.path.join(args.dataset, args.split)} "
          f"(EPE in px, border {args.border} px, near = within {args.radius:g} px of the fault)")
    print(format_table(result, args.format))
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(jsonable(result), f, indent=1, allow_nan=False)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
