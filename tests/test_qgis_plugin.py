"""The QGIS Processing provider (qgis/microflow_qgis): its subprocess runner and styles everywhere,
and ``qgis_process run microflow:estimate`` where QGIS is installed (Debian: apt-get install qgis
python3-qgis; skipped without ``qgis_process``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import xml.dom.minidom
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "qgis"))

from microflow_qgis import runner, styles  # noqa: E402

MICROFLOW = Path(sys.executable).with_name("microflow")


def fake_cli(tmp_path, body: str) -> str:
    """An executable Python script standing in for microflow."""
    path = tmp_path / "fake-microflow"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def test_runner_passes_progress_log_and_stdout(tmp_path):
    exe = fake_cli(tmp_path, """
        for i in (0, 25, 50, 100):
            sys.stderr.write(f"\\rmicroflow: {i:3d}%|###| {i}/100 [00:01<00:02]"); sys.stderr.flush()
        sys.stderr.write("\\nwrote out.tif\\n"); print("result line")
    """)
    seen, logged = [], []
    out = runner.run(exe, [], progress=seen.append, log=logged.append)
    assert seen == [0.0, 25.0, 50.0, 100.0]
    assert logged == ["wrote out.tif"] and out.strip() == "result line"


def test_runner_reports_the_error_line(tmp_path):
    exe = fake_cli(tmp_path, """
        sys.stderr.write("microflow: error: pre image not found: x.tif\\n"); sys.exit(2)
    """)
    with pytest.raises(runner.MicroflowFailed, match="^microflow: error: pre image not found: x.tif$"):
        runner.run(exe, [])


def test_runner_cancel_stops_the_process(tmp_path):
    exe = fake_cli(tmp_path, """
        open(sys.argv[1], "w").close()
        time.sleep(60)
    """)
    flag = tmp_path / "started"
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    with pytest.raises(InterruptedError):
        runner.run(exe, [str(flag)], canceled=cancel.is_set)
    assert flag.exists()


def test_a_missing_executable_says_where_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv(runner.ENV_VARIABLE, raising=False)
    with pytest.raises(runner.MicroflowNotFound, match="Processing > Providers > microflow-geo"):
        runner.find_executable(str(tmp_path / "nowhere" / "microflow"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(runner.MicroflowNotFound, match="pip install microflow-geo"):
        runner.find_executable(None)


def test_estimate_args_put_bounds_in_the_cli_order():
    args = runner.estimate_args("a.tif", "b.tif", "o.tif", method="freqcorr", units="meter",
                                bounds=(1.5, 2.0, 3.0, 4.0))
    assert args[:5] == ["estimate", "a.tif", "b.tif", "-o", "o.tif"]
    assert "--bounds=1.5,2.0,3.0,4.0" in args and args[args.index("--units") + 1] == "meter"
    assert "--ensemble" not in args
    assert runner.estimate_args("a.tif", "b.tif", "o.tif", ensemble=4)[-2:] == ["--ensemble", "4"]
    assert runner.estimate_args("a.tif", "b.tif", "o.tif", band=" luma", nodata=0)[-4:] == [
        "--band", "luma", "--nodata", "0.0"]
    assert "--band" not in runner.estimate_args("a.tif", "b.tif", "o.tif", band="")


@pytest.mark.parametrize("kind, units, first, last", [
    ("EW", "pixel", "-0.5 px (W)", "+0.5 px (E)"),
    ("NS", "meter", "-0.5 m (S)", "+0.5 m (N)"),
    ("sigma", "pixel", "0 px", "+0.5 px"),
])
def test_styles_label_the_legend_with_units(kind, units, first, last):
    doc = xml.dom.minidom.parseString(styles.style_qml(kind, 0.5, units))
    renderer = doc.getElementsByTagName("rasterrenderer")[0]
    assert renderer.getAttribute("band") == str(styles.BANDS[kind][0])
    labels = [item.getAttribute("label") for item in doc.getElementsByTagName("item")]
    assert labels[0] == first and labels[-1] == last and len(labels) == 5
    assert styles.nice_limit(0.37) == 0.5 and styles.nice_limit(1.2) == 2.0


def qgis_process() -> str | None:
    """Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which 3.22's qgis_process
    refuses (/etc/default/qgis): call the binary behind it when there is one."""
    found = shutil.which("qgis_process")
    if found and os.path.exists(found + ".bin"):
        return found + ".bin"
    return found


def installed_from_zip(tmp_path) -> Path:
    """The plugin zip (scripts/qgis_plugin_zip.py) unpacked as QGIS's installer does: a plugins folder."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from qgis_plugin_zip import build

    archive = build(str(tmp_path / "microflow_qgis.zip"))
    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert "microflow_qgis/metadata.txt" in names and "microflow_qgis/styles/displacement.qml" in names
        assert not any("__pycache__" in n for n in names)
        z.extractall(plugins)
    return plugins


