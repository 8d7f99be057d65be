"""``microflow synth-scene OUT_DIR``: a georeferenced pre/post pair with a whole rupture and its truth."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("synth-scene", help="generate a georeferenced semi-synthetic pre/post GeoTIFF pair",
                       description="Write OUT_DIR/pre.tif, post.tif (uint16, Landsat 8 UTM 30 m grid), "
                                   "truth.tif (EW +east, NS +north, pixels, method 'truth'), fault_trace.tif and "
                                   "scene.json: a Landsat window crossed by a surface-breaking multi-segment "
                                   "Okada rupture, with temporal perturbations.")
    p.add_argument("out_dir", help="output folder (created if missing)")
    p.add_argument("--size", type=int, default=2048, help="scene size in pixels (default 2048)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--category", type=int, default=1, choices=(0, 1, 2),
                   help="peak displacement: 0 very small 0.1-0.4 px, 1 small 0.4-1.2 px, 2 large 1.2-4 px "
                        "(default 1)")
    p.add_argument("--split", default="test", choices=("train", "validation", "test", "all"),
                   help="texture area (default test; 'all' = the whole two-scene mosaic); mirror-tiled "
                        "when smaller than the scene")
    p.add_argument("--texture", default="landsat", choices=("landsat", "skimage"),
                   help="texture source (skimage: synthetic UTM georeference, no download)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from microflow.errors import ParameterError
    from microflow.synth.scene import make_scene, write_scene

    if args.size < 32:
        raise ParameterError(f"--size must be at least 32, got {args.size}")
    rng = np.random.default_rng(np.random.SeedSequence([int(args.seed), 1_000_003]))
    print(f"building a {args.size}x{args.size} scene ({args.texture}, {args.split} area)...", file=sys.stderr)
    scene = make_scene(rng, args.size, args.category, args.split, args.texture)
    paths = write_scene(args.out_dir, scene, overwrite=args.overwrite)
    print(f"wrote {', '.join(paths.values())} (peak {scene.params['peak_px']:.2f} px, "
          f"{scene.params['rupture']['mechanism']}, {len(scene.params['rupture']['segments'])} segments)",
          file=sys.stderr)
    return 0
