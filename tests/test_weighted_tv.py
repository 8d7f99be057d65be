"""Weighted-TV inner solver: against independent scipy solvers, prox-tv, and its NaN contract."""

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse
import torch

from microflow.errors import ParameterError
from microflow.regularization.weighted_tv import (adjoint_differences, forward_differences, solve_weighted_tv,
                                                  weighted_tv_energy)


def _difference_matrix(h: int, w: int) -> tuple[scipy.sparse.csr_matrix, list, list]:
    """Sparse forward differences built from index arithmetic: horizontal edges first, then vertical.
    Returns D and the (i, j) of each horizontal and each vertical edge."""
    rows, cols, vals, horizontal, vertical = [], [], [], [], []
    for i in range(h):
        for j in range(w - 1):
            e = len(horizontal)
            rows += [e, e]; cols += [i * w + j + 1, i * w + j]; vals += [1.0, -1.0]
            horizontal.append((i, j))
    for i in range(h - 1):
        for j in range(w):
            e = len(horizontal) + len(vertical)
            rows += [e, e]; cols += [(i + 1) * w + j, i * w + j]; vals += [1.0, -1.0]
            vertical.append((i, j))
    d = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(horizontal) + len(vertical), h * w))
    return d, horizontal, vertical


def _scipy_aniso(f: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    """Dual box QP min 1/2 ||f - Dᵀp||², |p_e| <= w_e, by L-BFGS-B in float64; u = f - Dᵀp."""
    h, w = f.shape
    d, horizontal, vertical = _difference_matrix(h, w)
    bound = np.array([wx[e] for e in horizontal] + [wy[e] for e in vertical])
    fv = f.ravel()

    def value_and_grad(p):
        r = fv - d.T @ p
        return 0.5 * r @ r, -(d @ r)

    res = scipy.optimize.minimize(value_and_grad, np.zeros(len(bound)), jac=True, method="L-BFGS-B",
                                  bounds=list(zip(-bound, bound)),
                                  options={"maxiter": 20000, "ftol": 1e-16, "gtol": 1e-12})
    return (fv - d.T @ res.x).reshape(h, w)


def _scipy_iso(f: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Vectorial isotropic TV of f (B, H, W): dual with per-pixel ball constraints, by SLSQP."""
    b, h, w = f.shape
    d, horizontal, vertical = _difference_matrix(h, w)
    n_e = d.shape[0]
    owner = np.array([i * w + j for i, j in horizontal + vertical])      # pixel each edge starts at

    def objective(p):
        r = f.reshape(b, -1) - (d.T @ p.reshape(b, n_e).T).T
        return 0.5 * float((r * r).sum()), -(d @ r.T).T.ravel()

    def margin(p):
        sq = np.zeros(h * w)
        np.add.at(sq, owner, (p.reshape(b, n_e) ** 2).sum(axis=0))
        return weight.ravel() ** 2 - sq

    def margin_jacobian(p):
        jac = np.zeros((h * w, b, n_e))
        jac[owner, :, np.arange(n_e)] = -2.0 * p.reshape(b, n_e).T
        return jac.reshape(h * w, b * n_e)

    res = scipy.optimize.minimize(objective, np.zeros(b * n_e), jac=True, method="SLSQP",
                                  constraints=[{"type": "ineq", "fun": margin, "jac": margin_jacobian}],
                                  options={"maxiter": 3000, "ftol": 1e-13})
    assert res.status in (0, 8) and margin(res.x).min() > -1e-7, res.message   # 8: at precision limit
    return f - (d.T @ res.x.reshape(b, n_e).T).T.reshape(b, h, w)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float32)


def test_differences_are_adjoint():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, 7, 9, generator=gen, dtype=torch.float64)
    px, py = torch.randn(2, 2, 7, 9, generator=gen, dtype=torch.float64)
    px[..., -1] = 0
    py[..., -1, :] = 0
    gx, gy = forward_differences(u)
    assert gx[..., -1].abs().max() == 0 and gy[..., -1, :].abs().max() == 0
    lhs = float((gx * px + gy * py).sum())
    rhs = float((u * adjoint_differences(px, py)).sum())
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_aniso_matches_independent_scipy_solver():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(6, 7))
    wx, wy = rng.uniform(0.05, 0.6, (2, 6, 7))
    expected = _scipy_aniso(f, wx, wy)
    got = solve_weighted_tv(_t(f), (_t(wx), _t(wy)), iters=1000).u.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.abs(got - f).max() > 0.05                                   # the weights do act


def test_iso_matches_independent_scipy_solver():
    rng = np.random.default_rng(4)
    f = rng.normal(size=(2, 5, 6))
    weight = rng.uniform(0.1, 0.6, (5, 6))
    expected = _scipy_iso(f, weight)
    got = solve_weighted_tv(_t(f), _t(weight), norm="iso", iters=1000).u.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    aniso = solve_weighted_tv(_t(f), _t(weight), norm="aniso", iters=1000).u.numpy()
    assert np.abs(aniso - expected).max() > 1e-2                          # iso is a different problem


def test_matches_prox_tv_tv1w_2d():
    ptv = pytest.importorskip("prox_tv")
    rng = np.random.default_rng(1)
    f = rng.normal(size=(32, 40))
    wx, wy = rng.uniform(0.05, 0.5, (2, 32, 40))
    expected = ptv.tv1w_2d(f, wy[:-1], wx[:, :-1], max_iters=300)       # w_col: vertical, w_row: horizontal
    weights = (_t(wx), _t(wy))
    got = solve_weighted_tv(_t(f), weights, iters=600).u
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-3)
    e_ours = weighted_tv_energy(got, _t(f), weights)
    e_ref = weighted_tv_energy(torch.from_numpy(expected), torch.from_numpy(f), (torch.from_numpy(wx),
                                                                                 torch.from_numpy(wy)))
    assert abs(e_ours - e_ref) <= 1e-4 * abs(e_ref)


def test_nan_pixels_stay_nan_and_cut_all_links():
    rng = np.random.default_rng(5)
    f = rng.normal(size=(2, 12, 15)).astype(np.float32)
    f[:, :, 7] = np.nan                                                   # a wall of no-data
    f[1, 3, 2] = np.nan                                                   # one slice only (aniso: per slice)
    wx, wy = rng.uniform(0.1, 0.5, (2, 12, 15)).astype(np.float32)
    whole = solve_weighted_tv(_t(f), (_t(wx), _t(wy)), iters=300).u.numpy()
    left = solve_weighted_tv(_t(f[:, :, :7]), (_t(wx[:, :7]), _t(wy[:, :7])), iters=300).u.numpy()
    assert np.array_equal(np.isnan(whole), np.isnan(f))
    np.testing.assert_allclose(whole[:, :, :7], left, atol=1e-5)
    iso_whole = solve_weighted_tv(_t(f), _t(wx), norm="iso", iters=300).u.numpy()
    iso_left = solve_weighted_tv(_t(f[:, :, :7]), _t(wx[:, :7]), norm="iso", iters=300).u.numpy()
    assert np.isnan(iso_whole[:, 3, 2]).all() and np.isnan(iso_whole[:, :, 7]).all()   # joint mask
    assert np.isfinite(iso_whole).sum() == 2 * (12 * 14 - 1)
    np.testing.assert_allclose(iso_whole[:, :, :7], iso_left, atol=1e-5, equal_nan=True)


def test_batch_slices_are_independent_and_2d_input_works():
    rng = np.random.default_rng(6)
    f = rng.normal(size=(3, 10, 11)).astype(np.float32)
    batch = solve_weighted_tv(_t(f), 0.3, iters=200).u
    for k in range(3):
        single = solve_weighted_tv(_t(f[k]), 0.3, iters=200).u
        assert single.shape == (10, 11)
        np.testing.assert_allclose(batch[k].numpy(), single.numpy(), atol=1e-6)


def test_duality_gap_certifies_and_stops_early():
    rng = np.random.default_rng(7)
    f = _t(rng.normal(size=(2, 24, 24)))
    weights = _t(rng.uniform(0.1, 0.4, (24, 24)))
    loose = solve_weighted_tv(f, weights, iters=3000, gap_tol=1e-5, check_every=10)
    tight = solve_weighted_tv(f, weights, iters=3000)
    assert loose.iterations < 3000 and loose.gap_per_pixel <= 1e-5
    excess = weighted_tv_energy(loose.u, f, weights) - weighted_tv_energy(tight.u, f, weights)
    assert -1e-4 <= excess <= loose.gap_per_pixel * f.numel() + 1e-4


def test_warm_start_from_the_solution_stays_there():
    rng = np.random.default_rng(8)
    f = _t(rng.normal(size=(2, 20, 20)))
    solved = solve_weighted_tv(f, 0.4, iters=800)
    again = solve_weighted_tv(f, 0.4, iters=5, dual_init=solved.dual)
    cold = solve_weighted_tv(f, 0.4, iters=5)
    assert (again.u - solved.u).abs().max() < 1e-3 < (cold.u - solved.u).abs().max()


def test_rejects_bad_parameters():
    f = torch.zeros(4, 4)
    with pytest.raises(ParameterError):
        solve_weighted_tv(f, -1.0)
    with pytest.raises(ParameterError):
        solve_weighted_tv(f, 0.1, norm="l0")
    with pytest.raises(ParameterError):
        solve_weighted_tv(f, (torch.ones(4, 4), torch.ones(4, 4)), norm="iso")
    with pytest.raises(ParameterError):
        solve_weighted_tv(torch.zeros(1, 2, 4, 4), 0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(9)
    f = _t(rng.normal(size=(2, 33, 31)))
    cpu = solve_weighted_tv(f, 0.3, iters=300).u
    gpu = solve_weighted_tv(f.cuda(), 0.3, iters=300).u
    assert gpu.is_cuda
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), atol=1e-5)
