"""``microflow correct PRODUCT -o OUT --model plane+stripes``: remove misregistration artefacts fitted on stable ground."""

from __future__ import annotations

import argparse
import sys


def parse_boundaries(text: str) -> tuple[float, ...]:
    """``"120,480.5"`` -> ``(120.0, 480.5)``."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser(
        "correct", help="remove offset, ramp, jitter stripes and detector steps fitted on stable ground",
        description="Fit a smooth artefact model on stable ground (robust, iteratively reweighted) and remove it "
                    "from a product. Stable ground, in order of preference: --stable VECTOR, --exclude VECTOR "
                    "[--buffer M], --stable-mask RASTER, or automatic (confident, low-sigma pixels away from sharp "
                    "field changes). A global fit removes real deformation that covers the scene: give a mask "
                    "whenever the motion reaches far. The output keeps the product's grid and tags, adds "
                    "CORRECTION (model, parameters, uncertainties, stable share) and carries the correction's "
                    "uncertainty in sigma.")
    p.add_argument("product", help="displacement product GeoTIFF (microflow estimate)")
    p.add_argument("-o", "--output", required=True, help="corrected product GeoTIFF")
    p.add_argument("--model", default="plane",
                   help="terms joined by '+': constant, plane or quadratic, and stripes (along-track jitter, constant "
                        "along image lines) and steps (detector boundaries) (default plane)")
    p.add_argument("--track-azimuth", type=float, metavar="DEG",
                   help="satellite track azimuth, degrees clockwise from north (default: estimated from the field)")
    p.add_argument("--boundaries", type=parse_boundaries, metavar="U1,U2,...",
                   help="detector boundaries for steps, across-track pixels from pixel (0,0) along azimuth "
                        "track+90° (for a north-up image and a track due north: column numbers; default: found)")
    stable = p.add_argument_group("stable ground (one of; default automatic)")
    stable.add_argument("--stable", metavar="VECTOR", help="polygons of stable ground (any OGR format)")
    stable.add_argument("--exclude", metavar="VECTOR", help="polygons to leave out (rupture zone, glacier)")
    stable.add_argument("--buffer", type=float, default=0.0, metavar="M",
                        help="grow the --exclude polygons by M metres (default 0)")
    stable.add_argument("--stable-mask", metavar="RASTER", help="raster, non-zero on stable ground")
    auto = p.add_argument_group("automatic mask")
    auto.add_argument("--min-confidence", type=float, default=0.2, help="lowest confidence kept (default 0.2)")
    auto.add_argument("--min-share", type=float, default=0.01,
                      help="refuse when stable ground is under this share of the valid field (default 0.01)")
    p.add_argument("--save-correction", metavar="OUT", help="also write the removed field as a product GeoTIFF")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.correction import CorrectionOptions, correct_product

    options = CorrectionOptions(model=args.model, track_azimuth=args.track_azimuth, boundaries=args.boundaries,
                                stable=args.stable, exclude=args.exclude, buffer=args.buffer,
                                stable_mask=args.stable_mask, min_confidence=args.min_confidence,
                                min_share=args.min_share, save_correction=args.save_correction,
                                overwrite=args.overwrite)
    info = correct_product(args.product, args.output, options)
    print(f"stable ground: {100 * info['stable_share']:.1f}% of the valid field ({info['stable_pixels']} px, "
          f"{info['stable_source']}); {100 * info['inlier_share']:.1f}% kept by the robust fit")
    for comp in ("dx", "dy"):
        terms = ", ".join(f"{k} {v:+.4f}±{info['uncertainty'][comp][k]:.4f}" for k, v in info["parameters"][comp].items())
        if terms:
            print(f"{comp} [px]: {terms}")
    if "track_azimuth_deg" in info:
        how = "estimated" if info["track_azimuth_estimated"] else "given"
        print(f"track azimuth {info['track_azimuth_deg']:.1f}° ({how})")
    if "steps" in info:
        print(f"detector boundaries (u px): {info['steps']['boundaries_u_px']}")
    print(f"wrote {info['output']}" + (f" and {info['correction_output']}" if info["correction_output"] else ""),
          file=sys.stderr)
    return 0
