"""``microflow bench``: every method on one synthetic test split with fixed seeds -> docs/BENCHMARKS.md.

Steps: (1) generate a FaultDeform-format ``test`` split (:func:`generate_split`, fixed seed);
(2) evaluate each method in its own process (``microflow evaluate``), which reports its own
peak resident memory (:func:`peak_memory_mb`); (3) run each method once more
in this process on one sample per category for the example maps; (4) score the zero-motion
cross-band null pairs in this process (:mod:`microflow.analysis.null_pairs`); (5) write the
markdown report and figures (:mod:`microflow.analysis.report`).

The ``microflow`` method is included only when its default model loads; otherwise it is skipped
with a note. A method that fails is reported in the notes and left out of the tables.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from microflow.errors import MicroflowError, ParameterError
from microflow.methods import available_methods
from microflow.synth.faultdeform import CATEGORIES, list_samples, read_sample

DEFAULT_METHODS = ("freqcorr", "ncc", "farneback", "tvl1", "microflow")
CATEGORY_IDS = tuple(sorted(CATEGORIES))


@dataclass(frozen=True)
class BenchSettings:
    """What the benchmark split holds and how it is scored.

    samples_per_category: pairs of each displacement category; size: image side [px];
    seed: generator seed (fixed, so every run scores the same pairs); source: texture source
    of the generator; border / radius: see :mod:`microflow.analysis.metrics`; null_per_combination /
    null_size [px]: the zero-motion pairs of :mod:`microflow.analysis.null_pairs` (``source``, its seed).
    """

    samples_per_category: int = 24
    size: int = 256
    seed: int = 20250417
    source: str = "landsat"
    border: int = 16
    radius: float = 5.0
    null_per_combination: int = 2
    null_size: int = 512


FULL = BenchSettings()
QUICK = BenchSettings(samples_per_category=1, size=96, source="skimage", border=16, null_per_combination=1,
                      null_size=96)


def microflow_model_status(model: str | None = None) -> tuple[str | None, str]:
    """``(None, description)`` when the MicroFlow model (default: the method's) loads, else ``(reason, "")``."""
    try:
        from microflow.methods import get_method

        get_method("microflow")
        from microflow.model.weights import load_model

        loaded = load_model(model) if model else load_model()
    except (ImportError, MicroflowError, OSError, RuntimeError) as exc:
        return f"`microflow` skipped: its model could not be loaded ({exc})", ""
    return None, f"`microflow` model {loaded.path.name} (sha256 {loaded.sha256[:12]})"


def generate_split(root: str | os.PathLike, settings: BenchSettings, progress: bool = True) -> Path:
    """Write ``samples_per_category`` pairs per category into ``root/test``; return ``root``.

    Sample ``k`` (ids ``0 .. 3n-1``) has category ``k % 3`` and the generator
    ``sample_rng(seed, "test", k)``, so the split depends on the settings only. Images are stored
    as float32 (no integer rounding or clipping of the perturbed radiometry).
    """
    from tqdm import tqdm

    from microflow.synth.faultdeform import write_sample
    from microflow.synth.generator import generate_sample, sample_rng
    from microflow.synth.textures import TextureBank

    textures = TextureBank("test", settings.source)
    total = settings.samples_per_category * len(CATEGORY_IDS)
    for k in tqdm(range(total), desc="generate", unit="pair", disable=not progress):
        category = CATEGORY_IDS[k % len(CATEGORY_IDS)]
        sample = generate_sample(sample_rng(settings.seed, "test", k), settings.size, category, textures,
                                 sample_id=k)
        write_sample(root, "test", sample, pre_dtype=np.float32)
    return Path(root)


def peak_memory_mb() -> float:
    """Peak resident memory of this process [MB]: ``VmHWM`` on Linux, else ``ru_maxrss``.

    ``VmHWM`` belongs to the process image since its ``exec``; ``ru_maxrss`` also counts what the
    parent held when it forked, so it is only an upper bound.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kilobytes elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def run_method_process(root: str | os.PathLike, method: str, settings: BenchSettings, workdir: str | os.PathLike,
                       params: dict | None = None) -> dict:
    """Evaluate ``method`` in a child ``microflow evaluate`` process; its result dict plus ``peak_rss_mb``.

    Raises :class:`MicroflowError` with the child's last output line when it fails.
    """
    workdir = Path(workdir)
    out_json, log, peak_file = (workdir / f"{method}{suffix}" for suffix in (".json", ".log", ".peak"))
    command = [sys.executable, "-m", "microflow.analysis.bench", str(peak_file), "evaluate", os.fspath(root),
               "--method", method, "--border", str(settings.border), "--radius", str(settings.radius),
               "--json", str(out_json), "--overwrite", "--quiet"]
    for key, value in (params or {}).items():
        command += ["-p", f"{key}={json.dumps(value)}"]
    start = time.perf_counter()
    with open(log, "w") as stream:
        returncode = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT).returncode
    if returncode != 0:
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        raise MicroflowError(f"{method} failed (exit {returncode}): {lines[-1] if lines else 'no output'}")
    result = json.loads(out_json.read_text())
    result["peak_rss_mb"] = float(peak_file.read_text())
    result["process_seconds"] = time.perf_counter() - start
    return result


def example_predictions(root: str | os.PathLike, methods: list[str],
                        method_params: dict[str, dict] | None = None) -> tuple[list, dict[str, list[np.ndarray]]]:
    """The first sample of each category and every method's ``(2, H, W)`` field on it."""
    from microflow.api import estimate_arrays

    samples = []
    for category in CATEGORY_IDS:
        paths = list_samples(root, "test", (category,))
        if paths:
            samples.append(read_sample(paths[0]))
    params = method_params or {}
    predictions = {m: [estimate_arrays(s.pre, s.post, m, **params.get(m, {})).stack() for s in samples]
                   for m in methods}
    return samples, predictions


def null_pair_scores(methods: list[str], settings: BenchSettings, method_params: dict, notes: list[str],
                     progress: bool = True) -> dict | None:
    """Null-pair scores of ``methods``, raw and log-TV (:mod:`microflow.analysis.null_pairs`).

    None, and a note, when the pairs cannot be made or a method fails on them.
    """
    from microflow.analysis.null_pairs import null_pairs, score_null_pairs

    try:
        pairs = null_pairs(settings.null_per_combination, settings.null_size, source=settings.source)
        return score_null_pairs([(m, m, method_params.get(m, {})) for m in methods], pairs, border=settings.border,
                                progress=progress)
    except MicroflowError as exc:
        notes.append(f"null pairs skipped: {exc}")
        return None


def machine_description() -> dict:
    import numpy

    info = {"CPUs": os.cpu_count(), "platform": platform.platform(terse=True),
            "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch

        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        pass
    return info


def _log(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _ensure_split(root: Path, settings: BenchSettings, notes: list[str], progress: bool) -> BenchSettings:
    """Reuse ``root/test`` when it holds samples, else generate it; the settings actually used."""
    if (root / "test").is_dir() and list_samples(root, "test"):
        notes.append(f"split reused from {root} (generate it again by removing that folder)")
        return settings
    _log(f"generating {settings.samples_per_category} x {len(CATEGORY_IDS)} pairs of {settings.size} px "
         f"({settings.source} texture, seed {settings.seed})", progress)
    try:
        generate_split(root, settings, progress)
    except MicroflowError as exc:  # e.g. the Landsat texture cannot be downloaded
        if settings.source == "skimage":
            raise
        notes.append(f"{settings.source} texture unavailable ({exc}); scikit-image texture used instead")
        settings = replace(settings, source="skimage")
        generate_split(root, settings, progress)
    return settings


def _evaluate_all(root: Path, methods: list[str], settings: BenchSettings, workdir: str,
                  method_params: dict, notes: list[str], progress: bool) -> dict[str, dict]:
    """``{method: result}`` of every method that ran; a failure becomes a note."""
    results = {}
    for i, method in enumerate(methods, 1):
        _log(f"[{i}/{len(methods)}] evaluating {method}", progress)
        try:
            results[method] = run_method_process(root, method, settings, workdir, method_params.get(method))
        except MicroflowError as exc:
            notes.append(str(exc))
            continue
        overall = results[method]["overall"]
        _log(f"    EPE {overall['epe']:.3f} px, {overall['seconds_per_mp']:.2f} s/MP, "
             f"peak {results[method]['peak_rss_mb']:.0f} MB", progress)
    if not results:
        raise MicroflowError("no method could be evaluated: " + "; ".join(notes))
    return results


def run_bench(out_dir: str | os.PathLike = "docs", *, quick: bool = False, methods=None,
              data_dir: str | os.PathLike | None = None, settings: BenchSettings | None = None,
              microflow_model: str | None = None, progress: bool = True) -> dict:
    """Generate (or reuse) the split, score every method, write ``out_dir/BENCHMARKS.md`` and figures.

    ``data_dir`` keeps the generated split there (reused when it already holds a test split);
    otherwise a temporary folder is used and removed. ``microflow_model`` (a shipped NAME or a
    weights file) replaces the method's default model. Returns ``{"markdown", "figures", "results",
    "null_pairs", "notes", "seconds"}``.
    """
    from microflow.analysis import report  # matplotlib: kept out of the evaluation processes

    started = time.perf_counter()
    settings = settings or (QUICK if quick else FULL)
    methods = list(methods or DEFAULT_METHODS)
    unknown = [m for m in methods if m not in available_methods()]
    if unknown:
        raise ParameterError(f"unknown methods {unknown}; choose from {', '.join(available_methods())}")
    notes: list[str] = []
    method_params = {"microflow": {"model": microflow_model}} if microflow_model else {}
    if "microflow" in methods:
        reason, description = microflow_model_status(microflow_model)
        if reason:
            methods.remove("microflow")
        notes.append(reason or description)

    with tempfile.TemporaryDirectory(prefix="microflow-bench-") as scratch:
        root = Path(data_dir) if data_dir else Path(scratch) / "data"
        settings = _ensure_split(root, settings, notes, progress)
        results = _evaluate_all(root, methods, settings, scratch, method_params, notes, progress)
        _log("example maps", progress)
        samples, predictions = example_predictions(root, list(results), method_params)
        _log("null pairs", progress)
        null = null_pair_scores(list(results), settings, method_params, notes, progress)

    machine = machine_description()
    described = {**asdict(settings), "categories": ", ".join(f"{c} {n}" for c, n in CATEGORIES.items()),
                 "methods": ", ".join(results)}
    written = report.write_report(out_dir, results, samples, predictions, categories=CATEGORY_IDS,
                                  settings=described, machine=machine, notes=notes,
                                  command="microflow bench" + (" --quick" if quick else ""),
                                  seconds=time.perf_counter() - started, null_pairs=null)
    return {**written, "results": results, "null_pairs": null, "notes": notes,
            "seconds": time.perf_counter() - started}


def with_overrides(settings: BenchSettings, **overrides) -> BenchSettings:
    """Copy of ``settings`` with the non-None ``overrides`` applied."""
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _evaluate_and_report_peak(argv: list[str]) -> int:
    """Child entry point: ``python -m microflow.analysis.bench PEAK_FILE evaluate ...``."""
    from microflow.cli.main import main

    status = main(argv[1:])
    Path(argv[0]).write_text(repr(peak_memory_mb()))
    return status


if __name__ == "__main__":
    sys.exit(_evaluate_and_report_peak(sys.argv[1:]))
