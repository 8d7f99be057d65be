"""Triplet closure (analysis/closure.py) and the shift set's pairs (analysis/shift_set.py)."""

from __future__ import annotations

import numpy as np
import pytest

from microflow.analysis.closure import border_region, closure_residual, closure_sigma, closure_summary, sample_field
from microflow.uncertainty import coverage_of


def ramp_field(shape, a, b, c):
    rows, cols = np.meshgrid(np.arange(shape[0], dtype=np.float32), np.arange(shape[1], dtype=np.float32),
                             indexing="ij")
    return (a + b * cols).astype(np.float32), (c + 0 * rows).astype(np.float32)


def test_sample_field_is_bilinear_and_nan_outside():
    dx, dy = ramp_field((8, 8), 0.0, 1.0, 2.0)
    sx, sy = sample_field(dx, dy, np.array([3.0, 3.5, -2.0]), np.array([2.25, 6.5, 1.0]))
    assert sx[:2] == pytest.approx([2.25, 6.5]) and sy[:2] == pytest.approx([2.0, 2.0])
    assert np.isnan(sx[2]) and np.isnan(sy[2])


def test_consistent_fields_close_to_zero_and_an_inconsistent_one_does_not():
    shape = (40, 40)
    ab = ramp_field(shape, 1.0, 0.02, 0.5)            # dx = 1 + 0.02 col, dy = 0.5
    bc = ramp_field(shape, 2.0, 0.0, -0.25)           # a constant shift
    ac = (ab[0] + 2.0, ab[1] - 0.25)                  # composition of the two
    r = closure_residual(ab, bc, ac)
    inner = border_region(np.ones(shape, bool), 4)
    assert np.nanmax(r[inner]) < 1e-5
    bad = closure_residual(ab, bc, (ac[0] + 0.3, ac[1] + 0.4))
    assert np.nanmedian(bad[inner]) == pytest.approx(0.5, abs=1e-5)


def test_closure_residual_follows_the_first_field_into_the_second():
    shape = (30, 30)
    ab = (np.full(shape, 3.0, np.float32), np.zeros(shape, np.float32))
    bc = ramp_field(shape, 0.0, 0.1, 0.0)             # depends on the column: sampled at p + 3 px
    ac = (ab[0] + bc[0] + 0.3, np.zeros(shape, np.float32))   # what a method ignoring the advection reads
    r = closure_residual(ab, bc, ac)
    assert np.nanmedian(r) == pytest.approx(0.0, abs=1e-5)   # 0.1 px/px x 3 px = 0.3: the advection counts


def test_border_region_and_summary():
    region = border_region(np.ones((10, 10), bool), 3)
    assert region.sum() == 16
    values = np.full((10, 10), np.nan, np.float32)
    values[4:6, 4:6] = [[1, 2], [3, 4]]
    s = closure_summary(values, region)
    assert s["median"] == pytest.approx(2.5) and s["finite_share"] == pytest.approx(4 / 16) and s["pixels"] == 4
    assert closure_summary(values, np.zeros((10, 10), bool))["pixels"] == 0


def test_shift_pairs_are_deterministic_and_outside_training_textures():
    from microflow.analysis.shift_set import ShiftSpec, shift_bank, shift_pairs

    spec = ShiftSpec(per_category=1, nulls=1, size=64)
    a, b = shift_pairs("skimage", spec), shift_pairs("skimage", spec)
    assert len(a) == 4 and [s.category for s in a] == [0, 1, 2, -1]
    assert np.array_equal(a[1].post, b[1].post) and not a[3].flow.any()
    assert {p.name for p in shift_bank("skimage").areas} == {"grass", "gravel", "brick"}
    with pytest.raises(ValueError):
        shift_bank("mars")


def test_triplet_helpers_run_each_pair_once_and_close_a_consistent_triplet():
    from microflow.analysis.shift_set import once_per_pair, triplet_pairs, triplet_residual

    assert triplet_pairs(("A", "B", "C")) == (("A", "B"), ("B", "C"), ("A", "C"))
    shifts = {("A", "B"): (1.0, 0.5), ("B", "C"): (2.0, -1.0), ("A", "C"): (3.0, -0.5), ("C", "D"): (0.0, 0.0),
              ("B", "D"): (2.0, -0.75)}
    calls = []

    def compute(a, b):
        calls.append((a, b))
        dx, dy = shifts[a, b]
        return np.full((24, 24), dx, np.float32), np.full((24, 24), dy, np.float32)

    field = once_per_pair(compute)
    consistent = triplet_residual(field, ("A", "B", "C"))
    assert np.nanmax(consistent[6:-6, 6:-6]) < 1e-6
    off = triplet_residual(field, ("B", "C", "D"))  # 2 + 0 - 2, -1 + 0 + 0.75: r = 0.25 inside
    assert np.allclose(off[6:-6, 6:-6], 0.25, atol=1e-6)
    triplet_residual(field, ("A", "B", "C"))
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 5


def test_closure_sigma_adds_the_three_variances_along_the_path():
    shape = (20, 30)
    ab = (np.full(shape, 2.0, np.float32), np.zeros(shape, np.float32))
    s_ab, s_ac = np.full(shape, 0.3, np.float32), np.full(shape, 0.4, np.float32)
    s_bc = np.tile(np.linspace(0.0, 2.9, 30, dtype=np.float32), (20, 1))      # 0.1 px per column
    radius = closure_sigma(s_ab, s_bc, s_ac, ab)
    # at column 5, d_BC (and its sigma) is read at column 7: 0.7 px
    assert radius[10, 5] == pytest.approx(np.sqrt(0.3 ** 2 + 0.7 ** 2 + 0.4 ** 2), rel=1e-5)
    assert np.isnan(radius[10, 29])                                          # followed off the grid
    nan_ab = (ab[0].copy(), ab[1])
    nan_ab[0][3, 3] = np.nan
    assert np.isnan(closure_sigma(s_ab, s_bc, s_ac, nan_ab)[3, 3])


def test_closure_sigma_covers_independent_gaussian_errors_at_68_percent():
    rng = np.random.default_rng(3)
    shape, s = (200, 200), 0.05                                             # per-component std of each field
    sigma = np.full(shape, 1.51 * s, np.float32)                            # the 68 % radius of each field
    zero = np.zeros(shape, np.float32)
    fields = [(zero + rng.normal(0, s, shape), zero + rng.normal(0, s, shape)) for _ in range(3)]
    fields = [tuple(np.asarray(c, np.float32) for c in f) for f in fields]
    r = closure_residual(*fields)
    radius = closure_sigma(sigma, sigma, sigma, fields[0])
    assert coverage_of(radius, r) == pytest.approx(0.68, abs=0.03)
    assert coverage_of(radius / 2, r) < 0.3
