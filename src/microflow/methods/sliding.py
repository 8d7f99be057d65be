"""Sliding-window machinery shared by the window correlators (``freqcorr``, ``ncc``).

A correlator estimates one displacement per square window of side ``window`` placed every ``step``
pixels, then :func:`densify` interpolates those estimates to every pixel of the pre grid.

Window grid
    Top-left corners ``0, step, 2 step, ...`` along each axis, plus one window flush with the far
    edge when the steps do not land there, so the estimate centres ``corner + (window - 1) / 2`` span
    ``[(window - 1) / 2, n - 1 - (window - 1) / 2]``: exactly the pixels whose centred window lies
    inside the image.

Dense field
    Separable linear (or cubic-spline) interpolation of the centre estimates on that rectilinear grid.
    Pixels outside the span of the centres (a half-window border) are NaN with ``edges="nan"`` (the
    default: no window fits there) or take the nearest centre's value with ``edges="nearest"``. A
    window without an estimate (NaN) makes NaN the pixels whose interpolation uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from scipy.interpolate import make_interp_spline
from scipy.ndimage import distance_transform_edt, map_coordinates, spline_filter
from tqdm.auto import tqdm

from microflow.errors import InputError, ParameterError

APODIZATIONS = ("hann", "tukey", "none")
INTERPOLATIONS = ("linear", "cubic")
EDGES = ("nan", "nearest")


# ---------------------------------------------------------------- parameter checks
def positive_int(name: str, value) -> int:
    """``value`` as an int >= 1, else ParameterError (accepts 32 and 32.0, rejects 0, -1, 2.5, True)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    if value != int(value) or int(value) <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value) -> int:
    """``value`` as an int >= 0, else ParameterError."""
    return 0 if value == 0 and not isinstance(value, str) else positive_int(name, value)


def number_in(name: str, value, low: float, high: float, *, low_open: bool = False) -> float:
    """``value`` as a float in [low, high] (or (low, high] with ``low_open``), else ParameterError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ParameterError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value:g}")
    return value


def flag(name: str, value) -> bool:
    """``value`` as a bool (True/False, 0/1), else ParameterError."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ParameterError(f"{name} must be true or false, got {value!r}")


