"""Issue-10 diagnosis: where the coarse-to-fine start of MicroFlow goes wrong near a large rupture.

On ``--count`` Okada ruptures of :mod:`microflow.synth.large` (peaks 6-32 px) from the Landsat-8
VALIDATION area (the test area stays for ``benchmarks/large_displacement.py``), the network alone
(no log-TV, one window per pair) reports the EPE [px] in bands of distance to the trace (10-20,
20-40 and > 40 px; 48 px image border excluded) of:

* ``level 1/s``: each pyramid level's field f_l of :func:`~microflow.methods.coarse_to_fine.initial_field`,
  upsampled to full resolution, against ``truth 1/s``: the true field box-averaged to that level and
  upsampled (what the level could represent);
* ``refined from start``: the default run (the full-resolution network from the coarse start);
* ``refined from truth * G(σ)``: the full-resolution network started from the true field blurred by a
  Gaussian of σ px: how good a start the refinement needs.

    python benchmarks/diagnosis/coarse_to_fine_diagnosis.py [--count 8] [--size 384] [--report docs/COARSE_TO_FINE_DIAGNOSIS.md]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from microflow.analysis import metrics as M
from microflow.methods.coarse_to_fine import gaussian_smooth, initial_field, upsample_field
from microflow.methods.microflow import MicroFlowEstimator
from microflow.synth.large import large_sample
from microflow.synth.textures import TextureBank

BANDS = ((10, 20), (20, 40), (40, np.inf))
BLURS = (2.0, 4.0, 8.0)


def band_epe(field: np.ndarray, sample, border: int) -> list[float]:
    regions = M.evaluation_regions(sample.flow.shape[1:], sample.fault_mask, border, 10.0)
    dist = ndimage.distance_transform_edt(~sample.fault_mask)
    return [M.epe(field, sample.flow, regions["all"] & (dist > a) & (dist <= b)) for a, b in BANDS]


@torch.inference_mode()
def diagnose(estimator: MicroFlowEstimator, sample, max_displacement: float, border: int) -> dict:
    net = estimator.net
    pre, post = (torch.from_numpy(estimator._normalized(img[None], None)[:, None]).float()
                 for img in (sample.pre, sample.post))
    truth = torch.from_numpy(sample.flow).float()[None]
    shape = tuple(sample.flow.shape[1:])
    rows: dict[str, list[float]] = {}
    levels: list = []
    start = initial_field(net, pre, post, max_displacement, levels_out=levels)
    for level, field in levels:
        s = 2 ** level
        rows[f"level 1/{s}"] = band_epe(upsample_field(field, shape)[0].numpy(), sample, border)
        rows[f"truth 1/{s}"] = band_epe(upsample_field(F.avg_pool2d(truth, s) / s, shape)[0].numpy(), sample, border)
    rows["refined from start"] = band_epe(net(pre, post, None, init=start)[-1][0].numpy(), sample, border)
    for sigma in BLURS:
        init = gaussian_smooth(truth, sigma)
        rows[f"refined from truth * G({sigma:g})"] = band_epe(net(pre, post, None, init=init)[-1][0].numpy(),
                                                              sample, border)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="ruptures")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--border", type=int, default=48)
    parser.add_argument("--max-displacement", type=float, default=32.0)
    parser.add_argument("--model", default="robust")
    parser.add_argument("--report", default="docs/COARSE_TO_FINE_DIAGNOSIS.md")
    args = parser.parse_args()
    estimator = MicroFlowEstimator(args.model, threads=2)
    bank = TextureBank("validation", "landsat")
    table: dict[str, list] = defaultdict(list)
    index = done = 0
    while done < args.count:
        sample = large_sample(args.seed, index, args.size, (6.0, 32.0), bank)
        index += 1
        if not sample.fault_mask.any():
            continue  # glacier flows: no trace
        for name, values in diagnose(estimator, sample, args.max_displacement, args.border).items():
            table[name].append(values)
        done += 1
    head = ("| field | 10-20 px | 20-40 px | > 40 px |", "|---|---:|---:|---:|")
    lines = ["# Coarse-to-fine diagnosis (issue 10)", "",
             f"`python benchmarks/diagnosis/coarse_to_fine_diagnosis.py --count {args.count} --size {args.size}`: "
             f"{args.count} Okada ruptures (peaks 6-32 px) of the Landsat-8 VALIDATION area, model `{args.model}`, "
             "the network alone (no log-TV); mean EPE [px] by distance to the trace.", "", *head]
    for name, values in table.items():
        mean = np.nanmean(np.array(values, float), axis=0)
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in mean) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
