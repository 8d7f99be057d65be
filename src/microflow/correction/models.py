"""Correction models: which smooth artefact terms are fitted, and the coordinates they live in.

A model is a ``+``-joined list of terms (``"plane+stripes"``); each term is fitted to both
components of the internal field ``d = (dx, dy)`` [pre pixels] with separate parameters.

Polynomial terms, in normalized pixel coordinates ``x = (col - c0) / s``, ``y = (row - r0) / s``
(``(r0, c0)`` the image centre, ``s = max(H, W) / 2``, so ``x, y`` lie in [-1, 1]):

* ``constant``: ``a0`` (a robust median when fitted alone);
* ``plane``: ``a0 + a1 x + a2 y``;
* ``quadratic``: ``a0 + a1 x + a2 y + a3 x^2 + a4 x y + a5 y^2``.

Track terms, in the pixel frame rotated to the satellite track. With the track azimuth ``θ``
(degrees clockwise from north, map frame), the along-track unit vector ``e_t`` is ``A⁻¹ (sin θ,
cos θ)`` and the across-track vector ``e_u`` is ``A⁻¹ (cos θ, -sin θ)`` (azimuth ``θ + 90°``), both
normalized to unit length in pixels (``A`` the linear part of the geotransform,
:func:`microflow.convention.linear_part`). A pixel ``p = (col, row)`` has the along-track
coordinate ``t = p · e_t`` and the across-track coordinate ``u = p · e_u`` [pixels from pixel (0, 0)];
for a north-up image and ``θ = 0``, ``t = -row`` and ``u = col``.

* ``stripes`` (along-track jitter): a free profile ``s(t)``, constant along each image line (across
  the track), sampled in bins of :data:`STRIPE_BIN_PX` pixels of ``t`` and linearly interpolated;
* ``steps`` (detector boundaries): a piecewise-constant profile ``g(u)``, constant along the track,
  jumping at boundaries ``u = b_1 < b_2 < ...`` (found or given).

The parts of ``s`` and ``g`` that another term already holds are projected out, so every parameter
is identifiable: from ``s`` the polynomials of degree ``<= k`` in ``t`` (``k`` the polynomial degree),
from ``g`` its mean (a piecewise-constant profile shares only constants with the other terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microflow.convention import linear_part
from microflow.errors import ParameterError

POLY_DEGREES = {"constant": 0, "plane": 1, "quadratic": 2}
TRACK_TERMS = ("stripes", "steps")
TERMS = tuple(POLY_DEGREES) + TRACK_TERMS
STRIPE_BIN_PX = 0.5


@dataclass(frozen=True)
class ModelSpec:
    """Parsed model: polynomial degree (-1 for none) and the track terms."""

    name: str
    degree: int
    stripes: bool
    steps: bool

    @property
    def n_poly(self) -> int:
        """Number of polynomial parameters per component: 0, 1, 3 or 6."""
        return (self.degree + 1) * (self.degree + 2) // 2 if self.degree >= 0 else 0

    @property
    def needs_track(self) -> bool:
        return self.stripes or self.steps


def parse_model(text: str) -> ModelSpec:
    """``"plane+stripes"`` -> :class:`ModelSpec`; at most one polynomial term, each term once."""
    terms = [t.strip().lower() for t in str(text).split("+") if t.strip()]
    unknown = [t for t in terms if t not in TERMS]
    if not terms or unknown:
        raise ParameterError(f"unknown correction model {text!r}: combine {', '.join(TERMS)} with '+'")
    if len(set(terms)) != len(terms):
        raise ParameterError(f"correction model {text!r} repeats a term")
    poly = [t for t in terms if t in POLY_DEGREES]
    if len(poly) > 1:
        raise ParameterError(f"correction model {text!r} has more than one of constant, plane, quadratic")
    degree = POLY_DEGREES[poly[0]] if poly else -1
    ordered = poly + [t for t in TRACK_TERMS if t in terms]
    return ModelSpec("+".join(ordered), degree, "stripes" in terms, "steps" in terms)


def normalized_xy(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``x = (col - c0) / s``, ``y = (row - r0) / s`` with the centre ``(r0, c0)`` and ``s = max(H, W) / 2``."""
    h, w = shape
    s = max(h, w) / 2.0
    return (np.asarray(cols, np.float64) - (w - 1) / 2) / s, (np.asarray(rows, np.float64) - (h - 1) / 2) / s


