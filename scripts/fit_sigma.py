"""Fit the sigma calibration tables on the VALIDATION split and write them next to the weights.

    python scripts/fit_sigma.py [--per-category 24] [--null 24] [--size 256] [--seed 7]
                                [--keys microflow+ltv,microflow,freqcorr,ncc,farneback] [--model compact]
                                [--cache out/sigma_fit]

Pairs: ``per-category`` Okada pairs of each category (``generate_sample(sample_rng(seed,
"validation", i), ...)``, the test split's recipe on the validation area) and ``null`` zero-motion
real-change pairs (cross-band sources, real-texture patches: ``RealChange(p_cross_band=1.0,
p_real_patches=0.3)``, ``displacement=False``) so the tables see real radiometric change; their
error is ||d - median(d)||, the bands of one date being co-registered only to a constant. Each
finite interior pixel (16 px border excluded) gives (confidence, |grad d|, EPE); see
:mod:`microflow.uncertainty.table` for the fit. Writes ``src/microflow/weights/sigma_calibration.json``
and its note ``sigma_calibration.md``. The test split is never read.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

from microflow.analysis.sigma_eval import METHOD_KEYS, concat, final_field, pixel_table, split_key
from microflow.synth.dataset import texture_bank
from microflow.synth.generator import generate_sample, sample_rng
from microflow.synth.real_change import RealChange
from microflow.uncertainty import CALIBRATION_FILE, coverage_of, fit_table

NULL_OFFSET = 100_000   # validation sample ids of the null pairs (disjoint from the Okada pairs' ids)
GRAD_TAIL = (0.95, 0.97, 0.98, 0.99, 0.995)  # extra gradient-bin edges (quantiles) for MicroFlow: its
# fault-trace pixels (~4 % of the pixels, gradient ~0.1 px/px) get bins of their own. Validation, 6 pairs,
# coverage within 5 px of the trace: microflow+ltv 0.22 -> 0.56, microflow 0.25 -> 0.60, other groups
# unchanged; freqcorr 0.59 -> 0.46 (its gradient tail is outliers, not faults), so not for the correlators.
TAIL_METHODS = ("microflow",)


def validation_pairs(per_category: int, null: int, size: int, seed: int):
    """Yield (label, sample) for the Okada pairs, then the real-change null pairs."""
    bank = texture_bank("validation", "landsat")
    for i in range(3 * per_category):
        yield str(i % 3), generate_sample(sample_rng(seed, "validation", i), size, i % 3, bank, sample_id=i)
    change = RealChange(p_cross_band=1.0, p_real_patches=0.3)
    for k in range(null):
        i = NULL_OFFSET + k
        yield "null", generate_sample(sample_rng(seed, "validation", i), size, k % 3, bank, sample_id=i,
                                      displacement=False, real_change=change)


def collect(args, keys: list[str]) -> tuple[dict, dict]:
    """{key: {label: [pixel tables]}} and {key: seconds} of the Okada pairs and of the null pairs;
    each part read from / saved to its own ``args.cache`` file (.npz)."""
    pixels: dict[str, dict[str, list]] = {k: {} for k in keys}
    seconds = dict.fromkeys(keys, 0.0)
    pairs = list(validation_pairs(args.per_category, args.null, args.size, args.seed))
    for part, chosen in (("okada", [p for p in pairs if p[0] != "null"]), ("null_centred", [p for p in pairs if p[0] == "null"])):
        name = f"fit_sigma_{args.seed}_{args.per_category if part == 'okada' else args.null}_{args.size}_{args.model}_{part}.npz"
        part_pixels, part_seconds = _collect_part(chosen, keys, args.model, Path(args.cache) / name if args.cache else None)
        for key in keys:
            for label, tables in part_pixels[key].items():
                pixels[key].setdefault(label, []).extend(tables)
            seconds[key] += part_seconds[key]
    return pixels, seconds


def _collect_part(pairs: list, keys: list[str], model: str, cache: Path | None) -> tuple[dict, dict]:
    """Pixel tables of ``pairs`` [(label, sample)]; a null pair's error is ||d - median(d)|| (a
    cross-band pair may carry the bands' constant misregistration, not the method's error)."""
    if cache is not None and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if all(f"{k}|seconds" in data for k in keys):
            pixels = {k: {} for k in keys}
            for name in data.files:
                if name.count("|") == 2:
                    key, label, column = name.split("|")
                    if key in pixels:
                        pixels[key].setdefault(label, [{}])[0][column] = data[name]
            return pixels, {k: float(data[f"{k}|seconds"]) for k in keys}
    pixels: dict[str, dict[str, list]] = {k: {} for k in keys}
    seconds = dict.fromkeys(keys, 0.0)
    for n, (label, sample) in enumerate(pairs):
        for key in keys:
            method, _ = split_key(key)
            params = {"model": model} if method == "microflow" else {}
            start = time.perf_counter()
            dx, dy, conf = final_field(sample.pre, sample.post, key, params)
            seconds[key] += time.perf_counter() - start
            pixels[key].setdefault(label, []).append(pixel_table(dx, dy, conf, sample.flow, centre=label == "null"))
        print(f"\rpair {n + 1}/{len(pairs)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{k}|seconds": np.array(seconds[k]) for k in keys}
        for key in keys:
            for label, tables in pixels[key].items():
                arrays.update({f"{key}|{label}|{c}": v for c, v in concat(tables).items()})
        np.savez(cache, **arrays)
    return pixels, seconds


def note(result: dict) -> str:
    lines = [f"# sigma calibration (`{CALIBRATION_FILE.name}`)", "",
             "sigma = T_key(confidence bin, |grad d| bin): the 68 % quantile of the end-point error of the "
             "validation pixels of each bin, made monotone (non-increasing in confidence, non-decreasing in "
             "gradient: the mean of the upper and lower monotone envelopes), floored, then scaled so that the pooled "
             "validation coverage is 68 %. Null pairs are scored by ||d - median(d)||. Regenerate: `"
             + result["command"].strip() + "`. Coverage on the TEST split: `python benchmarks/uncertainty.py` "
             "(docs/UNCERTAINTY.md); known limit: MicroFlow's sigma under-states the error near fault traces and "
             "under real radiometric change (the two features do not see them).", "",
             f"- fitted {result['fitted']} on the VALIDATION split (Landsat-8 validation area), seed "
             f"{result['seed']}, {result['per_category']} Okada pairs per category + {result['null']} zero-motion "
             f"real-change pairs, {result['size']}² px, 16 px border excluded; the test split is never read",
             f"- MicroFlow model sha256: `{result.get('model_sha256', '-')}`", "",
             "| key | pixels | validation coverage (all / very small / small / large / null) | s |",
             "|---|---:|---|---:|"]
    for key, t in result["tables"].items():
        cov = t["meta"]["validation_coverage"]
        lines.append(f"| `{key}` | {t['meta']['pixels']} | " + " / ".join(f"{cov[k]:.3f}" for k in
                     ("all", "0", "1", "2", "null")) + f" | {t['meta']['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=24)
    parser.add_argument("--null", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keys", default=",".join(METHOD_KEYS))
    parser.add_argument("--model", default="compact")
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--cache", default="out/sigma_fit",
                        help="folder of the per-pixel features (reused when present); '' disables")
    args = parser.parse_args()
    keys = [k for k in args.keys.split(",") if k]
    pixels, seconds = collect(args, keys)
    result = {"version": 1, "fitted": datetime.date.today().isoformat(), "seed": args.seed,
              "per_category": args.per_category, "null": args.null, "size": args.size, "split": "validation",
              "command": "python scripts/fit_sigma.py " + " ".join(sys.argv[1:]), "tables": {}}
    if any(split_key(k)[0] == "microflow" for k in keys):
        from microflow.model.weights import file_sha256, resolve_model

        result["model"], result["model_sha256"] = args.model, file_sha256(resolve_model(args.model))
    for key in keys:
        groups = {label: concat(tables) for label, tables in pixels[key].items()}
        everything = concat(list(groups.values()))
        table = fit_table(everything["confidence"], everything["gradient"], everything["error"], grad_tail=GRAD_TAIL if split_key(key)[0] in TAIL_METHODS else ())
        cov = {label: coverage_of(table.lookup(g["confidence"], g["gradient"]), g["error"]) for label, g in groups.items()}
        cov["all"] = coverage_of(table.lookup(everything["confidence"], everything["gradient"]), everything["error"])
        data = table.to_dict()
        data["meta"].update(validation_coverage=cov, seconds=seconds[key])
        if split_key(key)[0] == "microflow":
            data["meta"].update(model=args.model, model_sha256=result["model_sha256"])
        result["tables"][key] = data
        print(f"{key}: coverage " + ", ".join(f"{k} {v:.3f}" for k, v in cov.items()))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(note(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