def choice(name: str, value, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ParameterError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def check_pair(pre: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float32 2-D arrays of one shape, else InputError."""
    pre = np.asarray(pre, np.float32)
    post = np.asarray(post, np.float32)
    if pre.ndim != 2 or pre.shape != post.shape:
        raise InputError(f"pre and post must be 2-D arrays of one shape, got {pre.shape} and {post.shape}")
    return pre, post


# ---------------------------------------------------------------- window grid
@dataclass(frozen=True)
class WindowGrid:
    """Window corners (top-left, pixels) along rows and columns, and the image shape they tile."""

    window: int
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    @property
    def row_centres(self) -> np.ndarray:
        return self.rows + (self.window - 1) / 2.0

    @property
    def col_centres(self) -> np.ndarray:
        return self.cols + (self.window - 1) / 2.0

    @property
    def grid_shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    @property
    def size(self) -> int:
        return len(self.rows) * len(self.cols)

    def corners(self) -> tuple[np.ndarray, np.ndarray]:
        """Flattened (row, col) corners of all windows, row-major, each (size,)."""
        r, c = np.meshgrid(self.rows, self.cols, indexing="ij")
        return r.ravel(), c.ravel()


def _axis_corners(n: int, window: int, step: int) -> np.ndarray:
    corners = np.arange(0, n - window + 1, step)
    if corners[-1] != n - window:
        corners = np.append(corners, n - window)
    return corners


def window_grid(shape: tuple[int, int], window, step) -> WindowGrid:
    """Grid of ``window``-sized windows every ``step`` pixels covering an image of ``shape``."""
    window = positive_int("window", window)
    step = positive_int("step", step)
    h, w = shape
    if h < window or w < window:
        raise InputError(f"image smaller than the correlation window ({h}x{w} < {window}x{window})")
    return WindowGrid(window, _axis_corners(h, window, step), _axis_corners(w, window, step), (h, w))


def iter_batches(n: int, batch_size: int, *, progress: bool = False, desc: str = "") -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``batch_size``; tqdm bar on stderr if ``progress``."""
    starts = range(0, n, batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=not progress, leave=False):
        yield slice(start, min(start + batch_size, n))


# ---------------------------------------------------------------- window extraction
def extract_windows(img: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Copy of the ``size`` x ``size`` windows with top-left corners (rows[i], cols[i]): (B, size, size).

    Uses a strided view (no copy) of every window position and gathers the requested ones.
    Corners must lie inside ``[0, n - size]``.
    """
    view = np.lib.stride_tricks.sliding_window_view(img, (size, size))
    return view[np.asarray(rows), np.asarray(cols)]


def spline_coefficients(img: np.ndarray) -> np.ndarray:
    """Cubic B-spline coefficients of ``img`` (mirror boundary) for :func:`sample_windows`."""
    return spline_filter(np.asarray(img, np.float64), order=3, mode="mirror")


def sample_windows(coefficients: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """(B, size, size) float32 windows whose top-left corners sit at sub-pixel (rows[i], cols[i]).

    Pixel ``(k, l)`` of window ``i`` is the cubic-spline value at ``(rows[i] + k, cols[i] + l)``;
    ``coefficients`` come from :func:`spline_coefficients`.
    """
    k = np.arange(size, dtype=np.float64)
    r = np.asarray(rows, np.float64)[:, None, None] + k[None, :, None]
    c = np.asarray(cols, np.float64)[:, None, None] + k[None, None, :]
    r, c = np.broadcast_arrays(r, c)
    return map_coordinates(coefficients, [r, c], order=3, mode="mirror", prefilter=False,
                           output=np.float32)


def clip_corners(rows: np.ndarray, cols: np.ndarray, size: int,
                 shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Corners moved inside the image so that a ``size`` window fits."""
    return np.clip(rows, 0, shape[0] - size), np.clip(cols, 0, shape[1] - size)


# ---------------------------------------------------------------- apodization
def taper_profile(u: np.ndarray, kind: str = "hann", tukey_alpha: float = 0.5) -> np.ndarray:
    """1-D taper at normalized positions ``u`` (0 and 1 are the window edges; 0 outside [0, 1]).

    ``hann``: sin^2(pi u); ``tukey``: raised-cosine ramps over a fraction ``tukey_alpha`` of the
    window and a flat top; ``none``: 1.
    """
    choice("apodization", kind, APODIZATIONS)
    u = np.asarray(u, np.float64)
    inside = (u >= 0) & (u <= 1)
    if kind == "hann":
        value = np.sin(np.pi * u) ** 2
    elif kind == "tukey" and tukey_alpha > 0:
        edge = np.minimum(u, 1 - u) / (tukey_alpha / 2)
        value = np.where(edge < 1, 0.5 * (1 - np.cos(np.pi * np.clip(edge, 0, 1))), 1.0)
    else:
        value = np.ones_like(u)
    return np.where(inside, value, 0.0)


def apodization_window(size: int, kind: str = "hann", tukey_alpha: float = 0.5,
                       shift_rows: np.ndarray | None = None,
                       shift_cols: np.ndarray | None = None) -> np.ndarray:
    """Separable 2-D taper ``t(r) t(c)`` of a ``size`` window (float32), pixel k at u = (k + 1/2) / size.

    With per-window sub-pixel ``shift_rows``/``shift_cols`` (B,), returns (B, size, size) tapers moved
    by those amounts (sampled at ``k - shift``): tapering a post window with the taper moved by the
    displacement makes it exactly the moved copy of the tapered pre window.
    """
    k = np.arange(size, dtype=np.float64)
    if shift_rows is None:
        t = taper_profile((k + 0.5) / size, kind, tukey_alpha)
        return np.outer(t, t).astype(np.float32)
    tr = taper_profile((k[None, :] - np.asarray(shift_rows)[:, None] + 0.5) / size, kind, tukey_alpha)
    tc = taper_profile((k[None, :] - np.asarray(shift_cols)[:, None] + 0.5) / size, kind, tukey_alpha)
    return (tr[:, :, None] * tc[:, None, :]).astype(np.float32)


# ---------------------------------------------------------------- densification
def _fill_nearest(values: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(values)
    if not bad.any() or bad.all():
        return values
    idx = distance_transform_edt(bad, return_distances=False, return_indices=True)
    return values[tuple(idx)]


def _interp_axis(values: np.ndarray, centres: np.ndarray, targets: np.ndarray, axis: int,
                 order: int) -> np.ndarray:
    """Interpolate ``values`` along ``axis`` from ``centres`` to ``targets`` (inside the centre span)."""
    if len(centres) == 1:
        return np.repeat(values, len(targets), axis=axis)
    if order == 3 and len(centres) >= 4:
        return make_interp_spline(centres, values, k=3, axis=axis)(targets)
    i = np.clip(np.searchsorted(centres, targets, side="right") - 1, 0, len(centres) - 2)
    t = (targets - centres[i]) / (centres[i + 1] - centres[i])
    shape = [1, 1]
    shape[axis] = len(targets)
    t = t.reshape(shape)
    return np.take(values, i, axis=axis) * (1 - t) + np.take(values, i + 1, axis=axis) * t


def densify(values: np.ndarray, grid: WindowGrid, *, interpolation: str = "linear",
            edges: str = "nan") -> np.ndarray:
    """Window-centre estimates ``values`` (grid_shape) -> dense float32 field on the image grid.

    See the module docstring for the border rule; NaN windows spoil only the pixels whose linear
    interpolation stencil touches them (for ``cubic`` too).
    """
    choice("interpolation", interpolation, INTERPOLATIONS)
    choice("edges", edges, EDGES)
    values = np.asarray(values, np.float64).reshape(grid.grid_shape)
    order = 3 if interpolation == "cubic" else 1
    rc, cc = grid.row_centres, grid.col_centres
    h, w = grid.shape
    rt = np.clip(np.arange(h, dtype=np.float64), rc[0], rc[-1])
    ct = np.clip(np.arange(w, dtype=np.float64), cc[0], cc[-1])

    def interp2(v: np.ndarray, o: int) -> np.ndarray:
        return _interp_axis(_interp_axis(v, rc, rt, 0, o), cc, ct, 1, o)

    dense = interp2(_fill_nearest(values), order)
    spoiled = interp2((~np.isfinite(values)).astype(np.float64), 1) > 1e-9
    dense[spoiled] = np.nan
    if edges == "nan":
        outside = (np.arange(h) < rc[0]) | (np.arange(h) > rc[-1])
        dense[outside, :] = np.nan
        outside = (np.arange(w) < cc[0]) | (np.arange(w) > cc[-1])
        dense[:, outside] = np.nan
    return dense.astype(np.float32)
