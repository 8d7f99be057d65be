"""``microflow estimate PRE POST -o OUT``: displacement product from a GeoTIFF pair of any size."""

from __future__ import annotations

import argparse
import sys

from microflow.cli.common import add_grid_options, add_method_options, add_param_option, alignment, parse_params


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser("estimate", help="estimate the displacement field of a pre/post pair",
                       description="Estimate the displacement of POST relative to PRE and write a 4-band "
                                   "GeoTIFF (EW +east, NS +north, confidence, sigma) on the pre grid. Scenes of any "
                                   "size are processed in overlapping windows with bounded memory.")
    p.add_argument("pre", help="pre-event image: GeoTIFF, https:// or s3:// COG URL, any GDAL path, or a STAC "
                               "Item JSON (file or URL; see --asset)")
    p.add_argument("post", help="post-event image, the same kinds (on pre's grid, a whole number of pixels apart, "
                                "or see --align)")
    p.add_argument("-o", "--output", required=True, help="output GeoTIFF")
    add_method_options(p)
    p.add_argument("--plot", metavar="PNG", help="also write a quicklook PNG")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_param_option(p)

    add_grid_options(p)
    p.add_argument("--asset", metavar="NAME", help="asset of STAC Item inputs to read (e.g. B04 or red; "
                                                  "default: the item's only GeoTIFF asset)")

    area = p.add_argument_group("area of interest (the product covers it on pre's grid; only it is read)")
    area.add_argument("--bounds", metavar="XMIN,YMIN,XMAX,YMAX",
                      help="bounds in pre's CRS, or in --bounds-crs (e.g. --bounds -54.4,-10.2,-54.1,-9.9)")
    area.add_argument("--bounds-crs", metavar="CRS", help="CRS of --bounds, e.g. EPSG:4326")
    area.add_argument("--aoi", metavar="VECTOR", help="vector file (GeoPackage, GeoJSON, shapefile, ...): "
                                                      "its bounding box plus --aoi-margin")
    area.add_argument("--aoi-margin", type=int, metavar="PX",
                      help="pixels of pre's grid added around the --aoi box (default 32)")

    tiles = p.add_argument_group("windows")
    tiles.add_argument("--window", type=positive, metavar="PX",
                       help="window side (default: fitted to the scene, up to 1504 px for MicroFlow and 1024 px "
                            "for the correlators)")
    tiles.add_argument("--overlap", type=int, metavar="PX",
                       help="overlap of neighbouring windows (default: 192 px for MicroFlow, two correlation "
                            "windows for a correlator, a quarter of the window for the optical flows)")
    tiles.add_argument("--batch-size", type=positive, metavar="N",
                       help="windows per batch (default: about 1 megapixel, at least one window)")

    p.add_argument("--max-displacement", type=float, metavar="PX",
                   help="largest displacement to measure [px]: MicroFlow works coarse to fine beyond its trained "
                        "4 px (default 32); freqcorr and ncc widen their search to it (default: their window's)")
    compute = p.add_argument_group("model and compute")
    compute.add_argument("--model", metavar="NAME|PATH",
                         help="MicroFlow weights: shipped model name or .safetensors file (default: world2)")
    compute.add_argument("--ensemble", type=int, choices=(1, 2, 4), metavar="N",
                         help="MicroFlow: the mean of N reads of every window on flipped copies (1, 2 or 4; "
                              "N x the time; default 1): less noise where the texture misleads one read")
    compute.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, ... (default auto)")
    compute.add_argument("--threads", type=positive, metavar="N",
                         help="CPU threads: torch's, or a correlator's FFT workers (with --dask: threads per worker)")

    reg = p.add_argument_group("regularization")
    reg.add_argument("--regularize", choices=("ltv", "tv", "none"),
                     help="a-posteriori regularizer (default: ltv for microflow, none for the correlators)")
    reg.add_argument("--lambda", dest="reg_lambda", type=float, metavar="L", help="regularization weight λ")
    reg.add_argument("--epsilon", type=float, metavar="EPS", help="log-TV ε [px]")
    reg.add_argument("--reg-iters", type=positive, metavar="N", help="log-TV majorize-minimize iterations")
    p.add_argument("--min-confidence", type=float, metavar="C",
                   help="write no estimate (NaN in every band) where the confidence is below C in [0, 1] "
                        "(default 0: every pixel; e.g. 0.1 masks decorrelated ice and clouds)")

    p.add_argument("--correct", metavar="MODEL",
                   help="remove a stable-ground correction before writing: constant, plane, quadratic, stripes, "
                        "steps or a combination such as plane+stripes, fitted on the automatic stable mask "
                        "(for vector or raster masks, run `microflow correct` on the product)")

    dask = p.add_argument_group("Dask (see docs/cluster.md)")
    dask.add_argument("--dask", action="store_true", help="run on a local Dask cluster of worker processes")
    dask.add_argument("--dask-scheduler", metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    dask.add_argument("--dask-workers", type=positive, metavar="N",
                      help="worker processes of the local cluster (default: one per core / threads)")
    p.set_defaults(func=run)


def regularization_params(args) -> dict:
    """The --lambda/--epsilon/--reg-iters values that were given, as solver keywords."""
    given = {"lam": args.reg_lambda, "eps": args.epsilon, "outer_iters": args.reg_iters,
             "min_confidence": getattr(args, "min_confidence", None)}
    return {key: value for key, value in given.items() if value is not None}


def options_of(args):
    """The :class:`~microflow.options.EstimateOptions` of the parsed command line."""
    from microflow.options import EstimateOptions

    params = parse_params(args.param)
    if args.model is not None:
        params["model"] = args.model
    if args.max_displacement is not None:
        params["max_displacement"] = args.max_displacement
    if args.ensemble is not None:
        params["ensemble"] = args.ensemble
    return EstimateOptions.build(
        args.method, params=params, band=args.band, units=args.units, overwrite=args.overwrite, plot=args.plot,
        progress=not args.quiet, tile_window=args.window, tile_overlap=args.overlap, tile_batch=args.batch_size,
        regularize=args.regularize, reg_params=regularization_params(args), device=args.device,
        threads=args.threads, dask=args.dask, dask_scheduler=args.dask_scheduler, dask_workers=args.dask_workers,
        align=alignment(args), nodata=args.nodata, asset=args.asset, bounds=args.bounds,
        bounds_crs=args.bounds_crs, aoi=args.aoi, aoi_margin=args.aoi_margin, correct=args.correct)


def run(args) -> int:
    from microflow.api import estimate_files

    summary = estimate_files(args.pre, args.post, args.output, options_of(args))
    band = f"band {summary['band']}, " if "band" in summary else ""
    print(f"wrote {summary['output']} ({summary['method']}, {band}{summary['shape'][0]}x{summary['shape'][1]}, "
          f"{100 * summary['valid_fraction']:.1f}% valid, {summary['windows']} windows of {summary['window']} px, "
          f"regularize {summary['regularize']}, {summary['seconds']:.1f} s)", file=sys.stderr)
    if summary.get("correction"):
        c = summary["correction"]
        print(f"removed a {c.get('model')} correction fitted on {100 * c.get('stable_share', float('nan')):.1f}% of "
              "the scene (CORRECTION tag)", file=sys.stderr)
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
