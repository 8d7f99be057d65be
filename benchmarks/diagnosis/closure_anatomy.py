"""Diagnosis: what a Perito Moreno triplet's closure residual is made of (range, borders, texture, model noise).

The median closure residual r = |d_AB + d_BC(. + d_AB) - d_AC| (``analysis.closure``) of the long
triplet (~13 px from A to C) mixes range errors with the noise of three real fields. This script splits
r over the glacier mask (48 px from the border) by

- the motion |d_AC| [px]: a method that loses range has r growing with it;
- the distance [px] to the no-data outline of the three dates (the glacier's outline, filled with 0);
- quartiles of the local texture of A (standard deviation of the green band in 15 px boxes, DN);

and, for each count of ``--ensembles``, the same for the flip ensemble of that many reads
(``microflow estimate --ensemble N``, :mod:`microflow.methods.flip_ensemble`). What the ensemble removes
is noise of the network's reading of the texture; what stays is shared by every read (the images' change,
JPEG blocks, the glacier's own deformation between the dates).

    python benchmarks/diagnosis/closure_anatomy.py [--model world2] [--triplet A B C] [--ensembles 1 2 4]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

MOTION_BINS = ((0, 4), (4, 8), (8, 12), (12, 16), (16, 40))
DISTANCE_BINS = ((0, 32), (32, 64), (64, 128), (128, None))
TEXTURE_BOX = 15


def local_std(image: np.ndarray, box: int = TEXTURE_BOX) -> np.ndarray:
    """Standard deviation of ``image`` in ``box`` x ``box`` windows (same shape)."""
    from scipy import ndimage

    image = image.astype(np.float64)
    variance = ndimage.uniform_filter(image ** 2, box) - ndimage.uniform_filter(image, box) ** 2
    return np.sqrt(np.maximum(variance, 0.0))


def pixel_layers(triplet) -> dict[str, np.ndarray]:
    """The per-pixel maps the residual is split by that do not depend on the fields: the distance [px] to
    the no-data outline of the three dates and the local texture of A [DN]."""
    from scipy import ndimage

    from microflow.analysis.shift_set import perito_band

    data = np.logical_and.reduce([perito_band(date) > 0 for date in triplet])
    return {"distance": ndimage.distance_transform_edt(data), "texture": local_std(perito_band(triplet[0]))}


def breakdown(residual: np.ndarray, region: np.ndarray, d_ac, layers: dict[str, np.ndarray]) -> list[str]:
    """Markdown rows: median r per motion, distance-to-no-data and texture bin (share of the region)."""
    region = region & np.isfinite(residual)
    texture = layers["texture"]
    quartiles = np.percentile(texture[region], [0, 25, 50, 75, 100])
    groups = [(f"|d_AC| {lo}-{hi} px", np.hypot(*d_ac), lo, hi) for lo, hi in MOTION_BINS]
    groups += [(f"no-data {lo}-{hi or '∞'} px away", layers["distance"], lo, hi or np.inf)
               for lo, hi in DISTANCE_BINS]
    groups += [(f"texture Q{i + 1} ({quartiles[i]:.1f}-{quartiles[i + 1]:.1f} DN)", texture, quartiles[i],
                quartiles[i + 1] + (1e-9 if i == 3 else 0)) for i in range(4)]
    rows = []
    for label, values, low, high in groups:
        cells = region & (values >= low) & (values < high)
        if cells.any():
            rows.append(f"| {label} | {cells.sum() / region.sum():.3f} | {np.median(residual[cells]):.3f} |")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="world2")
    parser.add_argument("--triplet", nargs=3, default=None, metavar=("A", "B", "C"))
    parser.add_argument("--ensembles", nargs="+", type=int, default=[1], help="flip-ensemble sizes")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from microflow.analysis.closure import border_region
    from microflow.analysis.shift_set import (CLOSURE_MARGIN, LONG_TRIPLET, once_per_pair, perito_field,
                                              perito_mask, triplet_residual)

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    triplet = tuple(args.triplet or LONG_TRIPLET)
    region = border_region(perito_mask(), CLOSURE_MARGIN)
    layers = pixel_layers(triplet)
    variants = {f"ensemble {n}" if n > 1 else "one read": once_per_pair(
        lambda a, b, n=n: perito_field(a, b, "microflow+ltv", {"model": args.model, "ensemble": n}))
        for n in args.ensembles}
    print(f"triplet {'/'.join(triplet)}, model {args.model}, MicroFlow + log-TV, median closure residual r [px]")
    for name, field in variants.items():
        residual = triplet_residual(field, triplet)
        print(f"\n### {name}: median r = {np.nanmedian(residual[region]):.3f} px\n")
        print("| pixels | share | median r |\n|---|---:|---:|")
        print("\n".join(breakdown(residual, region, field(triplet[0], triplet[2]), layers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
