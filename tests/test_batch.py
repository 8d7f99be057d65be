"""Batch processing: products per pair, a failing pair reported, re-runs skip finished pairs."""

import csv
import json

import numpy as np
import pytest
import rasterio
from affine import Affine

import microflow.api
import microflow.tiling.predictors
from microflow.batch import read_pairs_csv, run_batch
from microflow.cli.main import main
from microflow.errors import InputError
from microflow.methods.base import DisplacementField

GRID = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 320.0)
CALLS = []


def _half_valid_shift(pre, post, *, progress=False, offset=0.25):
    """Stand-in method: a constant field, no estimate in the left half (so valid % is 50)."""
    CALLS.append(pre.shape)
    dx = np.full(pre.shape, offset, np.float32)
    dx[:, : pre.shape[1] // 2] = np.nan
    return DisplacementField(dx, np.zeros_like(dx), np.ones_like(dx))


@pytest.fixture(autouse=True)
def stand_in_method(monkeypatch):
    CALLS.clear()
    for module in (microflow.api, microflow.tiling.predictors):
        monkeypatch.setattr(module, "get_method", lambda name: _half_valid_shift)


def _tif(path, shape=(48, 48), seed=0, crs="EPSG:32611"):  # the smallest image freqcorr (window 32) accepts
    image = np.random.default_rng(seed).random(shape).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=shape[0], width=shape[1], count=1, dtype="float32",
                       crs=crs, transform=GRID) as ds:
        ds.write(image, 1)
    return path


@pytest.fixture
def pairs_csv(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        _tif(data / f"pre{i}.tif", seed=i)
        _tif(data / f"post{i}.tif", seed=10 + i, crs="EPSG:32612" if i == 1 else "EPSG:32611")  # pair 1: broken
    path = data / "pairs.csv"
    path.write_text("pre,post,name\npre0.tif,post0.tif,alpha\npre1.tif,post1.tif,beta\n"
                    f"{data / 'pre2.tif'},post2.tif\n")
    return path


def test_reads_header_relative_paths_and_default_names(pairs_csv):
    jobs = read_pairs_csv(pairs_csv)
    assert [j.name for j in jobs] == ["alpha", "beta", "pre2__post2"]
    assert all(j.pre.startswith(str(pairs_csv.parent)) for j in jobs)
    no_header = pairs_csv.parent / "plain.csv"
    no_header.write_text("pre0.tif,post0.tif\n")
    assert read_pairs_csv(no_header)[0].post == str(pairs_csv.parent / "post0.tif")
    duplicate = pairs_csv.parent / "dup.csv"
    duplicate.write_text("a.tif,b.tif,x\nc.tif,d.tif,x\n")
    with pytest.raises(InputError, match="share the name"):
        read_pairs_csv(duplicate)


def test_failing_pair_is_reported_and_rerun_skips_done_pairs(pairs_csv, tmp_path):
    out = tmp_path / "products"
    results = run_batch(pairs_csv, out, "freqcorr", {"offset": 0.5}, progress=False)
    assert [(r.name, r.status) for r in results] == [("alpha", "ok"), ("beta", "failed"), ("pre2__post2", "ok")]
    assert "different grids" in results[1].reason and "\n" not in results[1].reason
    assert results[0].valid_percent == pytest.approx(50.0)
    assert sorted(p.name for p in out.glob("*.tif")) == ["alpha.tif", "pre2__post2.tif"]
    with rasterio.open(out / "alpha.tif") as ds:
        assert np.nanmax(ds.read(1)) == pytest.approx(0.5)  # the -p parameter reached the method
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"] and "different grids" in rows[1]["reason"]

    CALLS.clear()
    again = run_batch(pairs_csv, out, "freqcorr", progress=False)
    assert [r.status for r in again] == ["skipped", "failed", "skipped"]
    assert CALLS == []  # nothing recomputed


def test_cli_exit_status_and_summary_table(pairs_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["batch", str(pairs_csv), "--out", str(out), "--method", "freqcorr", "--quiet",
                 "-p", "offset=0.1"]) == 1
    table = capsys.readouterr().out
    assert "beta" in table and "failed" in table and "2 ok, 0 skipped, 1 failed" in table
    (pairs_csv.parent / "good.csv").write_text("pre0.tif,post0.tif,alpha\n")
    assert main(["batch", str(pairs_csv.parent / "good.csv"), "--out", str(out), "--method", "freqcorr",
                 "--quiet"]) == 0
    assert "0 ok, 1 skipped, 0 failed" in capsys.readouterr().out


def test_cli_batch_passes_nodata_and_align_to_every_pair(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _tif(data / "pre.tif", seed=1)
    post = _tif(data / "post.tif", seed=2)
    with rasterio.open(post, "r+") as ds:
        image = ds.read(1)
        image[:, 40:] = 0  # undeclared no-data at the right edge
        ds.write(image, 1)
    (data / "pairs.csv").write_text("pre.tif,post.tif,edge\n")
    for name, extra in (("plain", ["--nodata", "none"]), ("nodata", ["--nodata", "0"]), ("auto", [])):
        assert main(["batch", str(data / "pairs.csv"), "--out", str(tmp_path / name), "--method", "freqcorr",
                     "--quiet", "--align", "resample", *extra]) == 0
    with rasterio.open(tmp_path / "plain" / "edge.tif") as plain, rasterio.open(tmp_path / "nodata" / "edge.tif") as masked, \
            rasterio.open(tmp_path / "auto" / "edge.tif") as auto:
        assert np.isfinite(plain.read(1)[:, 40:]).all() and np.isnan(masked.read(1)[:, 40:]).all()
        assert np.array_equal(auto.read(), masked.read(), equal_nan=True)      # the default finds the fill
        assert json.loads(masked.tags()["PARAMETERS"])["align"] == "resample:cubic"
        assert masked.tags()["ALIGNMENT"] == "exact"  # one grid: nothing needed resampling
    capsys.readouterr()
