"""Grids of a pre/post pair: exact alignment on the overlap, or post resampled onto pre's grid.

Post pixel ``(c, r)`` (column, row; pixel corners) lies at pre pixel ``M (c, r)`` with the affine map
``M = T_pre^-1 ∘ T_post`` (same CRS). The grids are *exactly aligned* when ``M`` is a translation by
whole pixels ``(k_col, k_row)`` to within ``tol`` over the whole post image::

    |M_a - 1| W + |M_b| H + |M_c - k_col| <= tol   and   |M_d| W + |M_e - 1| H + |M_f - k_row| <= tol

(``W x H`` the post size, ``tol`` = :data:`GRID_TOLERANCE` = 1e-6 px). The pair is then estimated on
the OVERLAP with no resampling: pre rows ``[max(0, k_row), min(H_pre, k_row + H_post))`` (columns
alike) and the same pixels of post, shifted by ``-(k_row, k_col)``. The product lies on pre's grid,
over the overlap: its transform is pre's translated to the overlap's corner.

Otherwise (different CRS, pixel size or axes, or a sub-pixel offset) post must be resampled:
``align="resample"`` (``"resample:KERNEL"`` picks the kernel, default cubic) reads post through a
rasterio ``WarpedVRT`` on pre's grid, and the product covers the window of pre's grid that post's
footprint (its bounds reprojected to pre's CRS) covers, NaN where post has no data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.windows import Window

from microflow.errors import InputError, ParameterError

GRID_TOLERANCE = 1e-6   # px: largest misfit of post's pixel grid on pre's that counts as aligned
ALIGN_MODES = ("exact", "resample")
RESAMPLING_KERNELS = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos")
DEFAULT_RESAMPLING = "cubic"


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS (or None), affine transform (pixel corner -> CRS), height and width [px]."""

    crs: object
    transform: Affine
    height: int
    width: int

    @classmethod
    def of(cls, dataset) -> "Grid":
        """The grid of an open rasterio dataset."""
        return cls(dataset.crs, dataset.transform, dataset.height, dataset.width)


@dataclass(frozen=True)
class Alignment:
    """How post is brought onto pre's grid: ``mode`` "exact" or "resample" with a ``resampling`` kernel."""

    mode: str = "exact"
    resampling: str = DEFAULT_RESAMPLING

    @property
    def text(self) -> str:
        """The canonical string form: ``exact`` or ``resample:KERNEL``."""
        return "exact" if self.mode == "exact" else f"resample:{self.resampling}"


def parse_align(align) -> Alignment:
    """``"exact"``, ``"resample"`` or ``"resample:KERNEL"`` (an :class:`Alignment` passes through)."""
    if isinstance(align, Alignment):
        return align
    text = str(align).strip().lower() if align is not None else "exact"
    mode, _, kernel = text.partition(":")
    if mode not in ALIGN_MODES or (mode == "exact" and kernel):
        raise ParameterError(f"align must be exact, resample or resample:KERNEL, got {align!r}")
    kernel = kernel or DEFAULT_RESAMPLING
    if kernel not in RESAMPLING_KERNELS:
        raise ParameterError(f"resampling kernel must be one of {', '.join(RESAMPLING_KERNELS)}, got {kernel!r}")
    return Alignment(mode, kernel)


def _crs_text(crs) -> str:
    if crs is None:
        return "none"
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    return f"EPSG:{epsg}" if epsg else str(crs)


def pixel_map(pre: Grid, post: Grid) -> Affine:
    """``M = T_pre^-1 ∘ T_post``: post pixel coordinates -> pre pixel coordinates."""
    return ~pre.transform @ post.transform


def grid_offset(pre: Grid, post: Grid, tol: float = GRID_TOLERANCE) -> tuple[int, int] | None:
    """``(k_row, k_col)``: pre pixel of post's pixel (0, 0) when the grids are exactly aligned, else None."""
    if pre.crs != post.crs:
        return None
    m = pixel_map(pre, post)
    k_col, k_row = round(m.c), round(m.f)
    col_misfit = abs(m.a - 1) * post.width + abs(m.b) * post.height + abs(m.c - k_col)
    row_misfit = abs(m.d) * post.width + abs(m.e - 1) * post.height + abs(m.f - k_row)
    return (int(k_row), int(k_col)) if max(col_misfit, row_misfit) <= tol else None


def grid_differences(pre: Grid, post: Grid, tol: float = GRID_TOLERANCE) -> list[str]:
    """What keeps post off pre's pixel grid, one phrase each (empty: exactly aligned)."""
    problems = []
    if pre.crs != post.crs:
        problems.append(f"CRS {_crs_text(pre.crs)} vs {_crs_text(post.crs)}")
    m = pixel_map(pre, post)
    if abs(m.a - 1) * post.width + abs(m.b) * post.height > tol or \
            abs(m.d) * post.width + abs(m.e - 1) * post.height > tol:
        size = [(math.hypot(g.transform.a, g.transform.d), math.hypot(g.transform.b, g.transform.e))
                for g in (pre, post)]
        if max(abs(size[0][0] - size[1][0]), abs(size[0][1] - size[1][1])) > 1e-12 * max(size[0]):
            problems.append("pixel size {:.10g}x{:.10g} vs {:.10g}x{:.10g}".format(*size[0], *size[1]))
        elif not problems:
            problems.append("pixel axes (rotation or orientation) differ")
    elif not problems:
        frac = (m.f - round(m.f), m.c - round(m.c))
        problems.append(f"sub-pixel origin offset of {frac[0]:+.4g} rows, {frac[1]:+.4g} columns")
    return problems if grid_offset(pre, post, tol) is None else []