def poly_design(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """(n, k) design matrix of the polynomial terms of total degree ``<= degree`` (``k = 0`` for -1):
    columns ``1, x, y, x², x y, y²`` in that order."""
    x, y = np.ravel(x), np.ravel(y)
    columns = [x ** (i - j) * y ** j for i in range(degree + 1) for j in range(i + 1)]
    return np.stack(columns, axis=1) if columns else np.zeros((x.size, 0))


def poly_names(degree: int) -> list[str]:
    """Names of the polynomial parameters: ``["1", "x", "y", "x^2", "x*y", "y^2"][:k]``."""
    names = []
    for i in range(degree + 1):
        for j in range(i + 1):
            xs = "" if i - j == 0 else ("x" if i - j == 1 else f"x^{i - j}")
            ys = "" if j == 0 else ("y" if j == 1 else f"y^{j}")
            names.append("*".join(n for n in (xs, ys) if n) or "1")
    return names


def track_vectors(azimuth_deg: float, transform=None) -> tuple[np.ndarray, np.ndarray]:
    """Unit pixel vectors ``(e_t, e_u)`` as ``(d_col, d_row)`` for the track azimuth (module doc)."""
    theta = np.radians(float(azimuth_deg))
    inv = np.linalg.inv(linear_part(transform))
    e_t = inv @ np.array([np.sin(theta), np.cos(theta)])
    e_u = inv @ np.array([np.cos(theta), -np.sin(theta)])
    return e_t / np.hypot(*e_t), e_u / np.hypot(*e_u)


def track_coordinates(rows: np.ndarray, cols: np.ndarray, azimuth_deg: float,
                      transform=None) -> tuple[np.ndarray, np.ndarray]:
    """Along-track ``t`` and across-track ``u`` [pixels] of pixels (module doc)."""
    e_t, e_u = track_vectors(azimuth_deg, transform)
    rows, cols = np.asarray(rows, np.float64), np.asarray(cols, np.float64)
    return cols * e_t[0] + rows * e_t[1], cols * e_u[0] + rows * e_u[1]


def project_out_poly(profile: np.ndarray, weight: np.ndarray, centres: np.ndarray, degree: int) -> np.ndarray:
    """Remove from a binned profile (``(2, n)``) its weighted least-squares polynomial of degree
    ``<= degree`` in the bin ``centres`` (nothing for ``degree < 0``)."""
    if degree < 0 or not np.any(weight > 0):
        return profile
    z = (centres - np.average(centres, weights=np.maximum(weight, 1e-300))) / max(np.ptp(centres), 1.0)
    basis = np.stack([z ** k for k in range(degree + 1)], axis=1)
    sw = np.sqrt(np.maximum(weight, 0.0))
    coef, *_ = np.linalg.lstsq(basis * sw[:, None], (profile * sw).T, rcond=None)
    return profile - (basis @ coef).T


def interpolate_profile(values: np.ndarray, coord: np.ndarray, origin: float, bin_px: float) -> np.ndarray:
    """Profile sampled at bin centres ``origin + (i + 0.5) bin_px``, linearly interpolated at ``coord``
    (constant beyond the ends); ``values`` (2, n) -> (2, len(coord))."""
    pos = (np.asarray(coord, np.float64) - origin) / bin_px - 0.5
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, values.shape[1] - 1)
    i1 = np.minimum(i0 + 1, values.shape[1] - 1)
    f = np.clip(pos - i0, 0.0, 1.0)
    return values[:, i0] * (1 - f) + values[:, i1] * f


def step_labels(u: np.ndarray, boundaries) -> np.ndarray:
    """Segment index of each across-track coordinate: 0 before the first boundary, k after the k-th."""
    return np.searchsorted(np.sort(np.asarray(boundaries, np.float64)), np.asarray(u, np.float64), side="right")
