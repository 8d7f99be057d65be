"""Raw-network EPE per category and iteration on an in-memory synthetic split (GPU or CPU).

    python scripts/score_split.py WEIGHTS [--split test] [--per-category 60] [--size 256] [--seed 2025]
        [--device auto] [--json OUT.json]

The pairs are the generator's (``SyntheticPairs``, no world switches), made in memory rather than
read from uint16 files, and the network runs without tiling or log-TV: a quick, comparable score for a
training machine that has no rasterio (``$MICROFLOW_LANDSAT_NPZ``). The acceptance numbers stay those of
``benchmarks/model_acceptance.py`` and ``benchmarks/model_v3_acceptance.py``.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from microflow.model.loss import end_point_error
from microflow.model.weights import load_model, resolve_device
from microflow.synth.dataset import SyntheticPairs
from microflow.training.augment import center_crop
from microflow.training.data import as_numpy, stack_batch, to_tensors


@torch.inference_mode()
def score(weights: str, split: str, per_category: int, size: int, seed: int, device: str) -> dict:
    loaded = load_model(weights, resolve_device(device))
    net, dev = loaded.net, next(loaded.net.parameters()).device
    crop = size - size % 16
    result = {}
    for category in (0, 1, 2):
        raw = SyntheticPairs(split=split, size=size, length=per_category, seed=seed, categories=(category,))
        items = [to_tensors(center_crop(as_numpy(raw[i]), crop), loaded.config["normalization"])
                 for i in range(per_category)]
        sums = None
        for start in range(0, per_category, 8):
            batch = stack_batch(items[start:start + 8])
            flows = net(batch["pre"].to(dev), batch["post"].to(dev))
            errs = [end_point_error(f, batch["flow"].to(dev), batch["valid"].to(dev)).item() * len(batch["pre"])
                    for f in flows]
            sums = errs if sums is None else [a + b for a, b in zip(sums, errs)]
        result[str(category)] = [s / per_category for s in sums]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-category", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json")
    args = parser.parse_args()
    result = score(args.weights, args.split, args.per_category, args.size, args.seed, args.device)
    for category, epes in result.items():
        print(f"category {category}: EPE per iteration " + ", ".join(f"{e:.4f}" for e in epes))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
