"""Okada (1985) surface displacement against cutde's triangular dislocations (two per rectangle)."""

import numpy as np
import pytest

from microflow.synth.okada import FaultSegment, okada_surface, rupture_surface

HS = pytest.importorskip("cutde.halfspace")


def rectangle_triangles(seg: FaultSegment) -> np.ndarray:
    """The fault rectangle as two triangles (east, north, up); this vertex order makes cutde's
    strike-slip +1 left-lateral and its dip-slip +1 normal (measured), i.e. (cos rake, -sin rake)."""
    s, dip = np.radians(seg.strike), np.radians(seg.dip)
    along = np.array([np.sin(s), np.cos(s), 0.0])
    down_dip = np.cos(dip) * np.array([np.cos(s), -np.sin(s), 0.0]) + np.array([0.0, 0.0, -np.sin(dip)])
    p0 = np.array([seg.east, seg.north, -seg.top_depth])
    p1 = p0 + seg.length * along
    p3 = p0 + seg.width * down_dip
    p2 = p1 + seg.width * down_dip
    return np.array([[p0, p1, p2], [p0, p2, p3]])


def cutde_surface(seg: FaultSegment, east, north, nu=0.25) -> np.ndarray:
    obs = np.column_stack([east, north, np.zeros(len(east))])
    per_slip = HS.disp_matrix(obs, rectangle_triangles(seg), nu).sum(axis=2)  # (N, 3, 3 slip components)
    rake = np.radians(seg.rake)
    return seg.slip * (per_slip[:, :, 0] * np.cos(rake) - per_slip[:, :, 1] * np.sin(rake))


def test_reference_values_vertical_strike_slip():
    """ecosystem.md: 20 km long, 10 km deep, 1 m slip; u parallel to strike at distance y."""
    seg = FaultSegment(0.0, -10_000.0, 0.0, 90.0, 0.0, 1.0, 20_000.0, 10_000.0, 0.0)
    ue, un, uz = okada_surface(np.array([500.0, 1000.0, 2000.0, 5000.0]), np.zeros(4), seg)
    np.testing.assert_allclose(np.abs(un), [0.4696, 0.4395, 0.3812, 0.2357], atol=6e-5)
    assert np.all(un > 0)  # left-lateral: the east side moves north
    np.testing.assert_allclose(ue, 0.0, atol=1e-12)
    np.testing.assert_allclose(uz, 0.0, atol=1e-12)


def random_segment(rng, surface: bool, vertical: bool) -> FaultSegment:
    return FaultSegment(rng.uniform(-2e3, 2e3), rng.uniform(-2e3, 2e3), rng.uniform(0, 360),
                        90.0 if vertical else rng.uniform(15, 89), rng.uniform(-180, 180), rng.uniform(0.5, 3),
                        rng.uniform(5e3, 3e4), rng.uniform(3e3, 2e4), 0.0 if surface else rng.uniform(100, 5e3))


@pytest.mark.parametrize("surface", [True, False])
@pytest.mark.parametrize("vertical", [True, False])
def test_random_faults_match_cutde(surface, vertical):
    """Max error <= 1e-6 of max |u|, including points 1 m - 100 m from the trace.

    cutde itself loses accuracy within ~1 cm of its triangle edges (NaN at 0.1 mm), so the
    closest points are 1 m (1/30 of a Landsat pixel) away."""
    rng = np.random.default_rng(7 + 2 * surface + vertical)
    worst = 0.0
    for _ in range(4):
        seg = random_segment(rng, surface, vertical)
        far_e, far_n = rng.uniform(-4e4, 4e4, 300), rng.uniform(-4e4, 4e4, 300)
        t = rng.uniform(0, 1, 200)
        offset = rng.choice([-1.0, 1.0], 200) * 10 ** rng.uniform(0, 2, 200)
        s = np.radians(seg.strike)
        e1, n1 = seg.end
        near_e = seg.east + t * (e1 - seg.east) + offset * np.cos(s)
        near_n = seg.north + t * (n1 - seg.north) - offset * np.sin(s)
        east, north = np.r_[far_e, near_e], np.r_[far_n, near_n]
        ours = np.stack(okada_surface(east, north, seg), axis=1)
        ref = cutde_surface(seg, east, north)
        worst = max(worst, np.abs(ours - ref).max() / np.abs(ref).max())
    assert worst <= 1e-6, worst


def test_on_trace_points_get_the_mean_of_both_sides():
    seg = FaultSegment(0.0, 0.0, 30.0, 60.0, -120.0, 1.0, 10_000.0, 8_000.0, 0.0)
    e1, n1 = seg.end
    s = np.radians(seg.strike)
    normal = np.array([np.cos(s), -np.sin(s)]) * 1e-3  # 1 mm to the right / left
    mid = np.array([(seg.east + e1) / 2, (seg.north + n1) / 2])
    on = np.stack(okada_surface(mid[0], mid[1], seg))
    right = np.stack(okada_surface(mid[0] + normal[0], mid[1] + normal[1], seg))
    left = np.stack(okada_surface(mid[0] - normal[0], mid[1] - normal[1], seg))
    assert np.abs(right - left).max() > 0.3  # the trace is a discontinuity of about the slip
    np.testing.assert_allclose(on, (right + left) / 2, atol=1e-6)
    assert np.all(np.isfinite(on))


def test_multi_segment_sum():
    rng = np.random.default_rng(3)
    segs = [random_segment(rng, True, False), random_segment(rng, False, True)]
    east, north = rng.uniform(-3e4, 3e4, 50), rng.uniform(-3e4, 3e4, 50)
    total = np.stack(rupture_surface(east, north, segs))
    parts = np.stack(okada_surface(east, north, segs[0])) + np.stack(okada_surface(east, north, segs[1]))
    np.testing.assert_allclose(total, parts, rtol=0, atol=1e-15)
