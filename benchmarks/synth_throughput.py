"""Throughput of the on-the-fly semi-synthetic generator (issue 3 acceptance).

Measures ``SyntheticPairs`` through a torch DataLoader with ``--workers`` worker processes
(default 2) at 256^2 and 512^2, after a warm-up that loads the texture bank in each worker, and
prints samples/s against the targets (>= 20/s at 256^2, >= 5/s at 512^2). The wall-clock rate
depends on what else runs on the machine, so it also prints the CPU time per sample measured in
this process (``time.process_time``, one thread) and the rate that implies with ``--workers``
dedicated cores, the time per stage, and the load average.

    python benchmarks/synth_throughput.py [--workers 2] [--samples 120] [--texture landsat]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from microflow.synth.dataset import SyntheticPairs, texture_bank

TARGETS = {256: 20.0, 512: 5.0}


def loader_throughput(size: int, samples: int, workers: int, texture: str) -> float:
    ds = SyntheticPairs("train", size=size, length=samples + 4 * workers, seed=123, texture=texture)
    texture_bank("train", texture).areas  # loaded once, inherited by forked workers
    loader = DataLoader(ds, batch_size=1, num_workers=workers, prefetch_factor=4 if workers else None)
    it = iter(loader)
    for _ in range(2 * max(workers, 1)):  # warm-up: workers started, first samples made
        next(it)
    start = time.perf_counter()
    n = 0
    for _ in it:
        n += 1
    return n / (time.perf_counter() - start)


def cpu_seconds_per_sample(size: int, texture: str, samples: int = 12) -> float:
    """CPU seconds per generated sample in this process (one torch thread)."""
    ds = SyntheticPairs("train", size=size, length=samples + 1, seed=321, texture=texture)
    ds[0]
    start = time.process_time()
    for i in range(1, samples + 1):
        ds[i]
    return (time.process_time() - start) / samples


def stage_times(size: int, texture: str, repeats: int = 5) -> dict:
    """Seconds per stage of generate_sample, measured in this process."""
    from microflow.synth.field import sample_rupture
    from microflow.synth.forward import warp_by_field
    from microflow.synth.generator import MARGIN_PX, sample_rng
    from microflow.synth.perturbations import perturb_pair
    from microflow.synth.ruptures import random_rupture

    bank = texture_bank("train", texture)
    bank.areas  # load before timing
    m, padded = MARGIN_PX, (size + 2 * MARGIN_PX,) * 2
    totals = {"texture": 0.0, "field": 0.0, "warp": 0.0, "perturb": 0.0}
    for i in range(repeats):
        rng = sample_rng(7, "train", i)
        t0 = time.perf_counter()
        tex = bank.sample(rng, *padded)
        t1 = time.perf_counter()
        rup = random_rupture(rng, padded)
        field = sample_rupture(rup.segments, rup.pixel_size, padded).scaled(1.0)
        t2 = time.perf_counter()
        rows, cols = np.meshgrid(np.arange(m, m + size, dtype=np.float32), np.arange(m, m + size, dtype=np.float32),
                                 indexing="ij")
        near = field.near_traces(rows, cols, 3.0)
        pre, post = warp_by_field(tex, lambda r, c: field(r, c, near), m)
        t3 = time.perf_counter()
        perturb_pair(rng, pre, post)
        t4 = time.perf_counter()
        for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            totals[key] += dt / repeats
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=120, help="timed samples at 256^2 (a quarter at 512^2)")
    parser.add_argument("--texture", default="landsat", choices=("landsat", "skimage"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"cpu cores {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}")
    for size, target in TARGETS.items():
        stages = stage_times(size, args.texture)
        print(f"{size}^2 one sample in-process: " + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in stages.items())
              + f", total {1e3 * sum(stages.values()):.1f} ms")
        cpu = cpu_seconds_per_sample(size, args.texture)
        capacity = args.workers / cpu
        print(f"{size}^2: {1e3 * cpu:.1f} ms CPU per sample -> {capacity:.1f} samples/s on {args.workers} "
              f"dedicated cores (target >= {target:g}) {'OK' if capacity >= target else 'BELOW TARGET'}")
        n = args.samples if size == 256 else max(args.samples // 4, 10)
        rate = loader_throughput(size, n, args.workers, args.texture)
        status = "OK" if rate >= target else "BELOW TARGET"
        print(f"{size}^2: {rate:.1f} samples/s wall clock, DataLoader with {args.workers} workers "
              f"(target >= {target:g}) {status}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
