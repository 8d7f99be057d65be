"""Diagnosis: where two crops of one grid disagree (the crop-stability guard, issue 24 item 4), by distance to
the nearest crop edge.

Runs the guard's pair (``tests/test_crop_stability.py``: a real Landsat-8 window warped by a constant (2.0, -1.2)
px, cut into two overlapping crops) through the default method with each ``--model``, and prints the mean
|difference| of the two fields on their overlap in bands of distance [px] to the nearest edge of either crop,
then the guard's ratio (mean |difference| over the field's spread, 16 px from the overlap's edges; limit 0.3).

    python benchmarks/diagnosis/crop_edges.py [--model world2 ...] [--regularize ltv|none] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[2] / "tests"
sys.path.insert(0, str(TESTS))
from landsat_pairs import crop, landsat_shift, write_tif  # noqa: E402
from test_crop_stability import BORDER, BOX_A, BOX_B, DX, DY, OVERLAP, SIZE  # noqa: E402

BANDS = ((0, 16), (16, 32), (32, 48), (48, 64), (64, 96), (96, 400))


def overlap_fields(model: str, regularize: str | None, threads: int) -> dict:
    """{"a", "b"}: (2, h, w) fields of the two crops on their overlap."""
    from microflow.products.geotiff import read_product
    from microflow.tiling.scene import estimate_scene

    folder = Path(tempfile.mkdtemp(prefix="crop-edges-"))
    pre, post, transform, crs = landsat_shift(SIZE, DX, DY)
    (r0, r1), (c0, c1) = OVERLAP
    fields = {}
    for name, (rows, cols) in (("a", BOX_A), ("b", BOX_B)):
        paths = [write_tif(folder / f"{name}_{kind}.tif", *crop(image, transform, rows, cols), crs)
                 for kind, image in (("pre", pre), ("post", post))]
        out = folder / f"{name}.tif"
        estimate_scene(*paths, out, "microflow", progress=False, threads=threads, model=model, regularize=regularize)
        field, _, _ = read_product(out, as_field=True)
        fields[name] = np.stack([field.dx, field.dy])[:, r0 - rows[0]:r1 - rows[0], c0 - cols[0]:c1 - cols[0]]
    return fields


def edge_distance() -> np.ndarray:
    """(h, w) distance [px] of each overlap pixel to the nearest edge of either crop."""
    (r0, r1), (c0, c1) = OVERLAP
    rows, cols = np.mgrid[r0:r1, c0:c1]
    return np.minimum.reduce([np.minimum.reduce([rows - br[0], br[1] - 1 - rows, cols - bc[0], bc[1] - 1 - cols])
                              for br, bc in (BOX_A, BOX_B)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["world2"])
    parser.add_argument("--regularize", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    distance = edge_distance()
    print("| model | " + " | ".join(f"{lo}-{hi} px" for lo, hi in BANDS) + " | guard ratio |")
    print("|---|" + "---:|" * (len(BANDS) + 1))
    for model in args.model:
        f = overlap_fields(model, args.regularize, args.threads)
        gap = np.hypot(*(f["a"] - f["b"]))
        cells = [f"{np.nanmean(gap[(distance >= lo) & (distance < hi)]):.4f}" for lo, hi in BANDS]
        inner = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        a, b = f["a"][inner], f["b"][inner]
        spread = float(np.nanmean(np.hypot(*(a - np.nanmedian(a, axis=(1, 2), keepdims=True)))))
        ratio = float(np.nanmean(np.hypot(*(a - b)))) / spread
        print(f"| {model} | " + " | ".join(cells) + f" | {ratio:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
