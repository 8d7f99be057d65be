"""Whole-scene tiling: window grid, blending weights, global statistics, NaN masks, streaming.

Fake predictors read the scene position of every pixel from the pre image itself
(``pre = row * POSITION_BASE + col``, float32 GeoTIFF), return a known smooth field there, and can
add an error near window borders, so misplaced windows or seams show up as errors.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import rasterio
from affine import Affine

from microflow.errors import ParameterError
from microflow.io.raster import read_pair
from microflow.products.geotiff import read_product
from microflow.tiling.blending import Accumulator
from microflow.tiling.plan import Regularization, plan_scene, torch_threads
from microflow.tiling.row_stream import regularized_tiles
from microflow.tiling.scene import estimate_scene
from microflow.tiling.windows import WEIGHT_FLOOR, WindowGrid, axis_origins, fitted_window, taper

POSITION_BASE = 1000.0
TRANSFORM = Affine(10.0, 0.0, 300_000.0, 0.0, -10.0, 5_000_000.0)


def true_field(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smooth field the fakes report at scene pixel (row, col) [px]."""
    dx = 0.4 * np.sin(2 * np.pi * rows / 97.0) + cols / 500.0
    dy = 0.3 * np.cos(2 * np.pi * cols / 71.0) - rows / 800.0
    return dx.astype(np.float32), dy.astype(np.float32)


class PositionPredictor:
    """Window predictor returning :func:`true_field` at the positions encoded in ``pre``, plus
    ``border_error`` px on the ``border`` outermost pixels of every window (a seam if blended badly)."""

    preferred_window = 64

    def __init__(self, border_error: float = 0.0, border: int = 4) -> None:
        self.border_error = border_error
        self.border = border
        self.stats_seen: list = []

    def predict(self, pre, post, pre_stats=None, post_stats=None) -> np.ndarray:
        self.stats_seen.append((pre_stats, post_stats))
        rows = np.floor(pre / POSITION_BASE)
        cols = pre - rows * POSITION_BASE
        dx, dy = true_field(rows, cols)
        m, n = pre.shape[1:]
        edge = np.minimum.outer(np.minimum(np.arange(m), np.arange(m)[::-1]),
                                np.minimum(np.arange(n), np.arange(n)[::-1])) < self.border
        dx = dx + self.border_error * edge
        return np.stack([dx, dy, np.full_like(dx, 0.75)], axis=1).astype(np.float32)


