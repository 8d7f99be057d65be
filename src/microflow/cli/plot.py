"""``microflow plot OUT.tif -o OUT.png``: quicklook PNG of a displacement product."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("plot", help="quicklook PNG of a displacement product",
                       description="Draw EW, NS and magnitude panels of a product (GeoTIFF or netCDF) with "
                                   "colorbars in the product units and a ground scale bar.")
    p.add_argument("product", help="product written by microflow estimate (.tif or .nc)")
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.add_argument("--pre", metavar="PRE.tif", help="pre image drawn in grayscale beneath the field")
    p.add_argument("--vmax", type=float, help="colour limit: EW/NS in [-V, V], magnitude in [0, V] "
                                              "(default: 99th percentile of |value|)")
    p.add_argument("--title", help="figure title (default: file name and method)")
    p.add_argument("--before", metavar="PRODUCT",
                   help="draw a before/after comparison with this product (e.g. the input of microflow correct)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.analysis.plot import plot_product
    from microflow.errors import ParameterError
    from microflow.products.geotiff import check_output_path

    if args.vmax is not None and not args.vmax > 0:
        raise ParameterError(f"--vmax must be positive, got {args.vmax}")
    check_output_path(args.output, (args.product, args.pre, args.before), args.overwrite)
    if args.before:
        from microflow.analysis.correction_plot import plot_correction_products

        plot_correction_products(args.product, args.before, args.output, title=args.title, vmax=args.vmax)
        print(f"wrote {args.output}", file=sys.stderr)
        return 0
    plot_product(args.product, args.output, pre_path=args.pre, title=args.title, vmax=args.vmax)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
