"""Issue-10 tuning of :mod:`microflow.methods.discontinuity_repair` on the VALIDATION area.

The pairs of ``benchmarks/large_displacement.py`` (glacier flows and Okada ruptures alternating,
peaks 6-32 px, ``--count`` pairs of ``--size`` px), drawn from the Landsat-8 validation texture area
(the test area stays for the acceptance benchmark). The network alone (no log-TV, one window per
pair) runs from the coarse-to-fine start, then each variant of the repair; the mean far-field EPE
(more than 10 px from a trace, 48 px border excluded) is reported per kind.

    python benchmarks/diagnosis/discontinuity_repair_validation.py [--count 16] [--size 384] [--model robust]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from microflow.analysis import metrics as M
from microflow.methods import discontinuity_repair as D
from microflow.methods.coarse_to_fine import initial_field
from microflow.methods.microflow import MicroFlowEstimator
from microflow.synth.large import large_sample
from microflow.synth.textures import TextureBank

VARIANTS = {
    "no repair": None,
    "default": {},
    "min_std 0.1": {"min_std": 0.1},
    "min_std 0.1, 3 cycles": {"min_std": 0.1, "cycles": 3},
    "margin 0.05": {"margin": 0.05},
    "margin 0.1": {"margin": 0.1},
    "margin 0.2": {"margin": 0.2},
    "steep 0.05": {"steep": 0.05},
    "steep 0.1": {"steep": 0.1},
    "steep 0.2": {"steep": 0.2},
}


@torch.inference_mode()
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--border", type=int, default=48)
    parser.add_argument("--model", default="robust")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="NAME",
                        help="variants to score (default: all)")
    args = parser.parse_args()
    estimator = MicroFlowEstimator(args.model, threads=2)
    bank = TextureBank("validation", "landsat")
    variants = {name: VARIANTS[name] for name in args.variants}
    scores = {name: {"glacier": [], "rupture": []} for name in variants}
    for index in tqdm(range(args.count), unit="pair"):
        sample = large_sample(args.seed, index, args.size, (6.0, 32.0), bank)
        pre, post = (torch.from_numpy(estimator._normalized(img[None], None)[:, None]).float()
                     for img in (sample.pre, sample.post))
        far = M.evaluation_regions(sample.flow.shape[1:], sample.fault_mask, args.border, 10.0)["far"]
        flows = estimator.net(pre, post, None, init=initial_field(estimator.net, pre, post, 32.0))
        for name, options in variants.items():
            out = flows if options is None else D.repair(estimator.net, pre, post, flows, **options)
            scores[name][sample.params["kind"]].append(M.epe(out[-1][0].numpy(), sample.flow, far))
    print("| variant | far EPE glacier | far EPE rupture |\n|---|---:|---:|")
    for name, row in scores.items():
        print(f"| {name} | {np.mean(row['glacier']):.3f} | {np.mean(row['rupture']):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
