import numpy as np
import pytest

from microflow.analysis import metrics as M


def constant_flow(dx, dy, shape=(40, 50)):
    return np.stack([np.full(shape, dx, float), np.full(shape, dy, float)])


def test_epe_is_euclidean_and_skips_nan():
    true = constant_flow(0.0, 0.0)
    pred = constant_flow(3.0, 4.0)
    assert M.epe(pred, true) == pytest.approx(5.0)
    pred[:, :, :25] = 0.0  # half exact
    assert M.epe(pred, true) == pytest.approx(2.5)
    pred[0, :, 25:] = np.nan  # the wrong half has no estimate: excluded, not counted as error
    assert M.epe(pred, true) == pytest.approx(0.0)
    assert M.valid_fraction(pred) == pytest.approx(0.5)
    assert np.isnan(M.epe(np.full_like(pred, np.nan), true))


def test_epe_and_bias_respect_the_region():
    true = constant_flow(1.0, -1.0)
    pred = true.copy()
    pred[0, :10] += 0.5
    pred[1, :10] -= 0.2
    top = np.zeros(true.shape[1:], bool)
    top[:10] = True
    assert M.epe(pred, true, top) == pytest.approx(np.hypot(0.5, 0.2))
    assert M.epe(pred, true, ~top) == pytest.approx(0.0)
    bx, by = M.mean_bias(pred, true, top)
    assert (bx, by) == (pytest.approx(0.5), pytest.approx(-0.2))
    assert M.mean_bias(pred, true) == (pytest.approx(0.5 * 10 / 40), pytest.approx(-0.2 * 10 / 40))


def test_interior_mask_excludes_the_border():
    mask = M.interior_mask((40, 50), border=16)
    assert mask.sum() == (40 - 32) * (50 - 32)
    assert not mask[15].any() and mask[16, 16] and not mask[16, 15] and not mask[24, 34]
    assert not M.interior_mask((30, 50), border=16).any()  # nothing left
    assert M.interior_mask((5, 5), border=0).all()
    with pytest.raises(ValueError):
        M.interior_mask((5, 5), border=-1)


def test_fault_zone_radius_is_euclidean():
    trace = np.zeros((21, 21), bool)
    trace[10, 10] = True
    zone = M.fault_zone(trace, radius=5)
    assert zone[10, 15] and not zone[10, 16]  # 5 px in, 6 px out
    assert zone[13, 14] and not zone[14, 14]  # hypot(3,4)=5 in, hypot(4,4)=5.66 out
    assert not M.fault_zone(np.zeros((4, 4), bool)).any()


def test_regions_partition_the_interior():
    trace = np.zeros((64, 64), bool)
    trace[:, 32] = True
    regions = M.evaluation_regions((64, 64), trace, border=8, radius=5)
    assert not (regions["near"] & regions["far"]).any()
    np.testing.assert_array_equal(regions["near"] | regions["far"], regions["all"])
    assert regions["near"].sum() == 11 * (64 - 16)  # columns 27..37 inside rows 8..55
    no_fault = M.evaluation_regions((64, 64), None, border=8)
    assert not no_fault["near"].any() and (no_fault["far"] == no_fault["all"]).all()


def test_smoothness_of_ramps_is_their_slope():
    rows, cols = np.mgrid[0:32, 0:32].astype(float)
    flow = np.stack([0.03 * cols, 0.04 * rows])
    interior = M.interior_mask((32, 32), 2)
    assert M.smoothness(flow, interior) == pytest.approx(0.05)  # sqrt(0.03² + 0.04²)
    assert M.smoothness(constant_flow(2.0, -1.0)) == pytest.approx(0.0)


def test_smoothness_near_a_step_and_nan_neighbourhood():
    flow = constant_flow(0.0, 0.0, (32, 32))
    flow[0, :, 16:] = 1.0  # a fault between columns 15 and 16
    trace = np.zeros((32, 32), bool)
    trace[:, 16] = True
    regions = M.evaluation_regions((32, 32), trace, border=2, radius=3)
    assert M.smoothness(flow, regions["far"]) == pytest.approx(0.0)
    assert M.smoothness(flow, regions["near"]) > 0.1
    grad = M.gradient_magnitude(flow)
    assert grad[10, 15] == pytest.approx(0.5) and grad[10, 16] == pytest.approx(0.5)
    flow[1, 10, 5] = np.nan
    grad = M.gradient_magnitude(flow)
    assert np.isnan(grad[9:12, 4:7]).all() and np.isfinite(grad[10, 8])


def test_epe_by_magnitude_bins_the_true_magnitude():
    true = constant_flow(0.1, 0.0, (10, 10))
    true[0, :5] = 1.2
    pred = true + np.array([0.0, 0.3])[:, None, None]
    edges = np.array([0.0, 0.5, 1.0, 2.0])
    error_sum, count = M.epe_by_magnitude(pred, true, edges)
    assert count.tolist() == [50, 0, 50]
    np.testing.assert_allclose(error_sum, [15.0, 0.0, 15.0])


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        M.epe(np.zeros((3, 4, 4)), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="differ"):
        M.epe(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="region"):
        M.epe(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), np.ones((3, 3), bool))
