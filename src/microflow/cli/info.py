"""``microflow info OUT.tif``: bands, units, method and statistics of a product."""

from __future__ import annotations

import json

import numpy as np

from microflow.cli.common import band_arg


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a displacement product")
    p.add_argument("product", help="product GeoTIFF written by microflow (or COSI-Corr)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--pre", help="pre image: with --post, also report the photometric residual")
    p.add_argument("--post", help="post image (see --pre)")
    p.add_argument("--band", type=band_arg, default=None,
                   help="band of --pre/--post: an index, 'luma' or 'auto' (default: the band the product was measured on)")
    p.set_defaults(func=run)


def describe(path: str) -> dict:
    from microflow.errors import InputError
    from microflow.products.netcdf import read_product_any

    try:
        data, tags, profile = read_product_any(path)
    except Exception as exc:  # rasterio raises several types for unreadable files
        raise InputError(f"cannot read product {path}: {exc}") from None
    names = tags.pop("_descriptions", None) or [None] * data.shape[0]
    bands = []
    for i, band in enumerate(data):
        finite = band[np.isfinite(band)]
        stats = {"name": names[i] or f"band{i + 1}", "valid_fraction": float(finite.size / band.size)}
        if finite.size:
            stats.update(mean=float(finite.mean()), std=float(finite.std()), min=float(finite.min()),
                         max=float(finite.max()), median=float(np.median(finite)))
        bands.append(stats)
    return {"path": path, "shape": [profile["height"], profile["width"]], "crs": str(profile.get("crs")),
            "transform": list(profile["transform"])[:6] if profile.get("transform") else None,
            "units": tags.get("UNITS"), "method": tags.get("METHOD"), "parameters": tags.get("PARAMETERS"),
            "software": tags.get("SOFTWARE_VERSION"), "bands": bands,
            "sigma": sigma_summary(data[3]) if data.shape[0] > 3 else None}


def sigma_summary(sigma: np.ndarray) -> dict | None:
    """Median, 90th percentile, mean and max of the sigma band (product units), None when all NaN."""
    finite = sigma[np.isfinite(sigma)]
    if not finite.size:
        return None
    return {"median": float(np.median(finite)), "p90": float(np.percentile(finite, 90)),
            "mean": float(finite.mean()), "max": float(finite.max())}


def run(args) -> int:
    from microflow.errors import ParameterError

    info = describe(args.product)
    if bool(args.pre) != bool(args.post):
        raise ParameterError("--pre and --post go together")
    if args.pre:
        from microflow.analysis.photometric import format_residual, residual_for_product

        info["photometric_residual"] = residual_for_product(args.product, args.pre, args.post, args.band)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: {info['shape'][0]} x {info['shape'][1]}, CRS {info['crs']}")
    print(f"method {info['method']}, units {info['units']}, {info['software']}")
    print(f"parameters {info['parameters']}")
    print(f"{'band':<12}{'valid%':>8}{'mean':>10}{'std':>10}{'min':>10}{'median':>10}{'max':>10}")
    for b in info["bands"]:
        if "mean" in b:
            print(f"{b['name']:<12}{100 * b['valid_fraction']:>8.1f}{b['mean']:>10.4f}{b['std']:>10.4f}"
                  f"{b['min']:>10.4f}{b['median']:>10.4f}{b['max']:>10.4f}")
        else:
            print(f"{b['name']:<12}{0.0:>8.1f}  (no valid pixel)")
    if info["sigma"]:
        s, unit = info["sigma"], info["units"] or "pixel"
        print(f"sigma (calibrated 68 % error radius, {unit}): median {s['median']:.4g}, 90 % of pixels "
              f"<= {s['p90']:.4g}, mean {s['mean']:.4g}, max {s['max']:.4g}")
    else:
        print("sigma: none (a product without a calibrated sigma band)")
    if "photometric_residual" in info:
        print(format_residual(info["photometric_residual"]))
    return 0
