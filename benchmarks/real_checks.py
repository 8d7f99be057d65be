"""The sigma band and the confidence on real series: closure coverage, clouds, stable ground.

Reads ``../shared/realdata-dev`` at run time (never copied, never fitted on); see
:mod:`microflow.analysis.real_checks` for the three checks. Each key runs as the product does
(``microflow estimate ... --nodata 0`` on the Perito Moreno renderings, green band; the Kaiserberg
orthophotos as they are).

Criteria, for every key (the levels a calibrated, honest product should show):

* closure coverage P(r <= R) on every clear triplet in [0.5, 0.9] (0.68 for independent errors;
  the pairs share dates, so a band is given, not a point);
* every fully clouded pair has a lower median confidence and a larger median sigma than every clear pair.

The Kaiserberg stable-ground table is reported without a criterion: decades apart, its orthophotos carry
orthorectification errors that vary across the scene, real apparent motion that no method's sigma models.

Exit 1 on FAIL (the report is still written), 2 on an error or when the data are missing.

    python benchmarks/real_checks.py [--keys microflow+ltv freqcorr] [--model world2]
        [--report docs/REAL_CHECKS.md] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _threads import limit_threads

COVERAGE_BAND = (0.5, 0.9)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", nargs="+", default=["microflow+ltv", "freqcorr"])
    parser.add_argument("--model", default=None, help="MicroFlow model (default: the shipped default)")
    parser.add_argument("--report", default="docs/REAL_CHECKS.md")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def verdicts(key: str, result: dict) -> list[tuple[bool, str]]:
    """(passed, line) per criterion of one key's results (module doc)."""
    lo, hi = COVERAGE_BAND
    out = []
    for triplet, row in result["perito"]["closure"].items():
        out.append((lo <= row["coverage"] <= hi, f"{key}: closure coverage {triplet} {row['coverage']:.3f} in [{lo}, {hi}]"))
    pairs = result["perito"]["pairs"]
    clear = [r for r in pairs.values() if r["kind"] == "clear"]
    for name, row in pairs.items():
        if row["kind"] != "cloudy":
            continue
        lower = all(row["median_confidence"] < c["median_confidence"] for c in clear)
        larger = all(row["median_sigma"] > c["median_sigma"] for c in clear)
        out.append((lower and larger, f"{key}: clouded pair {name}: median confidence {row['median_confidence']:.3f} "
                                      f"below every clear pair's and median sigma {row['median_sigma']:.3f} above"))
    return out


def report_lines(results: dict, argv_text: str, seconds: float) -> list[str]:
    lines = ["# The sigma band and the confidence on real series (no reference field)", "",
             f"Regenerate: `python benchmarks/real_checks.py {argv_text}`".rstrip() + f" ({seconds:.0f} s). "
             "Checks of `microflow.analysis.real_checks` on `../shared/realdata-dev` (read at run time, never "
             "trained or fitted on). Closure coverage: P(r <= R) with r the triplet closure residual and R the "
             "68 % radius that the three products' sigma bands predict for it (0.68 for calibrated bands and "
             "independent errors); the glacier mask 48 px from the border.", "",
             "## Perito Moreno: closure coverage of sigma", "",
             "| key | triplet | median r [px] | median R [px] | P(r <= R) |", "|---|---|---:|---:|---:|"]
    for key, result in results.items():
        for triplet, row in result["perito"]["closure"].items():
            lines.append(f"| `{key}` | {triplet} | {row['median_r']:.3f} | {row['median_R']:.3f} | {row['coverage']:.3f} |")
    lines += ["", "## Perito Moreno: clear against fully clouded pairs", "",
              "| key | pair | kind | median confidence | confidence < 0.5 | median sigma [px] | finite |",
              "|---|---|---|---:|---:|---:|---:|"]
    for key, result in results.items():
        for pair, row in result["perito"]["pairs"].items():
            lines.append(f"| `{key}` | {pair} | {row['kind']} | {row['median_confidence']:.3f} | "
                         f"{row['low_confidence_share']:.3f} | {row['median_sigma']:.3f} | {row['finite_share']:.3f} |")
    if any("kaiserberg" in r for r in results.values()):
        lines += ["", "## Kaiserberg: stable ground (error ||d - median_stable d||) and the rock glacier", "",
                  "| key | pair | median error [px] | median sigma [px] | P(e <= sigma) | confidence stable | "
                  "confidence inside |", "|---|---|---:|---:|---:|---:|---:|"]
        for key, result in results.items():
            for pair, row in result.get("kaiserberg", {}).items():
                lines.append(f"| `{key}` | {pair} | {row['median_error']:.3f} | {row['median_sigma']:.3f} | "
                             f"{row['coverage']:.3f} | {row['confidence_stable']:.3f} | {row['confidence_inside']:.3f} |")
    lines.append("")
    for key, result in results.items():
        lines += [f"- {'PASS' if ok else 'FAIL'}: {line}" for ok, line in verdicts(key, result)]
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    argv_text = " ".join(sys.argv[1:] if argv is None else list(argv))
    limit_threads(args.threads)
    from microflow.analysis import real_checks as R
    from microflow.analysis.shift_set import perito_available
    from microflow.errors import MicroflowError

    if not perito_available():
        print(f"error: the real series are missing ({R.REALDATA})", file=sys.stderr)
        return 2
    started, results = time.perf_counter(), {}
    try:
        for key in args.keys:
            params = {"model": args.model} if args.model and key.startswith("microflow") else None
            tic = time.perf_counter()
            results[key] = {"perito": R.perito_checks(key, params)}
            if R.kaiserberg_available():
                results[key]["kaiserberg"] = R.kaiserberg_checks(key, params)
            print(f"{key}: {time.perf_counter() - tic:.0f} s", file=sys.stderr, flush=True)
    except MicroflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = report_lines(results, argv_text, time.perf_counter() - started)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text("\n".join(lines) + "\n")
    Path(args.report).with_suffix(".json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    return 0 if all(ok for key, r in results.items() for ok, _ in verdicts(key, r)) else 1


if __name__ == "__main__":
    sys.exit(main())
