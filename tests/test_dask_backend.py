"""The Dask backend gives the single-process numbers, survives a worker killed mid-run.

A 2-worker LocalCluster (processes, 1 thread each) runs a 384² scene in 128 px blocks (9 blocks)
with 64 px windows. The fake predictors of ``test_tiling`` are shipped to the workers by value.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("rioxarray")

import cloudpickle  # noqa: E402  (a dependency of distributed)
from distributed import Client, LocalCluster  # noqa: E402

import test_tiling  # noqa: E402
from microflow.errors import ParameterError  # noqa: E402
from microflow.products.geotiff import read_product  # noqa: E402
from microflow.tiling.dask_backend import axis_chunks, estimate_scene_dask  # noqa: E402
from microflow.tiling.scene import estimate_scene  # noqa: E402
from test_tiling import (PositionPredictor, one_torch_thread, save_tiny_model,  # noqa: E402,F401
                         write_position_pair)

cloudpickle.register_pickle_by_value(test_tiling)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SIZE, WINDOW, OVERLAP, BLOCK = 384, 64, 16, 128
TOLERANCE = 1e-4  # px


class KillOncePredictor(PositionPredictor):
    """Kills the worker process that first calls ``predict`` (one death per ``marker`` file)."""

    def __init__(self, marker: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.marker = marker

    def predict(self, pre, post, pre_stats=None, post_stats=None):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().predict(pre, post, pre_stats, post_stats)
        os.close(fd)
        os._exit(1)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask_scene")
    nan_block = (slice(150, 170), slice(20, 300))  # no data across several blocks
    return folder, write_position_pair(folder, SIZE, SIZE, nan_block)


@pytest.fixture(scope="module")
def reference(scene):
    """The single-process result without regularization."""
    return run(estimate_scene, scene, "single.tif", regularize="none")[0]


def run(backend, scene, name, factory=PositionPredictor, method_params=None, **kwargs):
    folder, (pre, post) = scene
    out = folder / name
    params = {"border_error": 0.3, **(method_params or {})}
    summary = backend(pre, post, out, "fake", window=WINDOW, overlap=OVERLAP, batch_size=3, progress=False,
                      predictor_factory=factory, method_params=params, **kwargs)
    return read_product(out, as_field=True)[0], summary


def max_difference(a, b) -> float:
    assert np.array_equal(np.isnan(a.dx), np.isnan(b.dx))
    return float(max(np.nanmax(np.abs(a.dx - b.dx)), np.nanmax(np.abs(a.dy - b.dy)),
                     np.nanmax(np.abs(a.confidence - b.confidence))))


def test_axis_chunks_merge_a_short_tail():
    assert axis_chunks(384, 128, 64) == (128, 128, 128)
    assert axis_chunks(400, 128, 64) == (128, 128, 144)
    assert axis_chunks(100, 128, 64) == (100,)


def test_dask_equals_single_process_without_regularization(client, scene, reference):
    dask, summary = run(estimate_scene_dask, scene, "dask.tif", regularize="none", client=client, block=BLOCK)
    assert summary["blocks"] == 9 and summary["backend"] == "dask"
    assert max_difference(reference, dask) <= TOLERANCE
    assert np.isnan(dask.dx[150:170, 20:300]).all() and np.isfinite(dask.dx[:150]).all()
    assert np.nanstd(dask.dx) > 0.1  # a real field, not a constant that any grid would match


def test_dask_equals_single_process_with_log_tv(client, scene, reference, one_torch_thread):
    reg = {"outer_iters": 2, "inner_iters": 20, "halo": 48}
    single, _ = run(estimate_scene, scene, "single_ltv.tif", regularize="ltv", reg_params={**reg, "block": 128})
    dask, _ = run(estimate_scene_dask, scene, "dask_ltv.tif", regularize="ltv", reg_params=reg, client=client,
                  block=BLOCK)
    assert max_difference(single, dask) <= TOLERANCE
    assert max_difference(single, reference) > 10 * TOLERANCE  # the regularizer did change the field


def test_dask_runs_the_microflow_model_like_one_process(client, scene, tmp_path, one_torch_thread, monkeypatch):
    import microflow.methods.microflow

    monkeypatch.setattr(microflow.methods.microflow, "TILING_WINDOW", 0)  # several windows per block
    model = save_tiny_model(tmp_path / "tiny.safetensors")
    folder, (pre, post) = scene
    common = dict(model=model, regularize="none", progress=False, batch_size=4)
    estimate_scene(pre, post, tmp_path / "single_mf.tif", "microflow", **common)
    summary = estimate_scene_dask(pre, post, tmp_path / "dask_mf.tif", "microflow", client=client, block=BLOCK,
                                  **common)
    single = read_product(tmp_path / "single_mf.tif", as_field=True)[0]
    dask = read_product(tmp_path / "dask_mf.tif", as_field=True)[0]
    assert summary["window"] == WINDOW  # the model's own window, read on the client
    assert max_difference(single, dask) <= TOLERANCE


def test_a_worker_killed_mid_run_changes_nothing(client, scene, reference, tmp_path):
    marker = str(tmp_path / "killed")
    survived, _ = run(estimate_scene_dask, scene, "survived.tif", factory=KillOncePredictor,
                      method_params={"marker": marker}, regularize="none", client=client, block=BLOCK)
    assert os.path.exists(marker)  # a worker did die
    assert max_difference(reference, survived) <= TOLERANCE


def test_block_smaller_than_minimum_is_rejected(scene, client):
    folder, (pre, post) = scene
    with pytest.raises(ParameterError):
        estimate_scene_dask(pre, post, folder / "x.tif", "fake", predictor_factory=PositionPredictor,
                            client=client, block=32, progress=False)


def test_dask_sigma_band_equals_single_process(client, scene, one_torch_thread, monkeypatch):
    """sigma is computed on halo'd blocks after the regularizer: the Dask band equals the single one."""
    import microflow.tiling.plan as plan_module
    from microflow.uncertainty import SigmaModel, SigmaRegression

    regression = SigmaRegression({"confidence": (0.0, 0.5, 1.0), "gradient": (-3.0, -2.0, -1.0),
                                  "gradient_near": (-3.0, -1.0), "confidence_region": (0.0, 1.0)},
                                 (-2.0, -1.0, 0.5, 0.3, 0.2, 0.1, -0.5))
    monkeypatch.setattr(plan_module, "sigma_model", lambda *args, **kwargs: SigmaModel("test", regression))
    for regularize, reg in (("none", None), ("ltv", {"outer_iters": 2, "inner_iters": 20, "halo": 48})):
        single, _ = run(estimate_scene, scene, f"single_sigma_{regularize}.tif", regularize=regularize,
                        reg_params={**reg, "block": 128} if reg else None)
        dask, _ = run(estimate_scene_dask, scene, f"dask_sigma_{regularize}.tif", regularize=regularize,
                      reg_params=reg, client=client, block=BLOCK)
        assert single.sigma is not None and dask.sigma is not None
        np.testing.assert_array_equal(np.isnan(single.sigma), np.isnan(single.dx))  # NaN where the field is
        np.testing.assert_array_equal(np.isnan(single.sigma), np.isnan(dask.sigma))
        assert np.nanmax(np.abs(single.sigma - dask.sigma)) <= TOLERANCE
        assert len(np.unique(single.sigma[np.isfinite(single.sigma)])) >= 3  # sigma varies


