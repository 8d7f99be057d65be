"""Issue-13 acceptance: whole-scene throughput of the working tree against the previous release, one run.

The release (commit ``584c9b3`` by default) is installed in a temporary venv: ``git archive`` of the
commit, ``pip install --no-deps`` into a venv whose ``deps.pth`` points at this interpreter's
site-packages, so both versions run the SAME torch, rasterio and numpy and only our code differs.
Each run is one ``microflow estimate`` child process (default method, or ``--method freqcorr``) on
the same files, timed from outside (wall time, CPU time and peak RSS from ``os.wait4``). Versions
alternate (release first, then tree first on the next repeat) and the best of ``--repeats`` counts.

Scenes (written once into the work folder):

* ``--sizes`` (default 4096 and 8192): the semi-synthetic rupture scene of
  :func:`microflow.synth.scene.make_scene` (Landsat-8 test area, category 1, its truth known) up to
  ``--rupture-max`` px (default 4096); larger sides use the texture scene of
  ``benchmarks/scene_memory_speed.py`` (a constant (0.3, -0.2) px shift, written block by block);
* ``--freqcorr-size`` (default 1024): a rupture scene for ``freqcorr`` (the release needs
  ~80 s per megapixel, so a whole 8192² scene is out of reach).

EPE = mean |d - d_true| [px] over pixels with an estimate and a truth, ``EDGE`` px from the scene's
edges excluded. Targets: default throughput >= 2.0x the release, freqcorr >= 5x, EPE <= the release's
+ 2 % (judged only when the tree runs the release's model, ``--tree-model compact``), peak
RSS <= 2 GB. Writes ``--json`` (default docs/speed_vs_release.json, and its table goes into
docs/BENCHMARKS.md) and ``--report`` (docs/SPEED_VS_RELEASE.md); exit 1 on FAIL.

    python benchmarks/speed_vs_release.py [--release 584c9b3] [--sizes 4096 8192] [--repeats 2] [--tree-model compact]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scene_memory_speed import SHIFT, run_measured, write_scene as write_texture_scene  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EDGE = 32
TARGETS = {"microflow": 2.0, "freqcorr": 5.0}
EPE_SLACK = 0.02
RELEASE_MODEL = "compact"  # the only model (and so the default) of the 584c9b3 release
RSS_LIMIT_GB = 2.0


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else the platform's machine name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def release_python(commit: str, folder: Path) -> Path:
    """Python of a venv holding the release ``commit`` (built once in ``folder``), beside our deps."""
    folder = folder.resolve()  # the import check below compares absolute paths (a relative --workdir)
    python = folder / "venv" / "bin" / "python"
    if (folder / "installed").is_file() and (folder / "installed").read_text() == commit:
        return python
    source = folder / "src"
    source.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(folder / "venv")], check=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-build-isolation", str(source)], check=True)
    where = subprocess.run([str(python), "-c", "import microflow; print(microflow.__file__)"], check=True,
                           capture_output=True, text=True).stdout.strip()
    if not where.startswith(str(folder)):
        raise SystemExit(f"the release venv imports microflow from {where}, not from its own install")
    (folder / "installed").write_text(commit)
    return python


def rupture_scene(folder: Path, size: int) -> dict:
    from microflow.synth.scene import make_scene, write_scene

    if not (folder / "truth.tif").is_file():
        write_scene(folder, make_scene(np.random.default_rng(13), size, category=1))
    return {"pre": folder / "pre.tif", "post": folder / "post.tif", "truth": folder / "truth.tif",
            "kind": "rupture (make_scene, category 1)"}


def texture_scene(folder: Path, size: int) -> dict:
    if not (folder / "pre.tif").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_texture_scene(folder, size, size)
    return {"pre": folder / "pre.tif", "post": folder / "post.tif", "truth": None,
            "kind": f"texture, constant shift {SHIFT} px"}


def scene_in_child(folder: Path, size: int, rupture: bool) -> dict:
    """:func:`rupture_scene` or :func:`texture_scene`, the files written by a separate process: the
    parent must stay small (see :func:`epe_in_child`; a 4096² rupture scene built here would put
    its ~1.8 GB into every later child's ru_maxrss)."""
    maker = "rupture_scene" if rupture else "texture_scene"
    code = (f"import sys; sys.path.insert(0, sys.argv[1]); from speed_vs_release import {maker}; "
            f"from pathlib import Path; {maker}(Path(sys.argv[2]), int(sys.argv[3]))")
    subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent), str(folder), str(size)],
                   check=True)
    return rupture_scene(folder, size) if rupture else texture_scene(folder, size)  # the files exist now


