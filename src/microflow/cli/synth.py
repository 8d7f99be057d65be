"""``microflow synth OUT_DIR``: write semi-synthetic samples in FaultDeform format."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("synth", help="generate a semi-synthetic FaultDeform-format dataset",
                       description="Write OUT_DIR/SPLIT/{id:06d}_{category}_sample.npy.npz pairs: real texture "
                                   "(Landsat 8 by default) displaced by random Okada ruptures, with temporal "
                                   "perturbations. Sample id i has category CATEGORIES[i % len] and is seeded "
                                   "from (seed, split, i): output does not depend on --workers, and existing "
                                   "files are skipped (resumable).")
    p.add_argument("out_dir", help="dataset root folder (created if missing)")
    p.add_argument("--split", default="train", choices=("train", "validation", "test"),
                   help="split; textures come from that split's disjoint area (default train)")
    p.add_argument("--count", type=int, required=True, help="number of samples (ids 0 .. COUNT-1)")
    p.add_argument("--size", type=int, default=512, help="sample size in pixels (default 512)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--categories", type=int, nargs="+", default=[0, 1, 2], choices=(0, 1, 2),
                   help="displacement categories cycled over ids: 0 very small 0.1-0.4 px, 1 small 0.4-1.2 px, "
                        "2 large 1.2-4 px (default 0 1 2)")
    p.add_argument("--texture", default="landsat", choices=("landsat", "skimage"),
                   help="texture source (landsat downloads ~73 MB once into ~/.cache/microflow)")
    p.add_argument("--null", action="store_true",
                   help="zero displacement with all perturbations (null check); flow files are zero")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.errors import ParameterError
    from microflow.synth.folder import SplitJob, write_split

    if args.count < 0 or args.size < 8 or args.workers < 1:
        raise ParameterError("need --count >= 0, --size >= 8 and --workers >= 1")
    job = SplitJob(args.out_dir, args.split, args.size, args.seed, tuple(dict.fromkeys(args.categories)),
                   args.texture, args.null)
    summary = write_split(job, args.count, args.workers, progress=not args.quiet)
    print(f"{summary['split']}: wrote {summary['written']} samples, skipped {summary['skipped']} existing "
          f"in {summary['root']}", file=sys.stderr)
    return 0