def test_dask_with_an_area_of_interest_equals_single_process(client, scene, one_torch_thread):
    """--dask with --bounds: the same grid (the area, on pre's grid), transform and numbers as one process."""
    import rasterio

    from microflow.io.aoi import Aoi

    folder, (pre, _) = scene
    with rasterio.open(pre) as ds:
        t = ds.transform
    x0, y1 = t @ (70, 110)                   # columns 70-250, rows 110-290 (includes the no-data rows)
    x1, y0 = t @ (250, 290)
    aoi = Aoi((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    single, s_summary = run(estimate_scene, scene, "single_aoi.tif", regularize="ltv", aoi=aoi, halo=32,
                            tags={"SOURCES": "x"})
    dask, d_summary = run(estimate_scene_dask, scene, "dask_aoi.tif", regularize="ltv", aoi=aoi, halo=32,
                          tags={"SOURCES": "x"}, client=client, block=BLOCK)
    assert single.dx.shape == dask.dx.shape == (180, 180) and d_summary["shape"] == (180, 180)
    assert max_difference(single, dask) <= TOLERANCE
    assert abs(d_summary["valid_fraction"] - s_summary["valid_fraction"]) < 1e-9
    with rasterio.open(folder / "single_aoi.tif") as a, rasterio.open(folder / "dask_aoi.tif") as b:
        assert a.transform == b.transform and b.transform.c == x0 and b.tags()["SOURCES"] == "x"