def scene_epe(product: Path, scene: dict) -> float:
    """Mean end-point error [px] of a product against the scene's truth (module docstring)."""
    from microflow.products.geotiff import read_product

    field = read_product(product, as_field=True)[0]
    if scene["truth"] is None:
        true = np.array(SHIFT, np.float32)[:, None, None] * np.ones((1,) + field.dx.shape, np.float32)
    else:
        truth = read_product(scene["truth"], as_field=True)[0]
        true = np.stack([truth.dx, truth.dy])
    error = np.hypot(field.dx - true[0], field.dy - true[1])[EDGE:-EDGE, EDGE:-EDGE]
    return float(np.nanmean(error))


def measure(python: Path, scene: dict, method: str, threads: int, out: Path, model: str | None = None) -> dict:
    """One timed ``microflow estimate`` child (``--model MODEL`` when given) and the EPE of its product."""
    command = [str(python), "-m", "microflow.cli.main", "estimate", str(scene["pre"]), str(scene["post"]),
               "-o", str(out), "--overwrite", "--method", method, "--threads", str(threads)]
    if model and method == "microflow":
        command += ["--model", model]
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux
    seconds, cpu, peak = run_measured(command)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_gb": peak, "parent_rss_gb": parent,
            "epe": epe_in_child(out, scene)}