def write_position_pair(folder, height: int, width: int, nan_block=None) -> tuple[str, str]:
    """Float32 pre/post GeoTIFFs with ``pre = row * POSITION_BASE + col`` (NaN = no data)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    pre = rows * POSITION_BASE + cols
    post = pre + 0.5
    if nan_block is not None:
        pre[nan_block] = np.nan
    paths = []
    for name, img in (("pre", pre), ("post", post)):
        path = os.path.join(folder, f"{name}.tif")
        with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1, dtype="float32",
                           crs="EPSG:32633", transform=TRANSFORM, nodata=np.nan) as ds:
            ds.write(img, 1)
        paths.append(path)
    return paths[0], paths[1]


def run_fake(tmp_path, height, width, name="out.tif", predictor=None, **kwargs):
    pre, post = write_position_pair(tmp_path, height, width, kwargs.pop("nan_block", None))
    predictor = predictor or PositionPredictor()
    kwargs.setdefault("regularize", "none")
    summary = estimate_scene(pre, post, tmp_path / name, "fake", predictor_factory=lambda: predictor,
                             progress=False, **kwargs)
    field, tags, _ = read_product(tmp_path / name, as_field=True)
    return field, summary, tags


# ---------------------------------------------------------------- grid and weights
def test_axis_origins_cover_the_axis_with_last_window_flush():
    origins = axis_origins(200, 64, 48)
    assert origins[0] == 0 and origins[-1] == 200 - 64
    assert np.all(np.diff(origins) <= 48) and np.all(np.diff(origins) > 0)
    assert list(axis_origins(64, 64, 48)) == [0]
    assert WindowGrid(40, 300, 64, 16).shape == (40, 64)  # a short axis: the window shrinks to it


def test_taper_is_flat_on_scene_edges_and_ramps_towards_neighbours():
    first = taper(0, 64, 200, 16)
    middle = taper(48, 64, 200, 16)
    assert first[0] == 1.0 and first[-1] == pytest.approx(WEIGHT_FLOOR)  # scene edge left, neighbour right
    assert middle[:4].max() == pytest.approx(WEIGHT_FLOOR) and middle[-1] == pytest.approx(WEIGHT_FLOOR)
    assert middle[16:48].min() == 1.0 and middle.min() > 0          # floor: never exactly zero
    assert np.all(np.diff(middle[:16]) >= 0)
    # handover between neighbours at distance 48: the two ramps sum to 1 + floor across the overlap
    np.testing.assert_allclose(first[48:] + middle[:16], 1.0 + WEIGHT_FLOOR, atol=1e-6)


def test_grid_rejects_overlap_not_below_window():
    with pytest.raises(ParameterError):
        WindowGrid(100, 100, 64, 64)


def test_accumulator_advance_keeps_the_rows_still_open():
    acc = Accumulator.zeros(0, 0, 4, 3)
    acc.add(0, 0, np.ones((3, 4, 4), np.float32), np.ones((4, 4), np.float32))
    acc.advance(2)
    assert acc.row0 == 2
    np.testing.assert_array_equal(acc.weight, [[1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]])


def test_accumulator_result_of_the_first_rows_is_the_weighted_mean_or_nan():
    acc = Accumulator.zeros(0, 0, 4, 3)
    acc.add(0, 0, np.full((3, 2, 2), 2.0, np.float32), np.full((2, 2), 0.5, np.float32))
    acc.add(1, 1, np.full((3, 2, 2), 5.0, np.float32), np.ones((2, 2), np.float32))
    top = acc.result(2)
    assert top.shape == (3, 2, 3) and top.dtype == np.float32
    np.testing.assert_allclose(top[0], [[2, 2, np.nan], [2, 4, 5]])
    np.testing.assert_array_equal(acc.result()[:, :2], top)
    assert np.isnan(acc.result()[:, 3]).all()


# ---------------------------------------------------------------- the streaming pipeline
@pytest.mark.parametrize("shape, windows", [((150, 230), 3 * 5), ((40, 300), 1 * 6)])
def test_blended_scene_equals_the_field_every_window_reports(tmp_path, shape, windows):
    field, summary, tags = run_fake(tmp_path, *shape, window=64, overlap=16, batch_size=3)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    dx, dy = true_field(rows, cols)
    np.testing.assert_allclose(field.dx, dx, atol=2e-5)
    np.testing.assert_allclose(field.dy, dy, atol=2e-5)
    np.testing.assert_allclose(field.confidence, 0.75, atol=1e-6)
    assert summary["windows"] == windows and summary["valid_fraction"] == 1.0
    assert '"tile_window": 64' in tags["PARAMETERS"]


def test_border_errors_are_blended_away_inside_the_scene(tmp_path):
    predictor = PositionPredictor(border_error=0.5, border=4)
    field, _, _ = run_fake(tmp_path, 160, 160, predictor=predictor, window=64, overlap=24)
    rows, cols = np.mgrid[0:160, 0:160]
    error = np.abs(field.dx - true_field(rows, cols)[0])
    inner = error[4:-4, 4:-4]  # the scene's own edge has no neighbour to take over
    assert inner.max() < 0.01, inner.max()
    assert error[0, 80] == pytest.approx(0.5, abs=1e-4)  # ...and there the error stays, as it must


def test_every_window_gets_the_global_statistics(tmp_path):
    predictor = PositionPredictor()
    run_fake(tmp_path, 130, 130, predictor=predictor, window=64, overlap=16, batch_size=1)
    seen = {stats for stats in predictor.stats_seen}
    assert len(predictor.stats_seen) == 9 and len(seen) == 1
    (pre_center, pre_scale), (post_center, _) = seen.pop()
    assert pre_center == pytest.approx(64.5 * POSITION_BASE + 64.5, rel=0.02)  # median of the scene
    assert post_center == pytest.approx(pre_center + 0.5, abs=1.0) and pre_scale > 1000


def test_no_data_comes_back_as_nan_and_empty_windows_are_skipped(tmp_path):
    predictor = PositionPredictor()
    block = (slice(0, 80), slice(0, 90))  # covers the first windows entirely
    field, summary, _ = run_fake(tmp_path, 150, 150, predictor=predictor, window=64, overlap=16,
                                 batch_size=1, nan_block=block)
    assert np.isnan(field.dx[block]).all() and np.isnan(field.confidence[block]).all()
    rest = np.ones((150, 150), bool)
    rest[block] = False
    assert np.isfinite(field.dx[rest]).all()
    assert len(predictor.stats_seen) < summary["windows"] == 9
    assert summary["valid_fraction"] == pytest.approx(rest.mean())



class NaNCountingPredictor(PositionPredictor):
    """Counts the NaN pixels its windows bring; ``takes_no_data`` as given."""

    def __init__(self, takes_no_data: bool) -> None:
        super().__init__()
        self.takes_no_data = takes_no_data
        self.nan_seen = 0

    def predict(self, pre, post, pre_stats=None, post_stats=None) -> np.ndarray:
        self.nan_seen += int(np.isnan(pre).sum())
        return super().predict(np.nan_to_num(pre), post, pre_stats, post_stats)


@pytest.mark.parametrize("takes", [True, False])
def test_no_data_reaches_only_a_predictor_that_takes_it(tmp_path, takes):
    """MicroFlow masks no data out of its coarse levels' statistics, so the tiler must not fill it for it."""
    predictor = NaNCountingPredictor(takes)
    run_fake(tmp_path, 150, 150, predictor=predictor, window=64, overlap=16, batch_size=1,
             nan_block=(slice(40, 100), slice(40, 100)))
    assert (predictor.nan_seen > 0) == takes