def overlap_windows(pre: Grid, post: Grid, offset: tuple[int, int]) -> tuple[Window, Window]:
    """Windows of the overlap in pre's and post's pixels, given post's ``offset`` (k_row, k_col) on pre.

    Raises :class:`InputError` when the two images share no pixel.
    """
    k_row, k_col = offset
    r0, r1 = max(0, k_row), min(pre.height, k_row + post.height)
    c0, c1 = max(0, k_col), min(pre.width, k_col + post.width)
    if r0 >= r1 or c0 >= c1:
        raise InputError(f"pre and post do not overlap: post's origin is at pre row {k_row}, column {k_col} "
                         f"(pre is {pre.height}x{pre.width}, post {post.height}x{post.width} px)")
    return Window(c0, r0, c1 - c0, r1 - r0), Window(c0 - k_col, r0 - k_row, c1 - c0, r1 - r0)


def footprint_window(pre: Grid, post: Grid) -> Window:
    """Window of pre's grid covered by post's footprint (its bounds reprojected to pre's CRS, with
    densified edges; rounded outward, clipped to pre). Raises :class:`InputError` when empty."""
    from rasterio.warp import transform_bounds

    t = post.transform
    xs = [t.c, t.c + t.a * post.width + t.b * post.height, t.c + t.a * post.width, t.c + t.b * post.height]
    ys = [t.f, t.f + t.d * post.width + t.e * post.height, t.f + t.d * post.width, t.f + t.e * post.height]
    bounds = (min(xs), min(ys), max(xs), max(ys))
    if pre.crs != post.crs:
        try:
            bounds = transform_bounds(post.crs, pre.crs, *bounds, densify_pts=21)
        except Exception as exc:  # an unknown or missing CRS on one side
            raise InputError(f"cannot reproject post's extent to pre's CRS: {exc}") from None
    inverse = ~pre.transform
    corners = [inverse @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3])]
    cols, rows = [c for c, _ in corners], [r for _, r in corners]
    c0, c1 = max(0, math.floor(min(cols))), min(pre.width, math.ceil(max(cols)))
    r0, r1 = max(0, math.floor(min(rows))), min(pre.height, math.ceil(max(rows)))
    if not all(map(math.isfinite, (min(cols), max(cols), min(rows), max(rows)))) or r0 >= r1 or c0 >= c1:
        raise InputError("pre and post do not overlap: post's footprint, reprojected to pre's CRS, "
                         "misses pre's extent")
    return Window(c0, r0, c1 - c0, r1 - r0)


def resampling_scales(pre: Grid, post: Grid, window: Window) -> tuple[float, float]:
    """GDAL's warp ``XSCALE``, ``YSCALE``: destination pixels per source pixel along pre's columns and
    rows, measured once at the centre of ``window`` (``1 / |d post pixel / d pre pixel|``).

    GDAL otherwise estimates them per processing chunk from the chunk's source and destination
    windows, so a rotated or reprojected grid gets a kernel width that changes with the block read
    (values off by up to 2 % between blocks); fixed scales make every block read the whole-scene warp.
    """
    from rasterio.warp import transform

    c, r = window.col_off + window.width / 2, window.row_off + window.height / 2
    xs, ys = zip(*(pre.transform @ p for p in ((c, r), (c + 1, r), (c, r + 1))))
    if pre.crs != post.crs:
        xs, ys = transform(pre.crs, post.crs, list(xs), list(ys))
    (c0, r0), (c1, r1), (c2, r2) = (~post.transform @ p for p in zip(xs, ys))
    return 1.0 / math.hypot(c1 - c0, r1 - r0), 1.0 / math.hypot(c2 - c0, r2 - r0)


def mismatch_message(differences: list[str]) -> str:
    """The one-line error for a pair on different grids under ``align="exact"``."""
    return (f"pre and post are on different grids ({'; '.join(differences)}); rerun with --align resample "
            f"(Python: align='resample') to reproject post onto pre's grid with {DEFAULT_RESAMPLING} resampling")


def describe_exact(pre_window: Window, post_window: Window, full: bool) -> str:
    """The ALIGNMENT tag of an exact run: ``exact`` or the overlap's windows in both images."""
    if full:
        return "exact"
    return (f"exact overlap (no resampling): {pre_window.height}x{pre_window.width} px at pre row "
            f"{pre_window.row_off}, column {pre_window.col_off} = post row {post_window.row_off}, "
            f"column {post_window.col_off}")


def describe_resample(alignment: Alignment, pre: Grid, post: Grid, differences: list[str]) -> str:
    """The ALIGNMENT tag of a resampled run (kernel, from which grid, what differed)."""
    return (f"resample {alignment.resampling}: post reprojected onto pre's grid with rasterio WarpedVRT "
            f"from CRS {_crs_text(post.crs)}, transform {tuple(round(v, 10) for v in tuple(post.transform)[:6])} "
            f"({'; '.join(differences)})")
