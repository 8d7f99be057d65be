"""Diagnosis: how much an 8-bit JPEG rendering (or a renewed surface) costs a model, on the VALIDATION split (never the test split).

Each validation pair (``near_fault_validation.py``'s recipe) is written again with both images passed
through :func:`microflow.synth.sensor.quantize` (8 bits) or :func:`~microflow.synth.sensor.jpeg_roundtrip`
at a given spread ``fill`` of the 0-255 range and JPEG ``quality``; the truth is unchanged (both effects
are shift-free). The table gives MicroFlow + log-TV EPE per category and the ratio to the plain pairs.

    python benchmarks/diagnosis/jpeg_render.py [--model world2 ...] [--variant 8bit:0.12 jpeg:0.12:90 ...]
        [--per-category 20] [--threads 1]

A variant is ``8bit:FILL``, ``jpeg:FILL:QUALITY`` or ``surface:W`` (post's surface partly renewed, weight
W, after the warp: the new pattern is independent of pre, so where it sits does not matter), or several
joined by ``+`` (``surface:0.3+jpeg:0.12:90``). Quality 90 with a fill of ~0.1 is what a
true-colour rendering of low-contrast ice looks like (the GIV Perito Moreno series: quality 90, 3-5 DN
of local texture).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from near_fault_validation import add_split_arguments, validation_split  # noqa: E402

DEFAULT_VARIANTS = ("8bit:0.12", "jpeg:0.12:90", "jpeg:0.5:90", "jpeg:0.12:75")


def degrade(image, variant: str, post: bool, seed: int = 0):
    """``image`` through ``variant``: ``8bit:FILL``, ``jpeg:FILL:QUALITY``, ``surface:W`` (post only: a
    partial renewal of the surface, :func:`microflow.synth.radiometry.surface_change`), or several joined
    by ``+`` and applied in order."""
    import numpy as np

    from microflow.synth import radiometry, sensor

    for step in variant.split("+"):
        kind, *values = step.split(":")
        if kind == "8bit":
            image = sensor.quantize(image, 8, float(values[0]))
        elif kind == "jpeg":
            image = sensor.jpeg_roundtrip(image, int(values[1]), float(values[0]))
        elif kind == "blur":
            from scipy.ndimage import gaussian_filter

            image = gaussian_filter(np.asarray(image, np.float32), float(values[0]), mode="nearest")
        elif kind == "surface":
            if post:
                image = radiometry.surface_change(np.random.default_rng(seed), image, float(values[0]))
        else:
            raise SystemExit(f"unknown variant {step!r}: use 8bit:FILL, jpeg:FILL:QUALITY, surface:W or blur:SIGMA")
    return image


def write_variant(job, variant: str, root: Path, count: int) -> Path:
    """The validation pairs with both images degraded, in FaultDeform layout under ``root`` (once)."""
    import dataclasses

    from microflow.synth.faultdeform import read_sample, write_sample

    for sample_id in range(count):
        target = root / job.split / job.path(sample_id).name
        if target.exists():
            continue
        sample = read_sample(job.path(sample_id))
        sample = dataclasses.replace(sample, pre=degrade(sample.pre, variant, False),
                                     post=degrade(sample.post, variant, True, sample_id),
                                     params={**sample.params, "render": variant})
        write_sample(root, job.split, sample)
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["world2"])
    parser.add_argument("--variant", nargs="+", default=list(DEFAULT_VARIANTS))
    add_split_arguments(parser)
    parser.set_defaults(per_category=20)
    args = parser.parse_args(argv)
    from microflow.analysis.evaluate import evaluate_method

    job = validation_split(args)
    roots = {"plain": Path(job.root)}
    for variant in args.variant:
        roots[variant] = write_variant(job, variant, Path(args.data) / "render" / variant.replace(":", "_"),
                                       3 * args.per_category)
    print("| model | render | EPE 0 / 1 / 2 [px] | ratio to plain |")
    print("|---|---|---|---|")
    for model in args.model:
        plain = None
        for name, root in roots.items():
            result = evaluate_method(str(root), "validation", "microflow", params={"model": model},
                                     regularize="ltv", limit=args.per_category, progress=False)
            epe = [result["categories"][c]["epe"] for c in "012"]
            plain = plain or epe
            ratio = " / ".join(f"{e / p:.2f}" for e, p in zip(epe, plain))
            print(f"| {model} | {name} | {' / '.join(f'{e:.3f}' for e in epe)} | {ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
