"""Log-TV majorize-minimize, the numpy entry point, and tiled processing."""

import numpy as np
import pytest
import torch

from microflow.errors import ParameterError
from microflow.regularization import (log_tv_denoise, log_tv_energy, log_tv_objective, regularize,
                                      regularize_tiled, tile_windows)

FAULT_COLUMN = 32
JUMP = (1.0, -0.5)          # dx, dy across the fault [px]


def fault_field(size: int = 64, sigma: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) (2, size, size) float32: gentle ramps + a vertical fault at FAULT_COLUMN."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    side = (np.arange(size) >= FAULT_COLUMN)[None, :]
    clean = np.stack([0.3 * np.sin(2 * x + y) + JUMP[0] * side, 0.2 * np.cos(3 * y) + JUMP[1] * side])
    clean = clean.astype(np.float32)
    return clean, clean + rng.normal(0, sigma, clean.shape).astype(np.float32)


def manual_objective(u, u0, lam, eps):
    """Φ for the anisotropic joint penalty written out with numpy, float64."""
    u, u0 = np.asarray(u, np.float64), np.asarray(u0, np.float64)
    horizontal = np.abs(np.diff(u, axis=2)).sum(axis=0)
    vertical = np.abs(np.diff(u, axis=1)).sum(axis=0)
    return ((u - u0) ** 2).sum() + lam * (np.log(horizontal + eps).sum() + np.log(vertical + eps).sum())


def test_objective_matches_its_definition():
    rng = np.random.default_rng(1)
    u0, u = rng.normal(size=(2, 2, 4, 5))
    got = log_tv_objective(u[0], u[1], u0[0], u0[1], lam=0.3, eps=0.05)
    assert got == pytest.approx(manual_objective(u, u0, 0.3, 0.05), rel=1e-12)
    iso = log_tv_objective(u[0], u[1], u0[0], u0[1], lam=0.3, eps=0.05, norm="iso")
    gx = np.zeros_like(u); gy = np.zeros_like(u)
    gx[..., :-1] = np.diff(u, axis=2); gy[..., :-1, :] = np.diff(u, axis=1)
    expected = ((u - u0) ** 2).sum() + 0.3 * np.log(np.sqrt((gx ** 2 + gy ** 2).sum(axis=0)) + 0.05).sum()
    assert iso == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("norm", ["aniso", "iso"])
def test_objective_decreases_over_mm_steps(norm):
    _, noisy = fault_field(48)
    u0 = torch.from_numpy(noisy)
    energies = [log_tv_energy(u0, u0, 0.1, 0.3, norm)]
    log_tv_denoise(u0, lam=0.1, eps=0.3, outer_iters=4, inner_iters=400, norm=norm,
           callback=lambda k, u: energies.append(log_tv_energy(u, u0, 0.1, 0.3, norm)))
    assert len(energies) == 5
    steps = np.diff(energies)
    assert (steps <= 1e-6 * abs(energies[0])).all(), energies
    assert energies[-1] < energies[0] - 0.2 * abs(energies[0])


def test_fault_stays_sharp_while_noise_is_reduced():
    clean, noisy = fault_field(64, sigma=0.1)
    dx, dy = regularize(noisy[0], noisy[1], "ltv", device="cpu")
    out = np.stack([dx, dy])
    far = np.r_[0:FAULT_COLUMN - 4, FAULT_COLUMN + 4:64]
    noise_in = np.sqrt(np.mean((noisy - clean)[:, :, far] ** 2))
    noise_out = np.sqrt(np.mean((out - clean)[:, :, far] ** 2))
    assert noise_out < noise_in / 3
    for c, jump in enumerate(JUMP):
        across = out[c, :, FAULT_COLUMN] - out[c, :, FAULT_COLUMN - 1]    # one-pixel step
        true = clean[c, :, FAULT_COLUMN] - clean[c, :, FAULT_COLUMN - 1]
        assert np.abs(across - true).mean() < 0.1 * abs(jump)
    blurred = (noisy[:, :, :-2] + noisy[:, :, 1:-1] + noisy[:, :, 2:]) / 3  # a box blur for contrast
    step_blur = np.abs(blurred[0, :, FAULT_COLUMN - 1] - blurred[0, :, FAULT_COLUMN - 2]).mean()
    assert step_blur < 0.5 * JUMP[0]                                        # the check above can fail