@pytest.mark.skipif(qgis_process() is None, reason="QGIS (qgis_process) is not installed")
def test_qgis_process_estimate_gives_the_cli_product(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_PLUGINPATH": str(installed_from_zip(tmp_path)),
           "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path), "MICROFLOW_EXECUTABLE": str(MICROFLOW)}
    exe = qgis_process()
    enabled = subprocess.run([exe, "plugins", "enable", "microflow_qgis"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    listed = subprocess.run([exe, "list"], env=env, capture_output=True, text=True, timeout=120).stdout
    for name in ("estimate", "correct", "profile", "info"):
        assert f"microflow:{name}" in listed
    # copies: QGIS writes .aux.xml statistics beside the layers it opens
    pre, post = (Path(shutil.copy(ROOT / "examples" / n, tmp_path / n)) for n in ("pre.tif", "post.tif"))
    out_qgis, out_cli = tmp_path / "qgis.tif", tmp_path / "cli.tif"
    run = subprocess.run([exe, "run", "microflow:estimate", "--", f"PRE={pre}", f"POST={post}",
                          f"OUTPUT={out_qgis}"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    cli = subprocess.run([str(MICROFLOW), "estimate", str(pre), str(post), "-o", str(out_cli), "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    with rasterio.open(out_qgis) as q, rasterio.open(out_cli) as c:
        assert q.transform == c.transform and q.crs == c.crs and q.tags()["UNITS"] == "pixel"
        np.testing.assert_allclose(q.read(), c.read(), atol=1e-6, equal_nan=True)
    luma = subprocess.run([exe, "run", "microflow:estimate", "--", f"PRE={pre}", f"POST={post}", "BAND=luma",
                           "NODATA=0", f"OUTPUT={tmp_path / 'luma.tif'}"], env=env, capture_output=True, text=True,
                          timeout=600)    # the band and no-data reach the CLI, which refuses luma on one band
    assert luma.returncode != 0 and "'luma' needs 3 bands" in luma.stdout + luma.stderr, luma.stdout + luma.stderr
    assert not (tmp_path / "luma.tif").exists()
    info = subprocess.run([exe, "run", "microflow:info", "--", f"INPUT={out_qgis}"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0 and "units pixel" in info.stdout, info.stdout + info.stderr
    corrected = tmp_path / "corrected.tif"
    correct = subprocess.run([exe, "run", "microflow:correct", "--", f"INPUT={out_qgis}", "MODEL=constant",
                              f"OUTPUT={corrected}"], env=env, capture_output=True, text=True, timeout=300)
    assert correct.returncode == 0 and corrected.exists(), correct.stdout + correct.stderr
    with rasterio.open(out_qgis) as q:
        x0, y0, x1, y1 = q.bounds
    profile = subprocess.run([exe, "run", "microflow:profile", "--", f"INPUT={out_qgis}",
                              f"START={(x0 + x1) / 2},{y0 + 0.2 * (y1 - y0)}", f"END={(x0 + x1) / 2},{y0 + 0.8 * (y1 - y0)}",
                              f"OUTPUT={tmp_path / 'profile.csv'}"], env=env, capture_output=True, text=True, timeout=300)
    assert profile.returncode == 0 and "offset" in profile.stdout, profile.stdout + profile.stderr
    assert (tmp_path / "profile.csv").exists() and (tmp_path / "profile.png").exists()


def qgis_python() -> str | None:
    """A Python that imports qgis.core (Debian's python3-qgis lives in the system Python), or None."""
    for exe in ("/usr/bin/python3", shutil.which("python3")):
        if exe and os.path.exists(exe) and subprocess.run([exe, "-c", "import qgis.core"], capture_output=True,
                                                          timeout=60).returncode == 0:
            return exe
    return None


GROUP_CHECK = """
import sys
sys.path.insert(0, sys.argv[2])
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
app = QgsApplication([], False)
app.initQgis()
from microflow_qgis.styles import load_product
project = QgsProject.instance()
loaded = QgsRasterLayer(sys.argv[1], "OUTPUT", "gdal")
project.addMapLayer(loaded)
load_product(sys.argv[1], project, name="p", layer=loaded)
group = project.layerTreeRoot().children()[0]
for node in group.children():
    r = node.layer().renderer()
    print(node.name(), node.itemVisibilityChecked(), r.type(), r.band(), r.classificationMin(), r.classificationMax())
app.exitQgis()
"""


@pytest.mark.skipif(qgis_python() is None, reason="no Python with QGIS (python3-qgis)")
def test_a_loaded_product_gets_styled_ew_ns_and_a_hidden_sigma(tmp_path):
    product = tmp_path / "p.tif"
    profile = {"driver": "GTiff", "height": 64, "width": 64, "count": 4, "dtype": "float32", "nodata": np.nan,
               "crs": "EPSG:32611", "transform": rasterio.Affine(30, 0, 500000, 0, -30, 4200000)}
    ramp = np.linspace(-0.7, 0.7, 64, dtype=np.float32)
    with rasterio.open(product, "w", **profile) as ds:
        ds.write(np.stack([np.tile(ramp, (64, 1)), np.tile(ramp[:, None], (1, 64)) / 4,
                           np.full((64, 64), 0.9, np.float32), np.tile(np.linspace(0.01, 0.09, 64, dtype=np.float32), (64, 1))]))
        ds.update_tags(UNITS="pixel")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run([qgis_python(), "-c", GROUP_CHECK, str(product), str(ROOT / "qgis")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("p ")]
    assert [(r[1], r[3], r[5]) for r in rows] == [("EW", "True", "1"), ("NS", "True", "2"), ("sigma", "False", "4")]
    assert all(r[4] == "singlebandpseudocolor" for r in rows)
    assert [float(v) for v in rows[0][6:8]] == [-1.0, 1.0]      # |EW| up to 0.7 px -> +-1 px
    assert [float(v) for v in rows[1][6:8]] == [-0.2, 0.2]      # |NS| up to 0.175 px -> +-0.2 px
    assert [float(v) for v in rows[2][6:8]] == [0.0, 0.1]       # sigma up to 0.09 px -> 0..0.1 px