def test_scene_smaller_than_a_window_is_one_window(tmp_path):
    predictor = PositionPredictor()
    field, summary, _ = run_fake(tmp_path, 40, 50, predictor=predictor, window=64, overlap=16)
    rows, cols = np.mgrid[0:40, 0:50]
    np.testing.assert_allclose(field.dx, true_field(rows, cols)[0], atol=2e-5)
    assert summary["windows"] == 1 and len(predictor.stats_seen) == 1


@pytest.fixture
def one_torch_thread():
    """Tiny torch problems on a shared machine: one thread avoids OpenMP spin contention."""
    with torch_threads(1):
        yield


def test_regularized_tiles_stream_and_match_a_whole_field_solve(one_torch_thread):
    from microflow.regularization.log_tv import regularize

    rng = np.random.default_rng(3)
    height, width = 180, 120
    cols = np.arange(width)[None, :]
    dx = (np.where(cols > 50, 0.6, -0.2) + 0.05 * rng.normal(size=(height, width))).astype(np.float32)
    dy = (0.1 + 0.05 * rng.normal(size=(height, width))).astype(np.float32)
    whole = regularize(dx, dy, "ltv", outer_iters=2, inner_iters=30)
    reg = Regularization("ltv", {"outer_iters": 2, "inner_iters": 30}, halo=48, block=64, device="cpu",
                         workers=2)
    field = np.stack([dx, dy, np.ones_like(dx)])
    consumed = []

    def bands():
        for start in range(0, height, 20):
            consumed.append(start)
            yield start, field[:, start:start + 20]

    tiles, out = [], np.full((4,) + field.shape[1:], np.nan, np.float32)  # [dx, dy, confidence, sigma]
    for row, col, tile in regularized_tiles(bands(), height, width, reg, band_rows=20):
        tiles.append((row, col, tile.shape[1:], consumed[-1]))
        out[:, row:row + tile.shape[1], col:col + tile.shape[2]] = tile
    np.testing.assert_allclose(out[0], whole[0], atol=1e-4)
    np.testing.assert_allclose(out[1], whole[1], atol=1e-4)
    assert [t[:3] for t in tiles] == [(0, 0, (64, 64)), (0, 64, (64, 56)), (64, 0, (64, 64)),
                                      (64, 64, (64, 56)), (128, 0, (52, 64)), (128, 64, (52, 56))]
    assert tiles[0][3] < 64 + 48  # the first tiles are out once block + halo rows are in, not the scene


def test_freqcorr_through_the_tiler_measures_a_known_shift(tmp_path, make_pair):
    pre, post = make_pair(dx=0.3, dy=-0.2, size=192)
    summary = estimate_scene(pre, post, tmp_path / "fc.tif", "freqcorr", window=96, progress=False,
                             method_params={"window": 32, "step": 8})
    field, tags, _ = read_product(tmp_path / "fc.tif", as_field=True)
    assert summary["overlap"] >= 32 and summary["regularize"] == "none"
    assert np.nanmedian(field.dx) == pytest.approx(0.3, abs=0.02)
    assert np.nanmedian(field.dy) == pytest.approx(-0.2, abs=0.02)
    # only the scene's own half-window border (16 px) is NaN: inner window borders are covered
    assert summary["valid_fraction"] == pytest.approx(((192 - 32) / 192) ** 2, abs=0.02)
    assert '"window": 32' in tags["PARAMETERS"] and '"tile_window": 96' in tags["PARAMETERS"]


