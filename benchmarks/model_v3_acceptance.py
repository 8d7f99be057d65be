"""Issue-22 acceptance: a v3 candidate against ``robust`` (the default), every criterion in one run.

Parts (``--parts``; every MicroFlow row runs with log-TV, as the product does):

* ``split``: the synthetic test split of ``benchmarks/synthetic_acceptance.py`` (60 pairs per category,
  256², seed 2025, Landsat-8 test area). Candidate EPE <= 0.9x the reference's in every category,
  near-fault EPE (within 5 px of the trace) <= 0.85x, and the candidate's raw iteration 3 beats
  its iteration 1. The candidate's scores also go to ``OUT/split_candidate.json`` (for
  ``scripts/ship_model.py --test-json``).
* ``shift``: ``benchmarks/shift_set.py`` (scikit-image textures, Landsat integrated by 4, the real
  Perito Moreno triplet closure): EPE <= 0.8x in every category, long-triplet closure <= 0.7x the
  reference's and below freqcorr's. ``--closure long`` (default) scores only the long triplet, the
  criterion (3 real fields per method, not 10); ``--closure all`` adds the three short ones. Report in
  ``OUT/shift_set.md``.
* ``null``: ``benchmarks/null_pairs.py`` (real cross-band Landsat-8 nulls): the candidate's mean
  deviation <= 0.035 px. Report in ``OUT/null_pairs.md``.
* ``cost`` (not in the default parts: it times, so run it on an idle machine, training paused with
  ``kill -STOP``): seconds per 512² window of the candidate against ``compact``, alternated in this
  process, median of ``--repeats``: <= 1.5x. The whole-scene throughput criterion has its own command,
  ``benchmarks/speed_vs_release.py`` (>= 1.6x v0.1).

Writes ``--report`` (default docs/MODEL_V3_ACCEPTANCE.md); exit 1 if a criterion fails, 2 on an error.

    python benchmarks/model_v3_acceptance.py --model checkpoints/v3-w8/final.safetensors \
        [--parts split shift null cost] [--per-category 60] [--out out/v3_acceptance]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling scripts run below, also when this file is loaded by path

from _threads import limit_threads  # noqa: E402

EPE_RATIO, NEAR_RATIO, NULL_LIMIT, COST_RATIO = 0.9, 0.85, 0.035, 1.5
PARTS = ("split", "shift", "null", "cost")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="candidate: weights file (or shipped NAME)")
    parser.add_argument("--reference", default="robust", help="reference model (default robust)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["split", "shift", "null"])
    parser.add_argument("--data", default="out/accept", help="where the test split is written once")
    parser.add_argument("--per-category", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="timed windows per model (cost)")
    parser.add_argument("--out", default="out/v3_acceptance", help="folder of the sub-reports")
    parser.add_argument("--closure", choices=("long", "all"), default="long",
                        help="shift part: closure on the long triplet only (the criterion) or on all four")
    parser.add_argument("--report", default="docs/MODEL_V3_ACCEPTANCE.md")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def split_part(args) -> tuple[list[str], list[tuple[str, bool]]]:
    """Test split: candidate + log-TV against the reference + log-TV, and the raw iteration check."""
    from microflow.analysis.acceptance import iteration_check, ratio_checks, split_table
    from microflow.analysis.evaluate import evaluate_method
    from microflow.synth.folder import SplitJob, write_split

    job = SplitJob(str(Path(args.data) / "bench"), "test", args.size, seed=2025, categories=(0, 1, 2))
    write_split(job, 3 * args.per_category)
    root, limit = Path(job.root), args.per_category
    reference = evaluate_method(root, "test", "microflow", params={"model": args.reference}, regularize="ltv",
                                limit=limit)
    candidate = evaluate_method(root, "test", "microflow", params={"model": args.model}, regularize="ltv",
                                limit=limit)
    raw = evaluate_method(root, "test", "microflow", params={"model": args.model}, limit=limit)
    Path(args.out).mkdir(parents=True, exist_ok=True)   # for scripts/ship_model.py --test-json
    (Path(args.out) / "split_candidate.json").write_text(json.dumps(candidate, indent=1, default=float))
    stem = Path(args.model).stem
    lines = [f"## Test split ({args.per_category} pairs per category, {args.size}² px, seed 2025)", "",
             *split_table([(f"`{args.reference}` + log-TV", reference), (f"`{stem}` + log-TV", candidate),
                           (f"`{stem}` raw", raw)]), ""]
    near = dict.fromkeys(("0", "1", "2"), NEAR_RATIO)
    return lines, ratio_checks(candidate, reference, EPE_RATIO, near, args.reference) + [iteration_check(raw)]


def sub_benchmark(script: str, argv: list[str], report: Path) -> tuple[list[str], list[tuple[str, bool]]]:
    """Run ``benchmarks/SCRIPT.py`` in this process; its PASS/FAIL lines become checks."""
    module = __import__(script)
    code = module.main(argv + ["--report", str(report)])
    if code == 2:
        raise RuntimeError(f"benchmarks/{script}.py failed (exit 2)")
    checks = []
    for line in report.read_text().splitlines():
        text = line.removeprefix("- ").strip()
        for word in ("PASS", "FAIL"):
            if text.startswith(word):
                checks.append((f"{script}: {text[len(word):].lstrip(': ')}", word == "PASS"))
    if not checks:
        checks.append((f"benchmarks/{script}.py checked nothing (exit {code})", code == 0))
    return [f"## {script}: see `{report}`", ""], checks


def window_seconds(model: str, window: int, threads: int):
    """A callable timing one ``window``² prediction of ``model`` [s], after one warm-up."""
    import numpy as np

    from microflow.methods.microflow import MicroFlowEstimator

    estimator = MicroFlowEstimator(model=model, threads=threads)
    rng = np.random.default_rng(0)
    pre = rng.random((window, window), dtype=np.float32)
    post = np.roll(pre, 1, axis=1)
    estimator.predict(pre[None], post[None])

    def timed() -> float:
        started = time.perf_counter()
        estimator.predict(pre[None], post[None])
        return time.perf_counter() - started
    return timed


def cost_part(args) -> tuple[list[str], list[tuple[str, bool]]]:
    """Seconds per 512² window, the candidate against ``compact``, alternated; median of the repeats."""
    timers = {"compact": window_seconds("compact", 512, args.threads),
              "candidate": window_seconds(args.model, 512, args.threads)}
    times = {name: [] for name in timers}
    for _ in range(args.repeats):
        for name, timed in timers.items():
            times[name].append(timed())
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["candidate"] / median["compact"]
    lines = ["## Cost (one 512² window, median of "
             f"{args.repeats}, {args.threads} threads)", "", "| model | s per window |", "|---|---:|",
             f"| `compact` | {median['compact']:.3f} |", f"| `{Path(args.model).stem}` | {median['candidate']:.3f} |", ""]
    return lines, [(f"cost per pixel {ratio:.3f}x compact (limit {COST_RATIO}x)", ratio <= COST_RATIO)]


def main(argv=None) -> int:
    args = parse_args(argv)
    argv_text = " ".join(sys.argv[1:] if argv is None else list(argv))
    limit_threads(args.threads)
    from microflow.analysis.acceptance import verdict_lines

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sections, checks = [], []
    try:
        for part in dict.fromkeys(args.parts):
            if part == "split":
                lines, found = split_part(args)
            elif part == "shift":
                lines, found = sub_benchmark("shift_set", ["--candidate", args.model, "--reference", args.reference,
                                                           "--triplets", args.closure, "--threads", str(args.threads)], out / "shift_set.md")
            elif part == "null":
                lines, found = sub_benchmark("null_pairs", ["--methods", "microflow", "--model", args.model,
                                                            "--limit", str(NULL_LIMIT), "--threads",
                                                            str(args.threads)], out / "null_pairs.md")
            else:
                lines, found = cost_part(args)
            sections += lines
            checks += found
    except Exception as exc:  # one line, no report
        print(f"model_v3_acceptance: error: {exc}", file=sys.stderr)
        return 2
    passed = all(ok for _, ok in checks)
    verdict = verdict_lines(checks)
    text = [f"# Model `{Path(args.model).stem}` against `{args.reference}` (issue 22)", "",
            f"Generated by `python benchmarks/model_v3_acceptance.py {argv_text}` (do not edit by hand); "
            f"{time.perf_counter() - started:.0f} s, {args.threads} threads. EPE in px with log-TV.", "",
            *sections, "## Criteria", "", *verdict, "", "ACCEPTANCE PASSED" if passed else "ACCEPTANCE FAILED", ""]
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text("\n".join(text))
    print("\n".join(verdict))
    print("ACCEPTANCE PASSED" if passed else "ACCEPTANCE FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
