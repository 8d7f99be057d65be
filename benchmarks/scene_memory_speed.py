"""Peak memory and throughput of ``microflow estimate`` on a large scene (default 8192² uint16).

Acceptance (issue 5): peak RSS <= 2 GB for the default model with log-TV on 8192², and >= 10
megapixels/min with log-TV on 2 cores. Each run is a separate ``microflow estimate`` process; its
peak resident set comes from ``os.wait4`` (``ru_maxrss`` of that child alone). Throughput =
scene pixels / wall time of the whole command (reading, model, regularization, writing); per CPU
minute (user + system time of the child) too, which depends less on other load on the machine.

The scene: pre = a texture of scikit-image's CC0 pictures mirror-tiled over the scene (a
deterministic function of the global pixel position), post = pre moved by a constant sub-pixel
shift (Fourier shift of each block with a margin, margin cropped). Both are written block by
block, so the generator holds one block, never the scene. Speed does not depend on the weights:
without ``--model`` a freshly initialised model of ``configs/compact.yaml`` is used (its network,
and its training crop as the window, as the trainer saves them).

    python benchmarks/scene_memory_speed.py --size 8192 --threads 2
    python benchmarks/scene_memory_speed.py --size 2048 --model path/to/best.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from microflow.hugepages import environment_without_our_settings
from microflow.synth.shift import fourier_shift

BLOCK_ROWS = 512
SHIFT = (0.3, -0.2)   # (dx, dy) px of post relative to pre
MARGIN = 16           # px of context around each block for the Fourier shift
LIMIT_GB = 2.0
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "compact.yaml"
TARGET_MP_PER_MIN = 10.0


def mirrored_index(index: np.ndarray, period: int) -> np.ndarray:
    """Index into a picture of ``period`` pixels mirrored end to end (period 2 x period)."""
    index = np.mod(index, 2 * period)
    return np.where(index < period, index, 2 * period - 1 - index)


def texture(rows: np.ndarray, cols: np.ndarray, pictures: list[np.ndarray]) -> np.ndarray:
    """Scene radiometry at global (rows, cols): mirrored pictures, each at its own offset, summed."""
    out = np.zeros((len(rows), len(cols)), np.float64)
    for k, pic in enumerate(pictures):
        r = mirrored_index(rows + 131 * k, pic.shape[0])
        c = mirrored_index(cols + 257 * k, pic.shape[1])
        out += pic[np.ix_(r, c)]
    return out


def write_scene(folder: Path, size: int, height: int) -> tuple[Path, Path]:
    """Write pre.tif and post.tif (uint16, tiled, ``height`` x ``size``) block by block."""
    from skimage import data

    pictures = [data.grass().astype(np.float64), data.gravel().astype(np.float64).T,
                data.brick().astype(np.float64)]
    gain = 60000.0 / (255.0 * len(pictures))
    profile = {"driver": "GTiff", "height": height, "width": size, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32611", "transform": Affine(10.0, 0.0, 400_000.0, 0.0, -10.0, 4_000_000.0),
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    paths = folder / "pre.tif", folder / "post.tif"
    cols = np.arange(-MARGIN, size + MARGIN)
    with rasterio.open(paths[0], "w", **profile) as pre_ds, rasterio.open(paths[1], "w", **profile) as post_ds:
        for top in range(0, height, BLOCK_ROWS):
            n = min(BLOCK_ROWS, height - top)
            rows = np.arange(top - MARGIN, top + n + MARGIN)
            block = texture(rows, cols, pictures) * gain
            moved = fourier_shift(block, *SHIFT)
            inner = (slice(MARGIN, MARGIN + n), slice(MARGIN, MARGIN + size))
            window = Window(0, top, size, n)
            pre_ds.write(np.clip(np.rint(block[inner]), 0, 65535).astype(np.uint16), 1, window=window)
            post_ds.write(np.clip(np.rint(moved[inner]), 0, 65535).astype(np.uint16), 1, window=window)
    return paths


def fresh_model(path: Path, config_path: Path) -> Path:
    """A randomly initialised model of a training config (network and window = training crop, as
    the trainer saves them): speed and memory only."""
    import torch

    from microflow.model.microflow_net import build_microflow
    from microflow.model.weights import save_weights
    from microflow.training.config import load_config
    from microflow.training.trainer import architecture

    config = load_config(config_path)
    torch.manual_seed(0)
    return save_weights(path, build_microflow(**architecture(config.model)), window=config.data.crop,
                        normalization=config.data.normalization,
                        card={"note": f"random weights of {config_path.name} for speed benchmarks"})


def run_measured(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in GB) of one child process, in the user's environment
    (without the allocator setting importing microflow made here: each version decides its own)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=environment_without_our_settings())
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed ({status}): {' '.join(command)}")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * scale / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="scene side in pixels (default 8192)")
    parser.add_argument("--height", type=int,
                        help="scene rows (default: --size). Memory is bounded by the WIDTH: a full-width "
                             "strip of >= 1536 rows reaches the steady-state peak of the full scene")
    parser.add_argument("--model", help="weights file (default: a freshly initialised model of --config)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="training config of the fresh model (default: configs/compact.yaml)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch-size", type=int, help="windows per batch (default: the tiler's)")
    parser.add_argument("--regularize", nargs="+", default=["ltv", "none"], choices=("ltv", "tv", "none"),
                        help="runs to make (default: ltv none)")
    parser.add_argument("--workdir", help="keep the scene and products here (default: a temporary folder)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    folder = Path(args.workdir or tempfile.mkdtemp(prefix="microflow-scene-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        tic = time.perf_counter()
        height = args.height or args.size
        pre, post = write_scene(folder, args.size, height)
        print(f"scene {height}x{args.size} written in {time.perf_counter() - tic:.1f} s", file=sys.stderr)
        model = args.model or str(fresh_model(folder / f"fresh_{args.config.stem}.safetensors", args.config))
        megapixels = args.size * height / 1e6
        results = []
        for reg in args.regularize:
            command = [sys.executable, "-m", "microflow.cli.main", "estimate", str(pre), str(post),
                       "-o", str(folder / f"out_{reg}.tif"), "--overwrite", "--method", "microflow",
                       "--model", model, "--threads", str(args.threads), "--regularize", reg]
            if args.batch_size:
                command += ["--batch-size", str(args.batch_size)]
            seconds, cpu_seconds, peak_gb = run_measured(command)
            results.append({"regularize": reg, "width": args.size, "height": height, "seconds": round(seconds, 1),
                            "megapixels_per_min": round(megapixels / seconds * 60, 2),
                            "megapixels_per_cpu_min": round(megapixels / cpu_seconds * 60, 2),
                            "peak_rss_gb": round(peak_gb, 3), "threads": args.threads, "model": model})
            print(json.dumps(results[-1]), flush=True)
        for r in results:
            verdict = (f"peak RSS {r['peak_rss_gb']:.2f} GB ({'ok' if r['peak_rss_gb'] <= LIMIT_GB else 'OVER'} "
                       f"{LIMIT_GB} GB), {r['megapixels_per_min']:.1f} MP/min")
            if r["regularize"] == "ltv":
                verdict += f" ({'ok' if r['megapixels_per_min'] >= TARGET_MP_PER_MIN else 'BELOW'} "
                verdict += f"{TARGET_MP_PER_MIN} MP/min target)"
            print(f"{r['regularize']:>5}: {verdict}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
