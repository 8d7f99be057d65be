"""Okada (1985) surface displacement of a rectangular dislocation in an elastic half-space.

Closed-form surface (z = 0) expressions of Okada (1985, BSSA 75, 1135-1154, eqs. 25-30), written
from the paper in vectorized numpy. Okada's frame: ``x`` along strike, ``y`` 90 degrees
counter-clockwise from strike (to the left looking along strike), ``z`` up; the fault dips to the
right of strike, its lower edge starts at ``(0, 0, -d)`` and it spans ``0 <= xi <= L`` along strike
and ``0 <= eta <= W`` up-dip. With ``p = y cos(dip) + d sin(dip)``, ``q = y sin(dip) - d cos(dip)``
every term is summed over the four corners (Chinnery's notation)
``f|| = f(x, p) - f(x, p - W) - f(x - L, p) + f(x - L, p - W)``.

Our :class:`FaultSegment` is placed by the surface projection ``(east, north)`` of the START of
its TOP edge; the top edge runs ``length`` metres along ``strike`` (degrees clockwise from north)
at depth ``top_depth``. ``rake`` follows Aki & Richards: 0 left-lateral, 180 (or -180)
right-lateral, 90 reverse (hanging wall up), -90 normal. Units: metres in, metres out.

Singular points: a surface-breaking segment (``top_depth == 0``) makes the field discontinuous
across its trace. A point lying on the trace (``|q| <= 1e-9 * (length + width)`` and
``0 <= x <= length``) is given the MEAN of the two one-sided limits, evaluated at
``q = +/- 1e-6 m`` off the trace. The other singular sets (``R + eta = 0`` and ``R + xi = 0``
on the extension of the fault plane) use Okada's own limits: ``ln(R + eta) -> -ln(R - eta)`` and
the ``1/(R + eta)``, ``1/(R + xi)`` terms set to zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

COS_DIP_VERTICAL = 1e-6  # |cos(dip)| below which the vertical-fault forms of I1..I5 are used
TRACE_TOLERANCE = 1e-9  # on-trace test: |q| <= TRACE_TOLERANCE * (length + width)
TRACE_OFFSET_M = 1e-6  # one-sided evaluations of on-trace points are this far off the trace


@dataclass(frozen=True)
class FaultSegment:
    """A rectangular fault patch. Angles in degrees, lengths in metres, slip in metres."""

    east: float
    north: float
    strike: float
    dip: float
    rake: float
    slip: float
    length: float
    width: float
    top_depth: float = 0.0

    @property
    def surface_breaking(self) -> bool:
        return self.top_depth <= 0.0

    @property
    def end(self) -> tuple[float, float]:
        """Surface projection (east, north) of the END of the top edge."""
        s = np.radians(self.strike)
        return self.east + self.length * np.sin(s), self.north + self.length * np.cos(s)

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}


def _corner_terms(xi, eta, q, cos_dip, sin_dip, mu_ratio):
    """Strike-slip and dip-slip integrands (fx, fy, fz) at Chinnery corners; arrays broadcast."""
    xi2q2 = xi * xi + q * q
    r = np.sqrt(xi2q2 + eta * eta)
    y_t = eta * cos_dip + q * sin_dip
    d_t = eta * sin_dip - q * cos_dip
    # R + eta and R + xi without cancellation; exact zeros are Okada's singular limits.
    r_eta = np.where(eta >= 0, r + eta, xi2q2 / np.maximum(r - eta, 1e-300))
    r_xi = np.where(xi >= 0, r + xi, (eta * eta + q * q) / np.maximum(r - xi, 1e-300))
    eta_singular = r_eta <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_r_eta = np.where(eta_singular, -np.log(np.maximum(r - eta, 1e-300)), np.log(r_eta))
        inv_r_eta = np.where(eta_singular, 0.0, 1.0 / r_eta)
        inv_rr_eta = np.where(eta_singular | (r <= 0), 0.0, inv_r_eta / r)
        inv_rr_xi = np.where((r_xi <= 0) | (r <= 0), 0.0, 1.0 / (r * r_xi))
        theta = np.where(q == 0, 0.0, np.arctan(xi * eta / (q * r)))
        r_d = r + d_t
        if abs(cos_dip) > COS_DIP_VERTICAL:
            x_big = np.sqrt(xi2q2)
            i5 = np.where(xi == 0, 0.0, mu_ratio * 2.0 / cos_dip * np.arctan(
                (eta * (x_big + q * cos_dip) + x_big * (r + x_big) * sin_dip)
                / (xi * (r + x_big) * cos_dip)))
            i4 = mu_ratio / cos_dip * (np.log(r_d) - sin_dip * ln_r_eta)
            i3 = mu_ratio * (y_t / (cos_dip * r_d) - ln_r_eta) + sin_dip / cos_dip * i4
            i1 = -mu_ratio * xi / (cos_dip * r_d) - sin_dip / cos_dip * i5
        else:
            inv_r_d = 1.0 / r_d
            i1 = -0.5 * mu_ratio * xi * q * inv_r_d * inv_r_d
            i3 = 0.5 * mu_ratio * (eta * inv_r_d + y_t * q * inv_r_d * inv_r_d - ln_r_eta)
            i4 = -mu_ratio * q * inv_r_d
            i5 = -mu_ratio * xi * sin_dip * inv_r_d
        i2 = -mu_ratio * ln_r_eta - i3
    q_rr_eta = q * inv_rr_eta
    q_rr_xi = q * inv_rr_xi
    strike_slip = (xi * q_rr_eta + theta + i1 * sin_dip,
                   y_t * q_rr_eta + q * cos_dip * inv_r_eta + i2 * sin_dip,
                   d_t * q_rr_eta + q * sin_dip * inv_r_eta + i4 * sin_dip)
    sc = sin_dip * cos_dip
    dip_slip = (q / np.where(r > 0, r, np.inf) - i3 * sc,
                y_t * q_rr_xi + cos_dip * theta - i1 * sc,
                d_t * q_rr_xi + sin_dip * theta - i5 * sc)
    return strike_slip, dip_slip


def _okada_local(x, y, seg: FaultSegment, poisson: float):
    """(ux along strike, uy left of strike, uz up) at Okada-frame surface points x, y [m]."""
    dip = np.radians(seg.dip)
    cos_dip, sin_dip = np.cos(dip), np.sin(dip)
    if abs(cos_dip) <= COS_DIP_VERTICAL:
        cos_dip = 0.0
    d = seg.top_depth + seg.width * sin_dip  # depth of the lower edge
    p = y * cos_dip + d * sin_dip
    q = y * sin_dip - d * cos_dip
    xi = np.stack([x, x, x - seg.length, x - seg.length])
    eta = np.stack([p, p - seg.width, p, p - seg.width])
    ss, ds = _corner_terms(xi, eta, q[None], cos_dip, sin_dip, 1.0 - 2.0 * poisson)
    rake = np.radians(seg.rake)
    u1, u2 = seg.slip * np.cos(rake), seg.slip * np.sin(rake)
    return tuple(-(u1 * _chinnery(fs) + u2 * _chinnery(fd)) / (2 * np.pi) for fs, fd in zip(ss, ds))


def _chinnery(f: np.ndarray) -> np.ndarray:
    """f(x, p) - f(x, p - W) - f(x - L, p) + f(x - L, p - W) from the stacked corners (no BLAS)."""
    return (f[0] - f[1]) - (f[2] - f[3])


def okada_surface(east, north, seg: FaultSegment, poisson: float = 0.25):
    """Surface displacement (ue, un, uz) [m] of ``seg`` at points (east, north) [m]; float64.

    ``east`` and ``north`` broadcast to a common shape; the result has that shape.
    """
    east, north = np.broadcast_arrays(np.asarray(east, np.float64), np.asarray(north, np.float64))
    shape = east.shape
    s = np.radians(seg.strike)
    along = np.array([np.sin(s), np.cos(s)])  # unit strike vector (east, north)
    left = np.array([-along[1], along[0]])  # Okada y axis: strike rotated +90 degrees
    de, dn = east.ravel() - seg.east, north.ravel() - seg.north
    x = de * along[0] + dn * along[1]
    y = de * left[0] + dn * left[1] + seg.width * np.cos(np.radians(seg.dip))
    ux, uy, uz = _okada_local(x, y, seg, poisson)
    if seg.surface_breaking:
        ux, uy, uz = _average_on_trace(x, y, seg, poisson, (ux, uy, uz))
    ue = ux * along[0] + uy * left[0]
    un = ux * along[1] + uy * left[1]
    return ue.reshape(shape), un.reshape(shape), uz.reshape(shape)


def _average_on_trace(x, y, seg: FaultSegment, poisson: float, u):
    """Replace values at points lying on a surface trace by the mean of both one-sided limits."""
    y_trace = seg.width * np.cos(np.radians(seg.dip))
    sin_dip = np.sin(np.radians(seg.dip))
    on = (np.abs((y - y_trace) * sin_dip) <= TRACE_TOLERANCE * (seg.length + seg.width)) \
        & (x >= 0) & (x <= seg.length)
    if not on.any():
        return u
    offset = TRACE_OFFSET_M / max(sin_dip, 1e-12)
    plus = _okada_local(x[on], np.full(on.sum(), y_trace + offset), seg, poisson)
    minus = _okada_local(x[on], np.full(on.sum(), y_trace - offset), seg, poisson)
    out = []
    for comp, a, b in zip(u, plus, minus):
        comp = comp.copy()
        comp[on] = 0.5 * (a + b)
        out.append(comp)
    return tuple(out)


def rupture_surface(east, north, segments, poisson: float = 0.25):
    """Sum of :func:`okada_surface` over ``segments``: (ue, un, uz) [m]."""
    east, north = np.broadcast_arrays(np.asarray(east, np.float64), np.asarray(north, np.float64))
    total = [np.zeros(east.shape), np.zeros(east.shape), np.zeros(east.shape)]
    for seg in segments:
        for acc, comp in zip(total, okada_surface(east, north, seg, poisson)):
            acc += comp
    return tuple(total)
