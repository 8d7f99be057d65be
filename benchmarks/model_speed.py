"""Cost of MicroFlow on CPU: seconds per training step and per 512² inference window.

Training: the real ``Trainer.train_step`` (forward over K iterations, sequence loss, backward,
gradient clipping, Adam) on an in-memory batch, for several widths and crops (data generation is
not included). Inference: ``MicroFlowEstimator.predict`` on one 512² window (normalization,
K iterations, confidence), float32. Each cell is "min wall / median wall / median CPU" seconds over
the timed runs after a warm-up: on a shared machine the minimum wall time and the CPU time (all
threads; about threads x wall on an idle machine) are the intrinsic cost, the median wall time what
a busy machine gives.
OMP_WAIT_POLICY defaults to PASSIVE (as in ``microflow train``); export OMP_WAIT_POLICY=ACTIVE to compare.

    python benchmarks/model_speed.py --threads 2 --widths 8 12 16 24 --crops 128 192 --batch 8
    python benchmarks/model_speed.py --widths --inference-widths --ensembles 1 2 4   # flip ensembles only
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `microflow train` does; before importing torch

import numpy as np
import torch

from microflow.methods.microflow import MicroFlowEstimator
from microflow.model.geoflownet import count_parameters
from microflow.model.microflow_net import build_microflow
from microflow.model.weights import DEFAULT_MODEL, save_weights
from microflow.training.config import load_config
from microflow.training.data import stack_batch, to_tensors
from microflow.training.trainer import Trainer


class RandomPairs:
    """Texture-free stand-in data: speed only."""

    def __init__(self, length: int, size: int) -> None:
        self.length, self.size = length, size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng(i)
        pre = rng.normal(size=(self.size, self.size)).astype(np.float32)
        return {"pre": pre, "post": pre + 0.1 * rng.normal(size=pre.shape).astype(np.float32),
                "flow": np.zeros((2, self.size, self.size), np.float32), "category": 0, "fault_mask": None}


def summary(times: list[float], cpu: list[float]) -> tuple[float, float, float]:
    """(min wall, median wall, median process CPU) seconds of the timed runs, warm-up excluded.

    CPU seconds (all threads) barely depend on other jobs: on an idle machine a step's wall time is
    about CPU / threads.
    """
    return float(np.min(times[1:])), float(np.median(times[1:])), float(np.median(cpu[1:]))


def time_training_step(width: int, crop: int, batch: int, iterations: int, steps: int, workdir: Path,
                       channels_last: bool = True) -> tuple[float, float, float]:
    """(min wall, median wall, median CPU) seconds of ``steps`` training steps after one warm-up step."""
    config = load_config(None, [f"model.width={width}", f"model.iterations={iterations}", f"data.crop={crop}",
                                f"data.size={crop}", f"run.batch_size={batch}", f"data.train_length={batch}",
                                "run.progress=false", "run.device=cpu", f"run.channels_last={channels_last}"])
    data = RandomPairs(batch, crop)
    val = {0: stack_batch([to_tensors(data[0], "robust")])}
    trainer = Trainer(config, workdir / f"w{width}_c{crop}_{channels_last}", train_data=data, val_set=val)
    batch_tensors = stack_batch([to_tensors(data[i], "robust") for i in range(batch)])
    times, cpu = [], []
    for _ in range(steps + 1):
        tic, cpu_tic = time.perf_counter(), time.process_time()
        trainer.train_step(batch_tensors)
        times.append(time.perf_counter() - tic)
        cpu.append(time.process_time() - cpu_tic)
    return summary(times, cpu)


def time_inference(width: int, size: int, iterations: int, repeats: int, workdir: Path) -> tuple[float, float, float]:
    """(min wall, median wall, median CPU) seconds to predict one size² window (after one warm-up)."""
    path = save_weights(workdir / f"speed_w{width}.safetensors", build_microflow(width, iterations))
    return time_window(path, size, repeats)


def time_window(model: str, size: int, repeats: int, ensemble: int = 1) -> tuple[float, float, float]:
    """(min wall, median wall, median CPU) seconds of ``model`` predicting one size² window with a flip
    ensemble of ``ensemble`` reads (after one warm-up)."""
    estimator = MicroFlowEstimator(model, device="cpu", batch_size=1, ensemble=ensemble)
    rng = np.random.default_rng(0)
    pre = rng.normal(size=(1, size, size)).astype(np.float32)
    post = pre + 0.1 * rng.normal(size=pre.shape).astype(np.float32)
    times, cpu = [], []
    for _ in range(repeats + 1):
        tic, cpu_tic = time.perf_counter(), time.process_time()
        estimator.predict(pre, post)
        times.append(time.perf_counter() - tic)
        cpu.append(time.process_time() - cpu_tic)
    return summary(times, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--widths", type=int, nargs="*", default=[8, 12, 16, 24])
    parser.add_argument("--crops", type=int, nargs="+", default=[128, 192])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per setting")
    parser.add_argument("--inference-widths", type=int, nargs="*", default=[16, 64])
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="timed inference runs per width")
    parser.add_argument("--ensembles", type=int, nargs="*", default=[],
                        help="also time the shipped default model with these flip-ensemble sizes (e.g. 1 2 4)")
    parser.add_argument("--compare-layout", type=int, nargs=2, metavar=("WIDTH", "CROP"),
                        help="also time this setting with contiguous (NCHW) tensors")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"threads": args.threads, "batch": args.batch, "iterations": args.iterations,
               "training": [], "inference": []}
    print(f"torch {torch.__version__}, {args.threads} threads, K = {args.iterations}, OMP_WAIT_POLICY="
          f"{os.environ['OMP_WAIT_POLICY']}, load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\ntraining step (batch {args.batch}, channels_last), seconds: min wall / median wall / CPU")
        print("| width | params/iteration | " + " | ".join(f"crop {c}" for c in args.crops) + " |")
        print("|---" * (2 + len(args.crops)) + "|")
        for width in args.widths:
            params = count_parameters(build_microflow(width, 1))
            cells = []
            for crop in args.crops:
                low, mid, cpu = time_training_step(width, crop, args.batch, args.iterations, args.steps, Path(tmp))
                results["training"].append({"width": width, "crop": crop, "min_s": low, "median_s": mid, "cpu_s": cpu})
                cells.append(f"{low:.2f} / {mid:.2f} / {cpu:.2f}")
            print(f"| {width} | {params:,} | " + " | ".join(cells) + " |", flush=True)
        if args.compare_layout:
            width, crop = args.compare_layout
            low, mid, cpu = time_training_step(width, crop, args.batch, args.iterations, args.steps, Path(tmp), False)
            results["training_contiguous"] = {"width": width, "crop": crop, "min_s": low, "median_s": mid, "cpu_s": cpu}
            print(f"| {width} (contiguous NCHW) | crop {crop} | {low:.2f} / {mid:.2f} / {cpu:.2f} |", flush=True)
        torch.set_num_threads(args.threads)  # Trainer may have changed it
        print(f"\ninference of one {args.window}² window (float32, K = {args.iterations}), seconds: "
              f"min wall / median wall / CPU")
        for width in args.inference_widths:
            low, mid, cpu = time_inference(width, args.window, args.iterations, args.repeats, Path(tmp))
            results["inference"].append({"width": width, "window": args.window, "min_s": low, "median_s": mid,
                                         "cpu_s": cpu})
            print(f"| width {width} | {low:.2f} / {mid:.2f} / {cpu:.2f} |", flush=True)
        base = None
        for count in args.ensembles:
            low, mid, cpu = time_window(DEFAULT_MODEL, args.window, args.repeats, count)
            base = base or low
            results.setdefault("ensemble", []).append({"ensemble": count, "min_s": low, "median_s": mid, "cpu_s": cpu})
            print(f"| `{DEFAULT_MODEL}`, --ensemble {count} | {low:.2f} / {mid:.2f} / {cpu:.2f} | "
                  f"{low / base:.2f}x one read (min wall) |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
