"""Seams of the whole-scene tiler: error near window borders vs inside windows, on a known field.

A semi-synthetic scene (:func:`microflow.synth.scene.make_scene`: Landsat texture, surface-breaking
rupture, temporal perturbations; ``--texture skimage`` needs no download) is estimated with
:func:`microflow.tiling.scene.estimate_scene`. With the tiler's window grid (window w, overlap o,
origins ``0, w - o, ...`` and the last one flush with the scene edge), pixels are split into

* border: within ``--band`` px (default 8) of an edge of some window that lies inside the scene
  (a seam would be there);
* interior: farther than that from every window edge;

both excluding the scene's own edge (``--edge`` px, where no blending happens), pixels within
``--fault`` px of the fault trace (their error is larger and would only add noise to the ratio)
and pixels without truth or estimate. EPE = mean Euclidean error [px] over each set (the ratio of
medians is printed too: means are sensitive to the few large errors of temporal-change patches).
Acceptance (issue 5): EPE(border) / EPE(interior) <= 1.1.

    python benchmarks/scene_seams.py --method microflow --model compact --size 1024
    python benchmarks/scene_seams.py --method freqcorr --texture skimage
    python benchmarks/scene_seams.py --size 1536 --peak 20 --fault 48 --regularize ltv   # coarse to fine
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from microflow.products.geotiff import read_product
from microflow.synth.scene import make_scene, write_scene
from microflow.tiling.scene import estimate_scene
from microflow.tiling.windows import WindowGrid

RATIO_LIMIT = 1.1


def window_edge_distance(grid: WindowGrid) -> np.ndarray:
    """(H, W) distance [px] to the nearest window edge that lies strictly inside the scene."""
    def axis_distance(origins: np.ndarray, size: int, length: int) -> np.ndarray:
        edges = np.unique(np.concatenate([origins, origins + size]))
        edges = edges[(edges > 0) & (edges < length)]
        if edges.size == 0:
            return np.full(length, np.inf)
        centres = np.arange(length) + 0.5  # an edge at e lies between pixels e - 1 and e
        return np.abs(centres[:, None] - edges[None, :]).min(axis=1)

    rows = axis_distance(grid.row_origins, grid.shape[0], grid.height)
    cols = axis_distance(grid.col_origins, grid.shape[1], grid.width)
    return np.minimum(rows[:, None], cols[None, :])


def seam_epe(estimate, truth, fault_mask: np.ndarray, grid: WindowGrid, band: float, edge: int,
             fault: int) -> dict:
    """EPE [px] on window-border and window-interior pixels (module docstring) and their ratio."""
    error = np.hypot(estimate.dx - truth.dx, estimate.dy - truth.dy)
    usable = np.isfinite(error)
    usable[:edge], usable[-edge:], usable[:, :edge], usable[:, -edge:] = False, False, False, False
    if fault_mask.any():
        usable &= ndimage.distance_transform_edt(~fault_mask) > fault
    distance = window_edge_distance(grid)
    border, interior = usable & (distance <= band), usable & (distance > band)
    epe_border, epe_interior = float(error[border].mean()), float(error[interior].mean())
    median_border, median_interior = float(np.median(error[border])), float(np.median(error[interior]))
    return {"epe_border": epe_border, "epe_interior": epe_interior, "ratio": epe_border / epe_interior,
            "median_ratio": median_border / median_interior,
            "border_pixels": int(border.sum()), "interior_pixels": int(interior.sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="microflow")
    parser.add_argument("--model", help="MicroFlow weights (shipped name or file; default: the package default)")
    parser.add_argument("--size", type=int, default=1024, help="scene side [px] (default 1024)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--category", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--peak", type=float, help="peak |d| [px] instead of the category's (large displacements)")
    parser.add_argument("--max-displacement", type=float, help="MicroFlow / correlator range [px] (default: the method's)")
    parser.add_argument("--texture", default="landsat", choices=("landsat", "skimage"))
    parser.add_argument("--window", type=int, help="tile window [px] (default: the method's)")
    parser.add_argument("--overlap", type=int, help="tile overlap [px] (default: the tiler's)")
    parser.add_argument("--regularize", nargs="+", default=["none"], choices=("ltv", "tv", "none"),
                        help="regularizers to measure (default: none, the raw blended field)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--band", type=float, default=8.0, help="border band half-width [px] (default 8)")
    parser.add_argument("--edge", type=int, default=32, help="scene edge left out [px] (default 32)")
    parser.add_argument("--fault", type=int, default=16, help="fault neighbourhood left out [px] (default 16)")
    parser.add_argument("--workdir", help="keep the scene and products here")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    folder = Path(args.workdir or tempfile.mkdtemp(prefix="microflow-seams-"))
    rng = np.random.default_rng(np.random.SeedSequence([args.seed, 1_000_003]))
    scene = make_scene(rng, args.size, args.category, "test", args.texture, peak_px=args.peak)
    paths = write_scene(folder / "scene", scene, overwrite=True)
    truth, _, _ = read_product(paths["truth"], as_field=True)
    params = {"model": args.model} if args.model else {}
    if args.max_displacement is not None:
        params["max_displacement"] = args.max_displacement
    results = []
    for reg in args.regularize:
        out = folder / f"{args.method}_{reg}.tif"
        summary = estimate_scene(paths["pre"], paths["post"], out, args.method, window=args.window,
                                 overlap=args.overlap, regularize=reg, threads=args.threads, overwrite=True,
                                 progress=True, method_params=params)
        estimate, _, _ = read_product(out, as_field=True)
        grid = WindowGrid(args.size, args.size, summary["window"], summary["overlap"])
        result = {"method": args.method, "model": args.model, "regularize": reg, "size": args.size,
                  "category": args.category, "texture": args.texture, "window": summary["window"],
                  "overlap": summary["overlap"], "seconds": round(summary["seconds"], 1),
                  **seam_epe(estimate, truth, scene.fault_mask, grid, args.band, args.edge, args.fault)}
        results.append(result)
        verdict = "ok" if result["ratio"] <= RATIO_LIMIT else "ABOVE"
        print(f"{args.method} ({reg}): EPE border {result['epe_border']:.4f} px ({result['border_pixels']} px), "
              f"interior {result['epe_interior']:.4f} px ({result['interior_pixels']} px), "
              f"ratio {result['ratio']:.3f} ({verdict} {RATIO_LIMIT}; ratio of medians "
              f"{result['median_ratio']:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
