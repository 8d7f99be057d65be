"""``microflow bench``: regenerate docs/BENCHMARKS.md and its figures from a fixed-seed synthetic split."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark every method on a fixed-seed synthetic split (BENCHMARKS.md)",
                       description="Generate a synthetic test split with fixed seeds, evaluate each method in its "
                                   "own process (accuracy, smoothness, speed, peak memory) and write "
                                   "OUT/BENCHMARKS.md with figures in OUT/figures/.")
    p.add_argument("--out", default="docs", help="folder of BENCHMARKS.md (default docs)")
    p.add_argument("--quick", action="store_true",
                   help="small smoke version (1 pair per category, 96 px, scikit-image texture)")
    p.add_argument("--methods", nargs="+", metavar="M",
                   help="methods to compare (default: freqcorr ncc farneback tvl1 microflow)")
    p.add_argument("--data", metavar="DIR", help="keep the generated split in DIR (reused if it exists)")
    p.add_argument("--samples", type=int, metavar="N", help="pairs per category (overrides the mode's)")
    p.add_argument("--size", type=int, metavar="PX", help="image side in px (overrides the mode's)")
    p.add_argument("--source", choices=("landsat", "skimage"), help="texture source (overrides the mode's)")
    p.add_argument("--seed", type=int, help="generator seed (overrides the fixed default)")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="MicroFlow weights (shipped NAME or .safetensors file) instead of the default model")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.analysis.bench import FULL, QUICK, run_bench, with_overrides
    from microflow.errors import ParameterError

    for name in ("samples", "size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ParameterError(f"--{name} must be positive, got {value}")
    settings = with_overrides(QUICK if args.quick else FULL, samples_per_category=args.samples, size=args.size,
                              source=args.source, seed=args.seed)
    outcome = run_bench(args.out, quick=args.quick, methods=args.methods, data_dir=args.data, settings=settings,
                        microflow_model=args.model, progress=not args.quiet)
    print(f"wrote {outcome['markdown']} and {len(outcome['figures'])} figures in {outcome['seconds']:.0f} s",
          file=sys.stderr)
    for note in outcome["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0
