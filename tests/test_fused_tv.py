"""Fused numba log-TV / TV kernels: the same iteration as the torch solver, to float32 rounding."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from microflow.errors import ParameterError
from microflow.regularization import fused_tv, log_tv_objective, regularize

TOL_PX = 1e-4               # max |fused - torch| [px]
TOL_OBJECTIVE = 1e-5        # relative difference of the log-TV objective


@pytest.fixture
def numba():
    return pytest.importorskip("numba")


def faulted_field(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth ramps + an oblique fault step (1 px, -0.5 px) + noise 0.1 px, with NaN holes: a block in
    both components, one pixel in dy only, and the first column of dx."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    side = (x + 0.4 * y) > 0.5
    dx = 0.3 * np.sin(3 * x + y) + 1.0 * side + rng.normal(0, 0.1, (h, w))
    dy = 0.2 * np.cos(4 * y) - 0.5 * side + rng.normal(0, 0.1, (h, w))
    dx[h // 4:h // 4 + 5, w // 5:w // 5 + 4] = np.nan
    dy[h // 2, w // 2] = np.nan
    dx[:, 0] = np.nan
    return dx.astype(np.float32), dy.astype(np.float32)


def assert_same(fused, torch_out, tol=TOL_PX):
    for a, b in zip(fused, torch_out):
        assert a.dtype == np.float32 and a.shape == b.shape
        assert np.array_equal(np.isnan(a), np.isnan(b))
        assert np.nanmax(np.abs(a - b), initial=0.0) <= tol


@pytest.mark.parametrize("shape, seed", [((40, 50), 0), ((96, 80), 1)])
@pytest.mark.parametrize("lam, eps", [(None, 1.0), (0.1, 0.3)])
def test_log_tv_matches_torch(numba, shape, seed, lam, eps):
    dx, dy = faulted_field(*shape, seed)
    kwargs = {"lam": lam, "eps": eps, "device": "cpu"}
    fused = regularize(dx, dy, "ltv", backend="fused", **kwargs)
    torch_out = regularize(dx, dy, "ltv", backend="torch", **kwargs)
    assert_same(fused, torch_out)
    invalid = np.isnan(dx) | np.isnan(dy)
    assert np.array_equal(np.isnan(fused[0]), invalid) and np.array_equal(np.isnan(fused[1]), invalid)
    lam = 0.4 if lam is None else lam
    phi_fused = log_tv_objective(*fused, dx, dy, lam=lam, eps=eps)
    phi_torch = log_tv_objective(*torch_out, dx, dy, lam=lam, eps=eps)
    assert phi_fused == pytest.approx(phi_torch, rel=TOL_OBJECTIVE)
    assert phi_fused < log_tv_objective(dx, dy, dx, dy, lam=lam, eps=eps)      # it did regularize


def test_tolerance_is_tight_enough_to_see_two_missing_iterations(numba):
    dx, dy = faulted_field(40, 50, 2)
    fused = regularize(dx, dy, backend="fused", inner_iters=48)
    torch_out = regularize(dx, dy, backend="torch", device="cpu")
    assert np.nanmax(np.abs(fused[0] - torch_out[0])) > 2 * TOL_PX


@pytest.mark.parametrize("shape", [(40, 50), (96, 80)])
def test_plain_tv_matches_torch(numba, shape):
    dx, dy = faulted_field(*shape, 3)
    for lam in (None, 0.3):
        fused = regularize(dx, dy, "tv", lam=lam, backend="fused")
        assert_same(fused, regularize(dx, dy, "tv", lam=lam, backend="torch", device="cpu"))
    direct = fused_tv.tv_fused(dx, dy, lam=0.3, inner_iters=50)
    np.testing.assert_array_equal(direct[0], fused[0])


def test_non_default_iterations_match_torch(numba):
    dx, dy = faulted_field(40, 50, 4)
    kwargs = {"lam": 0.2, "eps": 0.5, "outer_iters": 2, "inner_iters": 120}   # τ reaches MIN_PRIMAL_STEP
    assert_same(regularize(dx, dy, backend="fused", **kwargs),
                regularize(dx, dy, backend="torch", device="cpu", **kwargs))


def test_wavefront_depth_does_not_change_the_result(numba):
    dx, dy = faulted_field(96, 80, 5)
    reference = fused_tv.log_tv_fused(dx, dy, lam=0.4, eps=1.0, outer_iters=3, inner_iters=50, depth=1)
    for depth in (2, 7, 50):
        out = fused_tv.log_tv_fused(dx, dy, lam=0.4, eps=1.0, outer_iters=3, inner_iters=50, depth=depth)
        for a, b in zip(out, reference):
            np.testing.assert_array_equal(a, b)


def test_tiny_and_degenerate_fields(numba):
    nan = np.full((3, 4), np.nan, np.float32)
    for out in (regularize(nan, nan, backend="fused"), regularize(nan, nan, "tv", backend="fused")):
        assert all(np.isnan(o).all() and o.shape == (3, 4) for o in out)
    rng = np.random.default_rng(6)
    for shape in ((30, 1), (1, 30), (1, 1)):
        dx, dy = (rng.normal(size=shape).astype(np.float32) for _ in range(2))
        assert_same(regularize(dx, dy, backend="fused"), regularize(dx, dy, backend="torch", device="cpu"))
    column = rng.normal(size=(30, 1)).astype(np.float32)
    column[10] = np.nan
    out = regularize(column, column, backend="fused")
    assert np.isnan(out[0][10, 0]) and np.isfinite(np.delete(out[0], 10)).all()


def test_invalid_backend_and_unsupported_options():
    dx = np.zeros((4, 5), np.float32)
    with pytest.raises(ParameterError, match="backend"):
        regularize(dx, dx, backend="numba")
    with pytest.raises(ParameterError, match="aniso"):
        regularize(dx, dx, backend="fused", norm="iso")
    with pytest.raises(ParameterError, match="gap_tol"):
        regularize(dx, dx, backend="fused", gap_tol=1e-6)
    with pytest.raises(ParameterError):
        regularize(dx, dx, backend="fused" if fused_tv.FUSED_AVAILABLE else "torch", lam=-1.0)


def test_auto_dispatch(numba, monkeypatch):
    calls = []
    real = fused_tv.log_tv_fused
    monkeypatch.setattr(fused_tv, "log_tv_fused", lambda *a, **k: calls.append(k) or real(*a, **k))
    dx, dy = faulted_field(40, 50, 7)
    auto = regularize(dx, dy, device="cpu")
    assert len(calls) == 1 and calls[0]["inner_iters"] == 50
    regularize(dx, dy, device="cpu", backend="torch")
    regularize(dx, dy, device="cpu", gap_tol=1e-3)
    regularize(dx, dy, device="cpu", norm="iso")
    assert len(calls) == 1
    assert_same(auto, regularize(dx, dy, device="cpu", backend="torch"))


def test_without_numba_falls_back_to_torch(monkeypatch):
    monkeypatch.setattr(fused_tv, "FUSED_AVAILABLE", False)
    dx, dy = faulted_field(40, 50, 8)
    out = regularize(dx, dy, device="cpu")
    assert np.array_equal(np.isnan(out[0]), np.isnan(dx) | np.isnan(dy))
    with pytest.raises(ParameterError, match="numba"):
        regularize(dx, dy, backend="fused")
    with pytest.raises(ImportError):
        fused_tv.log_tv_fused(dx, dy, lam=0.4, eps=1.0, outer_iters=1, inner_iters=1)


def test_threads_run_tiles_independently(numba):
    fields = [faulted_field(96, 80, seed) for seed in (9, 10)]
    serial = [regularize(*f, backend="fused") for f in fields]
    with ThreadPoolExecutor(2) as pool:
        threaded = list(pool.map(lambda f: regularize(*f, backend="fused"), fields))
    for s, t in zip(serial, threaded):
        for a, b in zip(s, t):
            np.testing.assert_array_equal(a, b)


def test_import_compiles_nothing_and_numba_loads_lazily(numba):
    code = ("import sys; import microflow.regularization as r; assert 'numba' not in sys.modules; "
            "from microflow.regularization import fused_tv as f; "
            "print(len(f._iterate.signatures) + len(f._restart.signatures))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
