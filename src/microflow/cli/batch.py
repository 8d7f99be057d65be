"""``microflow batch PAIRS.csv --out DIR``: one product per pre/post pair, with a summary table."""

from __future__ import annotations

import os
import sys

from microflow.cli.common import add_grid_options, add_method_options, add_param_option, alignment, parse_params



def register(sub) -> None:
    p = sub.add_parser(
        "batch", help="estimate many pairs listed in a CSV file",
        description="Estimate one product per row 'pre,post[,name]' of PAIRS.csv (header optional, relative "
                    "paths taken from the CSV's folder) into DIR/NAME.tif. Existing products are skipped; a "
                    "failing pair is reported and the others continue. A summary table is printed and "
                    "written to DIR/summary.csv. Exit status 1 if any pair failed.")
    p.add_argument("pairs", help="CSV file of pre,post[,name] rows")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    add_method_options(p)
    p.add_argument("--overwrite", action="store_true", help="recompute pairs whose product exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_param_option(p)
    add_grid_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.batch import format_summary, run_batch

    params = {**parse_params(args.param), "align": alignment(args), "nodata": args.nodata}
    results = run_batch(args.pairs, args.out, args.method, params, units=args.units,
                        band=args.band, overwrite=args.overwrite, progress=not args.quiet)
    print(format_summary(results))
    print(f"wrote {os.path.join(args.out, 'summary.csv')}", file=sys.stderr)
    return 1 if any(r.status == "failed" for r in results) else 0
