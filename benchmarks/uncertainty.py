"""Issue-12 acceptance: is the calibrated sigma band a 68 % error radius on the TEST split?

For the default method (MicroFlow + log-TV, ``microflow+ltv``) and for ``freqcorr``, on the synthetic
test split of ``benchmarks/model_acceptance.py`` (seed 2025, 256² px, 60 pairs per category, written
to ``DATA/bench`` if missing; Landsat-8 test area, never used to fit sigma) and on the zero-motion
cross-band null pairs of :func:`microflow.analysis.null_pairs.null_pairs` (Landsat test area):

1. coverage P(EPE <= sigma) in [0.63, 0.73] in each category (EPE = ||d - d_true|| over the interior,
   16 px border excluded);
2. within 5 px of the fault trace (all categories) in [0.58, 0.78];
3. on the null pairs in [0.58, 0.80], the error being ||d - median(d)|| (a real zero-motion pair may
   carry a constant misregistration; the error against zero is reported beside it);
4. per-pixel Spearman correlation between sigma and EPE >= 0.4 (default method; test-split pixels).

sigma is what the products carry: the model of the method's calibration key applied to the final
field (:mod:`microflow.uncertainty`). The fields are those of ``model_acceptance.py``
(``estimate_arrays`` then the regularizer with its defaults).

    python benchmarks/uncertainty.py [--per-category 60] [--null-count 2] [--data out/accept] [--cache out/uncertainty]

Writes ``docs/UNCERTAINTY.md``; exit status 1 if a criterion fails. ``--per-category 10`` is a
quick check (the first pairs of the same split). The fields' per-pixel features are cached in
``--cache`` (a new calibration is then checked in a minute; delete the folder after changing a method).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from microflow.analysis.metrics import fault_zone
from microflow.analysis.null_pairs import null_pairs
from microflow.analysis.sigma_eval import cached_fields, concat, pixel_table, raw_fields, spearman, split_key
from microflow.synth.faultdeform import read_sample
from microflow.synth.folder import SplitJob, write_split
from microflow.model.weights import DEFAULT_MODEL
from microflow.uncertainty import coverage_of, sigma_model

KEYS = ("microflow+ltv", "freqcorr")
NAMES = {"0": "very small", "1": "small", "2": "large"}
TARGET_CATEGORY, TARGET_NEAR, TARGET_NULL, MIN_SPEARMAN = (0.62, 0.74), (0.58, 0.78), (0.58, 0.80), 0.45  # issue 23
SPEARMAN_PIXELS = 400_000   # random pixels of the pooled test split for the rank correlation


def with_sigma(table: dict, model) -> dict:
    return {**table, "sigma": model.regression.predict(table)}  # predict reads only its own features


def shift_set_features(key: str, group: str, model_name: str, cache: Path | None) -> tuple[dict, float]:
    """:func:`field_features` on a shift-set group (:mod:`microflow.analysis.shift_set`): its moving pairs
    by category and its zero-motion pairs as the nulls."""
    from microflow.analysis.shift_set import ShiftSpec, shift_pairs

    pairs = shift_pairs(group, ShiftSpec())
    moving = [s for s in pairs if s.category >= 0]
    nulls = [(f"{group}-null-{s.sample_id}", s.pre, s.post) for s in pairs if s.category < 0]
    return field_features(key, moving, nulls, model_name, cache)


def field_features(key: str, samples: list, nulls: list, model_name: str, cache: Path | None) -> tuple[dict, float]:
    """{group: pixel table} of ``key`` on the test pairs (groups "0", "1", "2", "near", "null",
    "null_zero") and the seconds its fields took; the fields are read from / saved to ``cache``
    (.npz) so that a new calibration file is checked without recomputing them."""
    method, _ = split_key(key)
    params = {"model": model_name} if method == "microflow" else {}
    pairs = [(s.pre, s.post) for s in samples] + [(pre, post) for _, pre, post in nulls]
    fields, seconds = cached_fields(key, pairs, params, cache)
    raws = raw_fields(key, pairs, params, cache)
    tables: dict[str, list] = {"0": [], "1": [], "2": [], "near": [], "null": [], "null_zero": []}
    for sample, (dx, dy, conf), raw in zip(samples, fields, raws):
        tables[str(sample.category)].append(pixel_table(dx, dy, conf, sample.flow, raw=raw))
        tables["near"].append(pixel_table(dx, dy, conf, sample.flow, region=fault_zone(sample.fault_mask), raw=raw))
    for (dx, dy, conf), raw in zip(fields[len(samples):], raws[len(samples):]):
        zero = np.zeros((2,) + dx.shape, np.float32)
        tables["null"].append(pixel_table(dx, dy, conf, zero, centre=True, raw=raw))
        tables["null_zero"].append(pixel_table(dx, dy, conf, zero, raw=raw))
    return {name: concat(t) for name, t in tables.items() if t}, seconds


def evaluate_key(key: str, groups: dict, seconds: float, model_name: str) -> dict:
    method, reg = split_key(key)
    model = sigma_model(method, reg, {"model": model_name} if method == "microflow" else {})
    pooled = {name: with_sigma(g, model) for name, g in groups.items()}
    result = {"seconds": seconds, "key": model.key}
    for name, g in pooled.items():
        result[name] = {"coverage": coverage_of(g["sigma"], g["error"]), "pixels": int(g["error"].size),
                        "median_sigma": float(np.median(g["sigma"])), "median_error": float(np.median(g["error"]))}
    test = {k: np.concatenate([pooled[c][k] for c in ("0", "1", "2")]) for k in ("sigma", "error")}
    pick = np.random.default_rng(0).choice(test["error"].size, min(SPEARMAN_PIXELS, test["error"].size),
                                           replace=False)
    result["spearman"] = spearman(test["sigma"][pick], test["error"][pick])
    result["all"] = {"coverage": coverage_of(test["sigma"], test["error"]), "pixels": int(test["error"].size),
                     "median_sigma": float(np.median(test["sigma"])), "median_error": float(np.median(test["error"]))}
    return result


def checks(results: dict) -> list[tuple[str, bool]]:
    out = []
    inside = lambda v, lim: lim[0] <= v <= lim[1]  # noqa: E731
    for key, r in results.items():
        for c in ("0", "1", "2"):
            v = r[c]["coverage"]
            out.append((f"{key}: coverage {NAMES[c]} {v:.3f} in {list(TARGET_CATEGORY)}", inside(v, TARGET_CATEGORY)))
        v = r["near"]["coverage"]
        out.append((f"{key}: coverage within 5 px of the trace {v:.3f} in {list(TARGET_NEAR)}", inside(v, TARGET_NEAR)))
        v = r["null"]["coverage"]
        out.append((f"{key}: coverage on the null pairs (||d - median d||) {v:.3f} in {list(TARGET_NULL)}",
                    inside(v, TARGET_NULL)))
    if KEYS[0] not in results:
        return out
    v = results[KEYS[0]]["spearman"]
    out.append((f"{KEYS[0]}: Spearman(sigma, EPE) {v:.3f} >= {MIN_SPEARMAN}", v >= MIN_SPEARMAN))
    return out


def table(results: dict) -> str:
    cols = [("0", "very small"), ("1", "small"), ("2", "large"), ("all", "all"), ("near", "near trace"),
            ("null", "null (- median)"), ("null_zero", "null (vs 0)")]
    lines = ["| key | " + " | ".join(n for _, n in cols) + " | Spearman | s |",
             "|---|" + "---:|" * (len(cols) + 2)]
    for key, r in results.items():
        lines.append(f"| `{key}` | " + " | ".join(f"{r[c]['coverage']:.3f}" for c, _ in cols)
                     + f" | {r['spearman']:.3f} | {r['seconds']:.0f} |")
    lines += ["", "Median sigma / median EPE [px]:", "",
              "| key | " + " | ".join(n for _, n in cols) + " |", "|---|" + "---:|" * len(cols)]
    for key, r in results.items():
        lines.append(f"| `{key}` | " + " | ".join(f"{r[c]['median_sigma']:.3f} / {r[c]['median_error']:.3f}"
                                                  for c, _ in cols) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="out/accept")
    parser.add_argument("--per-category", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--null-count", type=int, default=2, help="null pairs per band combination (3 combinations)")
    parser.add_argument("--null-size", type=int, default=512)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--shift-set", action="store_true",
                        help="also the shift set's groups (issue 23: the same intervals in each group)")
    parser.add_argument("--keys", default=",".join(KEYS))
    parser.add_argument("--report", default="docs/UNCERTAINTY.md")
    parser.add_argument("--cache", default="out/uncertainty",
                        help="folder of the per-pixel features of the test fields (reused when present); '' disables")
    args = parser.parse_args()
    job = SplitJob(str(Path(args.data) / "bench"), "test", args.size, seed=2025, categories=(0, 1, 2))
    write_split(job, 3 * args.per_category, progress=False)
    samples = [read_sample(job.path(i)) for i in range(3 * args.per_category)]
    nulls = null_pairs(args.null_count, args.null_size)
    keys = [k for k in args.keys.split(",") if k]
    if keys[0] != KEYS[0]:
        keys.insert(0, KEYS[0])
    results = {}
    for key in keys:
        cache = (Path(args.cache) / f"fields_{key}_{args.per_category}_{args.size}_{args.null_count}_"
                 f"{args.null_size}_{args.model}.npz") if args.cache else None
        groups, seconds = field_features(key, samples, nulls, args.model, cache)
        results[key] = evaluate_key(key, groups, seconds, args.model)
    if args.shift_set:
        from microflow.analysis.shift_set import GROUPS

        for group in GROUPS:
            for key in keys:
                cache = (Path(args.cache) / f"shift_{group}_{key}_{args.model}.npz") if args.cache else None
                groups, seconds = shift_set_features(key, group, args.model, cache)
                results[f"{key} [shift: {group}]"] = evaluate_key(key, groups, seconds, args.model)
    text = table(results)
    verdicts = checks(results)
    ok = all(holds for _, holds in verdicts)
    verdict = "\n".join(f"- {'PASS' if holds else 'FAIL'}: {t}" for t, holds in verdicts)
    print(text + "\n\n" + verdict)
    command = "python benchmarks/uncertainty.py" + ("" if args.per_category == 60 else f" --per-category {args.per_category}") \
        + (" --shift-set" if args.shift_set else "")
    Path(args.report).write_text(
        "# Calibrated uncertainty: coverage of the sigma band on the test split (issue 12)\n\n"
        f"Regenerate: `{command}`. sigma = the product's band 4 (the calibration models of "
        "`src/microflow/weights/sigma_calibration.json`, fitted on the VALIDATION split by `scripts/fit_sigma.py`). "
        f"Test split of `benchmarks/model_acceptance.py`: {args.per_category} pairs per category, {args.size}² px, "
        "seed 2025, Landsat-8 test area; interior pixels (16 px border excluded); near trace = within 5 px of the "
        f"trace; null = {len(nulls)} zero-motion cross-band pairs of `null_pairs()` ({args.null_size}² px, "
        "Landsat test area), error ||d - median(d)|| (and, for reference, ||d||). Coverage = P(EPE <= sigma); "
        "the target is 0.68. Spearman = per-pixel rank correlation of sigma and EPE over "
        f"{SPEARMAN_PIXELS:,} random test pixels. Rows `[shift: GROUP]`: the shift set of `benchmarks/shift_set.py` "
        "(scikit-image textures; the Landsat test area integrated by 4), its zero-motion pairs as the nulls.\n\n" + text + "\n\n" + verdict
        + f"\n\n{'ACCEPTANCE PASSED' if ok else 'ACCEPTANCE FAILED'}\n")
    print("ACCEPTANCE PASSED" if ok else "ACCEPTANCE FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
