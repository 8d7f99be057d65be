"""The whole-scene speed table of ``benchmarks/speed_vs_release.py``, as markdown.

The benchmark writes its measurements to ``docs/speed_vs_release.json`` (``{"settings", "rows",
"checks"}``); :func:`speed_table` formats them, and :func:`replace_section` puts the table into
``docs/BENCHMARKS.md`` under :data:`SPEED_HEADING` without touching the other sections (``microflow
bench`` includes the same section when it regenerates the file and the JSON lies beside it).
Mpx/min = scene pixels / wall time of one ``microflow estimate`` process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SPEED_JSON = "speed_vs_release.json"
SPEED_HEADING = "## Whole-scene speed against the release"
BEFORE_HEADING = "## Figures"    # a new section goes before this one (or at the end)


def speed_table(summary: dict) -> str:
    """Markdown table and PASS/FAIL lines of a speed_vs_release summary (the JSON's content)."""
    settings = summary["settings"]
    lines = ["| scene | method | release Mpx/min | tree Mpx/min | speed-up | release peak GB | tree peak GB | "
             "release EPE | tree EPE |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in summary["rows"]:
        mp = row["size"] ** 2 / 1e6
        rel, tree = row["best"]["release"], row["best"]["tree"]
        lines.append(f"| {row['size']}² {row['scene']} | `{row['method']}` | {mp / rel['seconds'] * 60:.1f} | "
                     f"{mp / tree['seconds'] * 60:.1f} | {rel['seconds'] / tree['seconds']:.2f}x | "
                     f"{rel['peak_rss_gb']:.2f} | {tree['peak_rss_gb']:.2f} | {rel['epe']:.4f} | {tree['epe']:.4f} |")
    checks = summary.get("checks", [])
    intro = (f"Measured by `python benchmarks/speed_vs_release.py {settings['command']}` on {settings['date']}: "
             f"release `{settings['release']}` in a temporary venv beside the same dependencies; every figure is "
             f"the best of {settings['repeats']} alternating runs of one `microflow estimate` process with "
             f"`--threads {settings['threads']}` on {settings['machine']}. Mpx/min = scene pixels / wall time of "
             "the whole command; peak = the process's peak resident memory; EPE in px against the known field.")
    verdicts = [f"- {'PASS' if c['pass'] else 'FAIL'}: {c['text']}" for c in checks]
    return "\n".join([intro, "", *lines, "", *verdicts]) + "\n"


def load_speed(folder: str | os.PathLike) -> dict | None:
    """The speed summary ``folder/speed_vs_release.json``, or None when there is none."""
    path = Path(folder) / SPEED_JSON
    return json.loads(path.read_text()) if path.is_file() else None


def replace_section(markdown: str, heading: str, body: str) -> str:
    """``markdown`` with the section under ``heading`` (up to the next ``## `` heading) replaced by
    ``body``; a missing section is inserted before :data:`BEFORE_HEADING`, or appended."""
    lines = markdown.splitlines()
    section = [heading, "", *body.rstrip("\n").splitlines(), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    else:
        start = end = lines.index(BEFORE_HEADING) if BEFORE_HEADING in lines else len(lines)
    return "\n".join(lines[:start] + section + lines[end:]) + "\n"
