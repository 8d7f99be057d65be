"""Issue-11 acceptance on the synthetic test split: a candidate model against the shipped ``compact``.

Both models run in this one process on the test split of ``benchmarks/synthetic_acceptance.py``
(60 pairs per category, 256², seed 2025, Landsat-8 test area), each followed by log-TV (the
whole-scene default), and the candidate raw as well (iteration check). Criteria, candidate + log-TV
against compact + log-TV:

1. EPE <= 0.8x in every category (very small, small, large);
2. near-fault EPE (within 5 px of the trace) <= 0.7x in the large category, <= 0.85x in the others;
3. the candidate's iteration 3 beats its iteration 1 (raw EPE per iteration).

The null-pair and throughput criteria have their own commands (``benchmarks/null_pairs.py``,
``benchmarks/scene_memory_speed.py``). Exit 1 if a criterion fails; the table goes to ``--report``.

    python benchmarks/model_v2_acceptance.py --model checkpoints/v2-w8/final.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microflow.analysis.acceptance import iteration_check, ratio_checks, split_table, verdict_lines
from microflow.analysis.evaluate import evaluate_method
from microflow.synth.folder import SplitJob, write_split

EPE_RATIO = 0.8
NEAR_RATIO = {"0": 0.85, "1": 0.85, "2": 0.7}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="candidate: shipped NAME or weights file")
    parser.add_argument("--reference", default="compact", help="today's model (default compact)")
    parser.add_argument("--data", default="out/accept")
    parser.add_argument("--per-category", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--report", default="docs/MODEL_V2_ACCEPTANCE.md")
    args = parser.parse_args(argv)
    job = SplitJob(str(Path(args.data) / "bench"), "test", args.size, seed=2025, categories=(0, 1, 2))
    write_split(job, 3 * args.per_category)
    root = Path(job.root)

    reference = evaluate_method(root, "test", "microflow", params={"model": args.reference}, regularize="ltv")
    candidate = evaluate_method(root, "test", "microflow", params={"model": args.model}, regularize="ltv")
    raw = evaluate_method(root, "test", "microflow", params={"model": args.model})
    checks = ratio_checks(candidate, reference, EPE_RATIO, NEAR_RATIO, args.reference) + [iteration_check(raw)]
    stem = Path(args.model).stem
    lines = split_table([(f"`{args.reference}` + log-TV", reference), (f"`{stem}` + log-TV", candidate),
                         (f"`{stem}` raw", raw)])
    verdict = "\n".join(verdict_lines(checks))
    passed = all(ok for _, ok in checks)
    print("\n".join(lines) + "\n\n" + verdict)
    Path(args.report).write_text(
        f"# Model `{Path(args.model).stem}` against `{args.reference}` (issue 11)\n\n"
        f"Regenerate: `python benchmarks/model_v2_acceptance.py --model {args.model}`. Synthetic test split "
        f"({args.per_category} pairs per category, {args.size}² px, seed 2025, Landsat-8 test area), EPE in px "
        "over the interior; near = within 5 px of the trace.\n\n" + "\n".join(lines) + "\n\n" + verdict
        + f"\n\n{'ACCEPTANCE PASSED' if passed else 'ACCEPTANCE FAILED'}\n")
    print("ACCEPTANCE PASSED" if passed else "ACCEPTANCE FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