def save_tiny_model(path) -> str:
    """A randomly initialised 2-iteration MicroFlow of width 2 (speed and plumbing, not accuracy)."""
    import torch

    from microflow.model.microflow_net import build_microflow
    from microflow.model.weights import save_weights

    torch.manual_seed(0)
    return str(save_weights(path, build_microflow(width=2, iterations=2), window=64))


def test_microflow_scene_is_the_estimator_on_windows_with_global_stats(tmp_path, make_pair, one_torch_thread):
    from microflow.methods.microflow import MicroFlowEstimator
    from microflow.model.normalization import image_stats

    model = save_tiny_model(tmp_path / "tiny.safetensors")
    pre, post = make_pair(dx=0.4, dy=0.1, size=96, nodata=65535, pre_nodata_block=(slice(0, 10), slice(0, 96)))
    summary = estimate_scene(pre, post, tmp_path / "mf.tif", "microflow", model=model, progress=False,
                             regularize="none", window=96, threads=1)
    field, tags, _ = read_product(tmp_path / "mf.tif", as_field=True)
    assert summary["window"] == 96 and summary["windows"] == 1  # the model's default is 64; 96 was asked
    assert np.isnan(field.dx[:10]).all() and np.isfinite(field.dx[10:]).all()
    images = read_pair(pre, post)[:2]
    stats = [image_stats(img) for img in images]
    filled = [np.where(np.isnan(img), np.float32(st[0]), img) for img, st in zip(images, stats)]
    expected = MicroFlowEstimator(model, device="cpu").predict(filled[0][None], filled[1][None], *stats)[0]
    np.testing.assert_allclose(field.dx[10:], expected[0][10:], atol=1e-5)
    np.testing.assert_allclose(field.dy[10:], expected[1][10:], atol=1e-5)
    assert tags["METHOD"] == "microflow" and "tiny.safetensors" in tags["PARAMETERS"]


def test_microflow_default_window_and_log_tv(tmp_path, make_pair, one_torch_thread, monkeypatch):
    import microflow.methods.microflow

    monkeypatch.setattr(microflow.methods.microflow, "TILING_WINDOW", 0)  # the tiny model's 64 px
    model = save_tiny_model(tmp_path / "tiny.safetensors")
    pre, post = make_pair(dx=0.4, dy=0.1, size=128)
    summary = estimate_scene(pre, post, tmp_path / "mf.tif", "microflow", progress=False, threads=1,
                             method_params={"model": model}, reg_params={"outer_iters": 1, "inner_iters": 10})
    field, _, _ = read_product(tmp_path / "mf.tif", as_field=True)
    assert (summary["window"], summary["overlap"], summary["regularize"]) == (64, 16, "ltv")
    assert summary["windows"] == 9 and np.isfinite(field.dx).all()


@pytest.mark.parametrize("kwargs", [{"regularize": "median"}, {"reg_params": {"lambda": 1.0}},
                                    {"overlap": 64}, {"batch_size": 0}])
def test_bad_settings_fail_before_any_work(tmp_path, kwargs):
    pre, post = write_position_pair(tmp_path, 80, 80)
    with pytest.raises(ParameterError):
        estimate_scene(pre, post, tmp_path / "bad.tif", "fake", predictor_factory=PositionPredictor,
                       window=64, progress=False, **kwargs)
    assert not (tmp_path / "bad.tif").exists()


def test_cli_window_and_regularization_options_reach_the_product(tmp_path, make_pair, cli, one_torch_thread):
    pre, post = make_pair(dx=0.3, dy=-0.2, size=160)
    out = tmp_path / "cli.tif"
    rc, _, err = cli("estimate", pre, post, "-o", out, "--method", "freqcorr", "--quiet", "-p", "window=32",
                     "--window", "96", "--overlap", "40", "--batch-size", "2", "--regularize", "tv",
                     "--lambda", "0.01", "--threads", "1")
    assert rc == 0, err
    assert "9 windows of 96 px" in err and "regularize tv" in err  # origins 0, 56, 64 per axis
    _, tags, _ = read_product(out)
    params = json.loads(tags["PARAMETERS"])
    assert params == {"band": 1, "align": "exact", "window": 32, "tile_window": 96, "tile_overlap": 40,
                      "regularize": "tv",
                      "reg_lam": 0.01, "reg_halo": 96, "reg_block": 1024}


