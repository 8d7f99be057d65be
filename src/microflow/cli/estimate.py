"""``microflow estimate PRE POST -o OUT``: displacement product from a GeoTIFF pair."""

from __future__ import annotations

import sys

from microflow.cli.common import add_param_option, parse_params
from microflow.methods import available_methods

DEFAULT_METHOD = "freqcorr"


def register(sub) -> None:
    p = sub.add_parser("estimate", help="estimate the displacement field of a pre/post pair",
                       description="Estimate the displacement of POST relative to PRE and write a 3-band "
                                   "GeoTIFF (EW +east, NS +north, confidence) on the pre grid.")
    p.add_argument("pre", help="pre-event image (GeoTIFF)")
    p.add_argument("post", help="post-event image on the same grid")
    p.add_argument("-o", "--output", required=True, help="output GeoTIFF")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                   help=f"displacement method (default: {DEFAULT_METHOD})")
    p.add_argument("--band", type=int, default=1, help="1-based band index read from both images (default 1)")
    p.add_argument("--units", default="pixel", choices=("pixel", "meter"), help="units of EW/NS (default pixel)")
    p.add_argument("--plot", metavar="PNG", help="also write a quicklook PNG")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_param_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.api import estimate_files

    summary = estimate_files(args.pre, args.post, args.output, args.method, band=args.band, units=args.units,
                             overwrite=args.overwrite, plot=args.plot, progress=not args.quiet,
                             **parse_params(args.param))
    print(f"wrote {summary['output']} ({summary['method']}, {summary['shape'][0]}x{summary['shape'][1]}, "
          f"{100 * summary['valid_fraction']:.1f}% valid, {summary['seconds']:.1f} s)", file=sys.stderr)
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