def test_nan_stays_nan_and_does_not_leak():
    clean, noisy = fault_field(40, sigma=0.1, seed=2)
    noisy[:, 10:15, 5:9] = np.nan                   # a hole in both components
    noisy[1, 30, 30] = np.nan                       # one component only -> both NaN out
    noisy[:, :, 20] = np.nan                        # a wall splitting the field in two
    dx, dy = regularize(noisy[0], noisy[1], "ltv", device="cpu")
    invalid = np.isnan(noisy).any(axis=0)
    assert np.array_equal(np.isnan(dx), invalid) and np.array_equal(np.isnan(dy), invalid)
    left_dx, left_dy = regularize(noisy[0, :, :20], noisy[1, :, :20], "ltv", device="cpu")
    np.testing.assert_allclose(dx[:, :20], left_dx, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(dy[:, :20], left_dy, atol=1e-5, equal_nan=True)
    around_hole = np.zeros_like(invalid)
    around_hole[8:17, 3:11] = True
    around_hole &= ~invalid
    assert np.abs(dx[around_hole] - clean[0][around_hole]).max() < 0.3   # no pull toward 0 from the hole


def test_methods_none_and_tv():
    clean, noisy = fault_field(48, sigma=0.1, seed=3)
    noisy[0, 5, 5] = np.nan
    dx, dy = regularize(noisy[0], noisy[1], "none")
    assert dx.dtype == np.float32 and np.isnan(dy[5, 5])
    np.testing.assert_array_equal(dx, noisy[0])
    tx, ty = regularize(noisy[0], noisy[1], "tv", device="cpu")
    assert np.isnan(tx[5, 5]) and np.isnan(ty[5, 5])
    ok = np.isfinite(tx)
    err_in = np.sqrt(np.nanmean((noisy - clean)[:, ok] ** 2))
    err_tv = np.sqrt(np.mean((np.stack([tx, ty]) - clean)[:, ok] ** 2))
    assert err_tv < err_in / 2


def test_matches_the_same_reweighting_driven_by_prox_tv():
    ptv = pytest.importorskip("prox_tv")
    _, noisy = fault_field(40, sigma=0.1, seed=4)
    lam, eps = 0.1, 0.3
    f = noisy.astype(np.float64)
    u = f.copy()
    for _ in range(3):
        w_row = lam / (2 * (np.abs(np.diff(u, axis=2)).sum(axis=0) + eps))
        w_col = lam / (2 * (np.abs(np.diff(u, axis=1)).sum(axis=0) + eps))
        u = np.stack([ptv.tv1w_2d(f[c], w_col, w_row, max_iters=300) for c in range(2)])
    ours = np.stack(regularize(noisy[0], noisy[1], "ltv", lam=lam, eps=eps, inner_iters=1500, device="cpu"))
    np.testing.assert_allclose(ours, u, atol=1e-3)
    ref = manual_objective(u, noisy, lam, eps)
    assert manual_objective(ours, noisy, lam, eps) == pytest.approx(ref, rel=1e-4)


def test_tile_windows_cover_every_pixel_once():
    count = np.zeros((70, 45), int)
    for window in tile_windows((70, 45), tile=32, halo=8):
        count[window.tile] += 1
        block = np.zeros((70, 45), bool)
        block[window.block] = True
        inner = np.zeros((70, 45), bool)
        inner[window.tile] = True
        assert block[inner].all()
        rows, cols = window.crop
        assert rows.stop - rows.start == window.tile[0].stop - window.tile[0].start
    assert (count == 1).all()


def test_tiled_equals_untiled():
    _, noisy = fault_field(256, sigma=0.1, seed=5)
    noisy[:, 100:110, 60:75] = np.nan
    solver = {"lam": 0.1, "eps": 0.3, "device": "cpu"}  # a fixed problem: the halo's reach depends on λ
    whole = np.stack(regularize(noisy[0], noisy[1], **solver))
    tiled = np.stack(regularize_tiled(noisy[0], noisy[1], tile=64, halo=32, **solver))
    assert np.array_equal(np.isnan(whole), np.isnan(tiled))
    diff = np.abs(whole - tiled)[np.isfinite(whole)]
    assert diff.max() < 5e-3 and np.mean(diff) < 1e-4 and np.quantile(diff, 0.999) < 1e-3
    full_halo = np.stack(regularize_tiled(noisy[0], noisy[1], tile=64, halo=64, **solver))
    np.testing.assert_allclose(full_halo, whole, atol=1e-5)
    no_halo = np.stack(regularize_tiled(noisy[0], noisy[1], tile=64, halo=0, **solver))
    assert np.nanmax(np.abs(no_halo - whole)) > 1e-2                      # seams appear without halo


def test_default_halo_is_exact_with_the_default_parameters():
    from microflow.tiling.plan import REG_HALO

    _, noisy = fault_field(256, sigma=0.2, seed=6)
    whole = np.stack(regularize(noisy[0], noisy[1], device="cpu"))
    tiled = np.stack(regularize_tiled(noisy[0], noisy[1], tile=96, halo=REG_HALO, device="cpu"))
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_rejects_bad_parameters():
    a = np.zeros((8, 8), np.float32)
    for kwargs in ({"method": "median"}, {"eps": 0.0}, {"lam": -1.0}, {"outer_iters": 0}, {"norm": "l2"}):
        with pytest.raises(ParameterError):
            regularize(a, a, **kwargs)
    with pytest.raises(ParameterError):
        regularize(a, np.zeros((8, 9), np.float32))
    with pytest.raises(ParameterError):
        regularize_tiled(a, a, tile=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    _, noisy = fault_field(64, seed=6)
    cpu = np.stack(regularize(noisy[0], noisy[1], device="cpu"))
    gpu = np.stack(regularize(noisy[0], noisy[1], device="cuda"))
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
