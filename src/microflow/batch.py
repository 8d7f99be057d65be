"""Batch processing: one displacement product per pre/post pair listed in a CSV file.

CSV rows are ``pre,post[,name]``; a header row (``pre,post[,name]``) is optional and relative paths
are resolved against the CSV's folder. Each pair is written to ``OUT_DIR/NAME.tif`` (``NAME``
defaults to ``<pre stem>__<post stem>``). A pair whose product already exists is skipped (unless
``overwrite``); a pair that fails is recorded with a one-line reason and the others go on. A summary
(name, status ok/skipped/failed, seconds, valid %, reason) is returned and written to
``OUT_DIR/summary.csv``.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass

from tqdm import tqdm

from microflow.errors import InputError, MicroflowError, OutputError, ParameterError
from microflow.methods import DEFAULT_METHOD

HEADER = ("pre", "post", "name")
SUMMARY_COLUMNS = ("name", "status", "seconds", "valid_percent", "reason", "output")


@dataclass
class PairJob:
    """One pair to process: absolute input paths and the product name (no suffix)."""

    name: str
    pre: str
    post: str


@dataclass
class PairResult:
    """Outcome of one pair: ``status`` is ``ok``, ``skipped`` or ``failed``."""

    name: str
    status: str
    seconds: float = 0.0
    valid_percent: float | None = None
    reason: str = ""
    output: str = ""


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def read_pairs_csv(path: str | os.PathLike) -> list[PairJob]:
    """Parse a pairs CSV (see the module docstring); raise :class:`InputError` on a malformed file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"pairs file not found: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle)]
    rows = [row for row in rows if any(row) and not row[0].startswith("#")]
    if rows and [cell.lower() for cell in rows[0]] == list(HEADER[:len(rows[0])]):
        rows = rows[1:]
    jobs, names = [], set()
    for number, row in enumerate(rows, start=1):
        if len(row) not in (2, 3) or not row[0] or not row[1]:
            raise InputError(f"{path}: pair {number} must be 'pre,post[,name]', got {','.join(row)!r}")
        pre, post = (os.path.join(folder, p) if not os.path.isabs(p) else p for p in row[:2])
        name = row[2] if len(row) == 3 and row[2] else f"{_stem(pre)}__{_stem(post)}"
        if os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
            raise InputError(f"{path}: pair {number} has a name that is not a plain file name: {name!r}")
        if name in names:
            raise InputError(f"{path}: two pairs share the name {name!r}; give unique names in a third column")
        names.add(name)
        jobs.append(PairJob(name, pre, post))
    if not jobs:
        raise InputError(f"{path} lists no pair")
    return jobs


def one_line(exc: BaseException) -> str:
    """``str(exc)`` on one line, prefixed with the type for errors that are not microflow's."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, MicroflowError) else f"{type(exc).__name__}: {text}"


def process_pair(job: PairJob, out_dir: str, method: str, params: dict, *, units: str = "pixel",
                 band: int | str = "auto", overwrite: bool = False) -> PairResult:
    """Estimate one pair with :func:`microflow.api.estimate_files`; never raises for a bad pair."""
    from microflow.api import estimate_files

    output = os.path.join(out_dir, job.name + ".tif")
    if os.path.exists(output) and not overwrite:
        return PairResult(job.name, "skipped", reason="product exists", output=output)
    start = time.perf_counter()
    try:
        summary = estimate_files(job.pre, job.post, output, method, band=band, units=units, overwrite=overwrite,
                                 **params)
    except Exception as exc:  # one failing pair must not stop the batch
        return PairResult(job.name, "failed", time.perf_counter() - start, reason=one_line(exc))
    return PairResult(job.name, "ok", summary["seconds"], 100.0 * summary["valid_fraction"], output=output)


def run_batch(pairs: str | os.PathLike | list[PairJob], out_dir: str | os.PathLike, method: str = DEFAULT_METHOD,
              params: dict | None = None, *, units: str = "pixel", band: int | str = "auto", overwrite: bool = False,
              progress: bool = True) -> list[PairResult]:
    """Process every pair (a CSV path or a list of :class:`PairJob`) and write ``out_dir/summary.csv``.

    ``out_dir`` is created if needed; the method name and units are checked before any pair runs.
    """
    from microflow.methods import available_methods

    jobs = read_pairs_csv(pairs) if isinstance(pairs, (str, os.PathLike)) else list(pairs)
    if method not in available_methods():
        raise ParameterError(f"unknown method {method!r}; choose from {', '.join(available_methods())}")
    if units not in ("pixel", "meter"):
        raise ParameterError(f"units must be 'pixel' or 'meter', got {units!r}")
    out_dir = os.fspath(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror}") from None
    results = []
    bar = tqdm(jobs, desc="pairs", unit="pair", disable=not progress, file=sys.stderr)
    for job in bar:
        bar.set_postfix_str(job.name)
        result = process_pair(job, out_dir, method, params or {}, units=units, band=band, overwrite=overwrite)
        if result.status == "failed":
            tqdm.write(f"microflow: pair {job.name} failed: {result.reason}", file=sys.stderr)
        results.append(result)
    write_summary(results, os.path.join(out_dir, "summary.csv"))
    return results


def write_summary(results: list[PairResult], path: str | os.PathLike) -> str:
    """CSV with one row per pair: name, status, seconds, valid_percent, reason, output."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUMMARY_COLUMNS)
        for r in results:
            writer.writerow([r.name, r.status, f"{r.seconds:.2f}",
                             "" if r.valid_percent is None else f"{r.valid_percent:.1f}", r.reason, r.output])
    return os.fspath(path)


def format_summary(results: list[PairResult]) -> str:
    """Fixed-width table of the results followed by the counts per status."""
    width = max([len("name")] + [len(r.name) for r in results])
    lines = [f"{'name':<{width}}  {'status':<8}{'seconds':>8}{'valid%':>8}  reason"]
    for r in results:
        valid = "" if r.valid_percent is None else f"{r.valid_percent:.1f}"
        lines.append(f"{r.name:<{width}}  {r.status:<8}{r.seconds:>8.1f}{valid:>8}  {r.reason}")
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "skipped", "failed")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
