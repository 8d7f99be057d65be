"""Model-against-model acceptance on a synthetic split: ratio criteria, the iteration check, the table.

A candidate and a reference are scored by :func:`microflow.analysis.evaluate.evaluate_method` on the
same split; each criterion is a ratio ``candidate / reference`` of a per-category mean (EPE in px, or
the near-fault EPE within 5 px of the trace) that must not exceed its limit. The iteration check
asks that the last refinement's raw EPE beats the first's (the warped refinement helps).
"""

from __future__ import annotations

CATEGORIES = ("0", "1", "2")
NAMES = {"0": "very small", "1": "small", "2": "large"}


def ratio_checks(candidate: dict, reference: dict, epe_limit: float, near_limits: dict[str, float],
                 reference_label: str) -> list[tuple[str, bool]]:
    """``[(text, holds)]``: EPE <= ``epe_limit`` x and near-fault EPE <= ``near_limits[c]`` x, per category.

    ``candidate`` and ``reference`` are ``evaluate_method`` results (``["categories"][c]["epe"]``,
    ``["epe_near"]``); ``near_limits`` maps a category key ("0", "1", "2") to its limit.
    """
    checks = []
    for key, limits, label in (("epe", dict.fromkeys(CATEGORIES, epe_limit), "EPE"),
                               ("epe_near", near_limits, "near-fault EPE")):
        for c in CATEGORIES:
            mine, theirs = candidate["categories"][c][key], reference["categories"][c][key]
            ratio = mine / theirs
            checks.append((f"{label} {NAMES[c]}: {mine:.4f} vs {reference_label} {theirs:.4f} = {ratio:.3f}x "
                           f"(limit {limits[c]:.2f}x)", ratio <= limits[c]))
    return checks


def iteration_check(raw: dict) -> tuple[str, bool]:
    """The raw field's EPE per iteration (``["overall"]["epe_iterations"]``): the last below the first."""
    its = raw["overall"]["epe_iterations"]
    return (f"EPE per iteration {', '.join(f'{e:.4f}' for e in its)}: iteration {len(its)} < iteration 1",
            its[-1] < its[0])


def split_table(rows: list[tuple[str, dict]]) -> list[str]:
    """Markdown rows: EPE and near-fault EPE per category [px] for each ``(label, result)``."""
    header = "| model | EPE very small | EPE small | EPE large | near very small | near small | near large |"
    lines = [header, "|---|" + "---:|" * 6]
    for label, result in rows:
        cats = [result["categories"][c] for c in CATEGORIES]
        lines.append(f"| {label} | " + " | ".join(f"{c['epe']:.4f}" for c in cats) + " | "
                     + " | ".join(f"{c['epe_near']:.4f}" for c in cats) + " |")
    return lines


def verdict_lines(checks: list[tuple[str, bool]]) -> list[str]:
    """``- PASS: text`` / ``- FAIL: text`` per check."""
    return [f"- {'PASS' if ok else 'FAIL'}: {text}" for text, ok in checks]
