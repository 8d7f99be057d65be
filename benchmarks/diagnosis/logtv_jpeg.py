"""Diagnosis: does a stronger log-TV undo a JPEG rendering? λ on plain and JPEG-rendered VALIDATION pairs.

MicroFlow reads every pair of a validation folder once (``tune_logtv.raw_fields``); each λ of the grid
(ε = 1 px) then regularizes the same raw fields. Printed per folder and λ: EPE and near-fault EPE per
category (very small / small / large, px). The folders are those ``jpeg_render.py`` writes: its plain
split and a rendered copy, e.g.

    python benchmarks/diagnosis/jpeg_render.py --model world2 --variant jpeg:0.12:90 --per-category 12
    python benchmarks/diagnosis/logtv_jpeg.py out/near_fault_validation/seed7 \\
        out/near_fault_validation/render/jpeg_0.12_90 [--model world2] [--lams 0.2 0.4 0.8 1.6 3.2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_logtv import raw_fields, score_grid, summarize  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="FaultDeform folders with a validation split")
    parser.add_argument("--model", default="world2")
    parser.add_argument("--lams", type=float, nargs="+", default=[0.2, 0.4, 0.8, 1.6, 3.2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    grid = [(lam, 1.0) for lam in args.lams]
    print("| folder | λ | EPE 0 / 1 / 2 [px] | near-fault EPE 0 / 1 / 2 [px] |")
    print("|---|---|---|---|")
    for folder in args.folders:
        scores = score_grid(raw_fields(folder, args.model), grid)
        for key in ["none"] + grid:
            m = summarize(scores[key])
            lam = "raw" if key == "none" else f"{key[0]:g}"
            epe = " / ".join(f"{m[c]['epe']:.4f}" for c in (0, 1, 2))
            near = " / ".join(f"{m[c]['epe_near']:.3f}" for c in (0, 1, 2))
            print(f"| {Path(folder).name} | {lam} | {epe} | {near} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
