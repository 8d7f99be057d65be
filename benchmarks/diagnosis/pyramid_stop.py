"""Diagnosis: the coarse-to-fine stop threshold (``coarse_to_fine.STOP_PX``) and gate on VALIDATION data.

A window runs plainly (no pyramid, from zero) when the 99th percentile of its coarsest field, in
full-resolution px, stays below ``STOP_PX``. A model that reads the coarsest level a little low on a
window moving 4-7 px then loses the window's range (on the real Perito Moreno pair 20200131 -> 20200220
one window of the v3m fine-tune read ~2 px where the glacier moves ~5 px; ``closure_swap.py``). This
script scores candidate thresholds on data no threshold was chosen on before:

- realistic large-displacement pairs of the VALIDATION area (``synth.large.realistic_sample``: glacier and
  landslide flows or ruptures, snow, clouds, 16-day change, misregistration), peaks in ``--peaks``; EPE
  [px] binned by the true magnitude, interior ``--border`` px from the edges;
- the Okada validation split of ``near_fault_validation.py`` (three categories, peaks up to 4 px): EPE and
  near-fault EPE per category, where a lower threshold may start pyramids that were not needed;
- seconds per pair of each (the pyramid's extra cost).

``--steeps S ...`` scores the rupture repair's ``discontinuity_repair.STEEP`` (0: every textured pixel may
switch, as before 2026-12-07). ``--gates LOW:HIGH ...`` scores the gate too (``GATE_LOW_PX``, ``GATE_HIGH_PX``: inside a window that runs the
pyramid, a pixel starts from zero where the smoothed coarse field reads below LOW px, from the coarse field above
HIGH, linearly between).

MicroFlow + log-TV, max displacement 32 px, as ``microflow estimate`` runs it.

    python benchmarks/diagnosis/pyramid_stop.py --models world W.safetensors --stops 4.5 3.0
        [--gates 1:2 2:3] [--steeps 0 0.2] [--count 12] [--peaks 2 10] [--okada-per-category 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

BINS = ((0.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 40.0))


def realistic_scores(model: str, count: int, size: int, peaks, seed: int, border: int) -> dict:
    """{"bins": {label: EPE}, "s": seconds per pair} on the realistic validation pairs."""
    from microflow.analysis import metrics as M
    from microflow.api import estimate_arrays
    from microflow.regularization import regularize
    from microflow.synth.large import realistic_sample
    from microflow.synth.textures import TextureBank

    bank = TextureBank("validation", "landsat")
    sums, seconds = defaultdict(lambda: [0.0, 0]), 0.0
    for index in range(count):
        sample = realistic_sample(seed, index, size, tuple(peaks), bank)
        tic = time.perf_counter()
        field = estimate_arrays(sample.pre, sample.post, "microflow", model=model, max_displacement=32.0)
        pred = np.stack(regularize(field.dx, field.dy, "ltv"))
        seconds += time.perf_counter() - tic
        interior = M.evaluation_regions(sample.flow.shape[1:], sample.fault_mask, border, 10.0)["all"]
        error, magnitude = np.hypot(*(pred - sample.flow)), np.hypot(*sample.flow)
        for low, high in BINS:
            cells = interior & (magnitude >= low) & (magnitude < high) & np.isfinite(error)
            sums[f"{low:g}-{high:g} px"][0] += float(error[cells].sum())
            sums[f"{low:g}-{high:g} px"][1] += int(cells.sum())
    return {"bins": {k: s / n if n else float("nan") for k, (s, n) in sums.items()}, "s": seconds / count}


def okada_scores(model: str, per_category: int) -> dict:
    """evaluate_method's categories (EPE, near-fault EPE) and seconds per pair on the Okada validation split."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from near_fault_validation import validation_split

    from microflow.analysis.evaluate import evaluate_method

    job = validation_split(argparse.Namespace(per_category=per_category, size=256, seed=7,
                                              data="out/near_fault_validation", threads=2))
    tic = time.perf_counter()
    result = evaluate_method(job.root, "validation", "microflow", params={"model": model}, regularize="ltv",
                             limit=per_category, progress=False)
    return {"categories": result["categories"], "s": (time.perf_counter() - tic) / (3 * per_category)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["world"])
    parser.add_argument("--stops", nargs="+", type=float, default=[4.5, 3.0])
    parser.add_argument("--gates", nargs="+", default=None, help="LOW:HIGH gate ramps [px] (default: the module's)")
    parser.add_argument("--steeps", nargs="+", type=float, default=None,
                        help="the repair's STEEP values [px/px] (default: the module's)")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--peaks", nargs=2, type=float, default=[2.0, 10.0])
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--border", type=int, default=48)
    parser.add_argument("--okada-per-category", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    from microflow.methods import coarse_to_fine, discontinuity_repair

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    labels = [f"{low:g}-{high:g} px" for low, high in BINS]
    gates = [tuple(float(v) for v in g.split(":")) for g in args.gates] if args.gates else \
        [(coarse_to_fine.GATE_LOW_PX, coarse_to_fine.GATE_HIGH_PX)]
    steeps = args.steeps or [discontinuity_repair.STEEP]
    lines = ["| model | STOP_PX | gate [px] | repair STEEP | " + " | ".join(f"EPE {b}" for b in labels) + " | s/pair | "
             + " | ".join(f"Okada {k} c{c}" for k in ("EPE", "near") for c in "012") + " | s/pair |"]
    lines.append("|" + "---|" * (lines[0].count("|") - 1))
    for model, stop, (low, high), steep in ((m, s, g, t) for m in args.models for s in args.stops for g in gates
                                            for t in steeps):
        coarse_to_fine.STOP_PX, coarse_to_fine.GATE_LOW_PX, coarse_to_fine.GATE_HIGH_PX = stop, low, high
        discontinuity_repair.STEEP = steep
        real = realistic_scores(model, args.count, args.size, args.peaks, args.seed, args.border)
        okada = okada_scores(model, args.okada_per_category) if args.okada_per_category else None
        cats = okada["categories"] if okada else {}
        name = Path(model).stem if Path(model).suffix else model
        lines.append(f"| `{name}` | {stop:g} | {low:g}-{high:g} | {steep:g} | "
                     + " | ".join(f"{real['bins'][b]:.3f}" for b in labels) + f" | {real['s']:.1f} | "
                     + (" | ".join(f"{cats[c][k]:.4f}" for k in ("epe", "epe_near") for c in "012")
                        + f" | {okada['s']:.2f} |" if okada else " |" * 7))
        print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