def epe_in_child(product: Path, scene: dict) -> float:
    """:func:`scene_epe` in a separate process: a forked child inherits the parent's resident-set
    high-water mark (Linux keeps ru_maxrss across fork and exec), so the parent must never hold a
    scene-sized product, or every later measured run reports the parent's peak."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from speed_vs_release import scene_epe; "
            "from pathlib import Path; t = sys.argv[3]; "
            "print(scene_epe(Path(sys.argv[2]), {'truth': None if t == '-' else Path(t)}))")
    truth = "-" if scene["truth"] is None else str(scene["truth"])
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent), str(product), truth],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def compare(versions: dict, scene: dict, method: str, threads: int, repeats: int, work: Path,
            tree_model: str | None = None) -> dict:
    """Best-of-``repeats`` runs of every version, alternating their order; one result row. The release
    runs its default model, the tree ``tree_model`` (None: the tree's default)."""
    runs = {name: [] for name in versions}
    for rep in range(repeats):
        order = list(versions) if rep % 2 == 0 else list(versions)[::-1]
        for name in order:
            model = tree_model if name == "tree" else None
            result = measure(versions[name], scene, method, threads, work / f"{name}_{method}.tif", model)
            runs[name].append(result)
            print(f"  {method} {name} run {rep + 1}: {result['seconds']:.1f} s, {result['peak_rss_gb']:.2f} GB, "
                  f"EPE {result['epe']:.4f}", file=sys.stderr, flush=True)
    best = {name: min(r, key=lambda x: x["seconds"]) for name, r in runs.items()}
    return {"method": method, "scene": scene["kind"], "runs": runs, "best": best}


def verdicts(row: dict, megapixels: float, tree_model: str = RELEASE_MODEL) -> list[tuple[str, bool]]:
    """Throughput, EPE and memory checks of one row. The EPE limit only judges the same model on both
    sides: with another tree model the line is reported, marked not judged."""
    release, tree = row["best"]["release"], row["best"]["tree"]
    same_model = row["method"] != "microflow" or tree_model == RELEASE_MODEL
    speed = release["seconds"] / tree["seconds"]
    target = TARGETS[row["method"]]
    checks = [(f"{row['method']} on {row['size']}²: {megapixels / tree['seconds'] * 60:.1f} vs "
               f"{megapixels / release['seconds'] * 60:.1f} Mpx/min = {speed:.2f}x (target {target:.1f}x)",
               speed >= target),
              (f"{row['method']} on {row['size']}²: EPE {tree['epe']:.4f} vs release {release['epe']:.4f} "
               f"({100 * (tree['epe'] / release['epe'] - 1):+.1f} %, limit +{100 * EPE_SLACK:.0f} %)"
               + ("" if same_model else f"; not judged: the tree runs `{tree_model}`, the release `{RELEASE_MODEL}`"),
               tree["epe"] <= (1 + EPE_SLACK) * release["epe"] or not same_model)]
    if row["method"] == "microflow":
        # a child's ru_maxrss starts at its parent's: a peak not above the parent's is not the child's own
        parent = tree.get("parent_rss_gb", 0.0)
        own = "" if tree["peak_rss_gb"] > parent else f", not measured: at most this benchmark's own {parent:.2f} GB"
        checks.append((f"peak RSS on {row['size']}²: {tree['peak_rss_gb']:.2f} GB (limit {RSS_LIMIT_GB:.0f} GB{own})",
                       tree["peak_rss_gb"] <= RSS_LIMIT_GB))
    return checks


def markdown(summary: dict) -> str:
    """SPEED_VS_RELEASE.md: the table of :func:`microflow.analysis.speed_report.speed_table` and the verdict."""
    from microflow.analysis.speed_report import speed_table

    passed = all(check["pass"] for check in summary["checks"])
    return ("# Speed against the release (issue 13)\n\n" + speed_table(summary)
            + f"\n{'ACCEPTANCE PASSED' if passed else 'ACCEPTANCE FAILED'}\n")


def update_benchmarks(path: Path, summary: dict) -> None:
    """Put the speed table into BENCHMARKS.md (its section only; the file is ``microflow bench``'s)."""
    from microflow.analysis.report import write_text_atomic
    from microflow.analysis.speed_report import SPEED_HEADING, replace_section, speed_table

    if path.is_file():
        write_text_atomic(path, replace_section(path.read_text(), SPEED_HEADING, speed_table(summary)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="584c9b3", help="commit or tag of the release (default 584c9b3)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192], help="default-method scenes [px]")
    parser.add_argument("--rupture-max", type=int, default=4096, help="largest rupture scene [px]")
    parser.add_argument("--freqcorr-size", type=int, default=1024, help="freqcorr scene [px] (0: skip)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tree-model", help="the tree's model (default: its default model); the EPE limit "
                                             f"judges only `{RELEASE_MODEL}`, the release's model")
    parser.add_argument("--workdir", help="keep the release venv and scenes here (default: a temporary folder)")
    parser.add_argument("--json", default="docs/speed_vs_release.json")
    parser.add_argument("--report", default="docs/SPEED_VS_RELEASE.md")
    parser.add_argument("--benchmarks", default="docs/BENCHMARKS.md",
                        help="BENCHMARKS.md whose speed section is replaced (skipped when missing)")
    args = parser.parse_args(argv)
    from microflow.model.weights import DEFAULT_MODEL

    tree_model = args.tree_model or DEFAULT_MODEL
    work = Path(args.workdir or tempfile.mkdtemp(prefix="microflow-release-"))
    work.mkdir(parents=True, exist_ok=True)
    versions = {"release": release_python(args.release, work / "release"), "tree": Path(sys.executable)}
    jobs = [("microflow", size) for size in args.sizes]
    if args.freqcorr_size:
        jobs.append(("freqcorr", args.freqcorr_size))
    rows, checks = [], []
    for method, size in jobs:
        tic = time.perf_counter()
        folder = work / f"scene_{size}"
        scene = scene_in_child(folder, size, size <= args.rupture_max)
        print(f"{size}² scene ready in {time.perf_counter() - tic:.0f} s; timing {method}", file=sys.stderr)
        row = {**compare(versions, scene, method, args.threads, args.repeats, folder, tree_model), "size": size}
        rows.append(row)
        checks += verdicts(row, size * size / 1e6, tree_model)
    settings = {"release": args.release, "repeats": args.repeats, "threads": args.threads, "tree_model": tree_model,
                "command": " ".join(["--sizes", *map(str, args.sizes), "--freqcorr-size", str(args.freqcorr_size),
                                     "--repeats", str(args.repeats)]),
                "machine": f"{cpu_name()}, {os.cpu_count()} CPUs",
                "date": time.strftime("%Y-%m-%d")}
    # through JSON once (paths become strings): the reports are written from what the file holds
    summary = json.loads(json.dumps({"settings": settings, "rows": rows,
                                     "checks": [{"text": t, "pass": ok} for t, ok in checks]}, default=str))
    text = markdown(summary)
    print(text)
    Path(args.report).write_text(text)
    Path(args.json).write_text(json.dumps(summary, indent=1))
    update_benchmarks(Path(args.benchmarks), summary)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