def test_cli_rejects_an_overlap_not_below_the_window(tmp_path, make_pair, cli, clean_failure):
    pre, post = make_pair(size=64)
    out = tmp_path / "bad.tif"
    clean_failure(cli("estimate", pre, post, "-o", out, "--quiet", "--window", "32", "--overlap", "32"),
                  "overlap", output=out)


def test_default_batch_is_about_a_megapixel_of_windows():
    from microflow.tiling.plan import default_batch_size

    assert [default_batch_size(w) for w in (256, 512, 768, 2048)] == [16, 4, 1, 1]


@pytest.mark.parametrize("length, expected", [(8192, 1536), (4096, 1504), (2048, 1120), (1600, 896), (1000, 1536)])
def test_fitted_window_needs_no_more_windows_and_wastes_less(length, expected):
    window = fitted_window((length, length), 1536, 192)
    assert window == expected and window % 16 == 0
    if length > 1536:
        fitted, largest = (WindowGrid(length, length, w, 192) for w in (window, 1536))
        assert len(fitted.row_origins) == len(largest.row_origins)
        assert len(WindowGrid(length, length, window - 16, 192).row_origins) > len(fitted.row_origins)


def test_default_microflow_plan_fits_large_windows_with_a_fixed_overlap():
    plan, _ = plan_scene((2048, 3000), "microflow", threads=1)
    assert (plan.grid.window, plan.grid.overlap) == (1136, 192)  # the wider axis decides: 3 windows of 1136
    assert plan.grid.count == 2 * 3 and plan.batch_size == 1
    plan, _ = plan_scene((2048, 2048), "microflow", window=768, threads=1)  # a given window is kept
    assert (plan.grid.window, plan.grid.overlap) == (768, 192)


def test_bounded_gdal_cache_is_64_mib_in_bytes_and_leaves_a_users_setting(monkeypatch):
    from rasterio.env import get_gdal_config

    from microflow.tiling.scene import GDAL_CACHE_MB, bounded_gdal_cache

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    with bounded_gdal_cache():
        assert int(get_gdal_config("GDAL_CACHEMAX")) == GDAL_CACHE_MB * 2 ** 20  # not 64 bytes
    monkeypatch.setenv("GDAL_CACHEMAX", "128")  # a string would be refused by rasterio: GDAL reads it itself
    assert "GDAL_CACHEMAX" not in bounded_gdal_cache().options


def test_correlators_tile_with_an_overlap_of_two_correlation_windows():
    from microflow.tiling.predictors import ClassicalPredictor

    assert ClassicalPredictor("freqcorr", {"window": 48}).preferred_overlap == 96
    assert ClassicalPredictor("ncc").preferred_overlap == 64          # its default 32 px window
    assert ClassicalPredictor("farneback").preferred_overlap is None  # a quarter of the tile
    plan, _ = plan_scene((1024, 1024), "freqcorr")
    assert (plan.grid.window, plan.grid.count) == (1024, 1)
    plan, _ = plan_scene((3000, 3000), "freqcorr")
    assert plan.grid.overlap == 64 and plan.grid.window <= 1024


def test_threads_become_a_correlators_fft_workers_unless_its_params_say(monkeypatch):
    import microflow.tiling.predictors as predictors
    from microflow.methods import get_method
    from microflow.tiling.predictors import ClassicalPredictor, PredictorSpec

    seen = []
    freqcorr = get_method("freqcorr")

    def spy(pre, post, window=32, step=8, workers=1, **kw):
        seen.append(workers)
        return freqcorr(pre, post, window=window, step=step, workers=workers, **kw)

    monkeypatch.setattr(predictors, "get_method", lambda name: spy if name == "freqcorr" else get_method(name))
    images = np.random.default_rng(0).normal(size=(1, 64, 64)).astype(np.float32)
    PredictorSpec("freqcorr", {}, threads=2).build().predict(images, images)
    PredictorSpec("freqcorr", {"workers": 1}, threads=2).build().predict(images, images)
    PredictorSpec("freqcorr", {}).build().predict(images, images)
    assert seen == [2, 1, 1]
    assert ClassicalPredictor("ncc", threads=2).predict(images, images).shape == (1, 3, 64, 64)  # no workers: unchanged
