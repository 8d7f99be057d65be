"""An area of interest: the part of pre's grid a product covers.

Given as bounds ``XMIN,YMIN,XMAX,YMAX`` in pre's CRS or in ``bounds_crs`` (e.g. ``EPSG:4326``), or as
a vector file (any OGR format, read with fiona; a URL works too): its features' bounding box,
in the vector's CRS, plus a margin [pre pixels]. :func:`aoi_window` turns it into a window of pre's
grid: the bounds reprojected to pre's CRS (edges densified), rounded outward to whole pixels,
widened by the margin, clipped to pre. Bounds that miss pre's extent are refused; bounds that
stick out of it are clipped with a warning.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from rasterio.windows import Window

from microflow.errors import InputError, MicroflowWarning, ParameterError

EDGE_TOLERANCE = 1e-6   # px: bounds this close to a pixel edge are not rounded outward past it
DEFAULT_AOI_MARGIN = 32  # px of pre's grid around a vector's bounding box


@dataclass(frozen=True)
class Aoi:
    """Bounds ``(xmin, ymin, xmax, ymax)`` in ``crs`` (None: pre's CRS), widened by ``margin`` pre pixels."""

    bounds: tuple[float, float, float, float]
    crs: str | None = None
    margin: int = 0
    origin: str = "bounds"   # what the bounds came from, for the product's AOI tag

    def describe(self) -> str:
        crs = f" {self.crs}" if self.crs else ""
        margin = f" + {self.margin} px" if self.margin else ""
        return f"{self.origin}: {','.join(f'{v:.10g}' for v in self.bounds)}{crs}{margin}"


def parse_bounds(text) -> tuple[float, float, float, float]:
    """``"XMIN,YMIN,XMAX,YMAX"`` (or a 4-sequence) -> floats with xmin < xmax and ymin < ymax."""
    parts = text.replace(" ", "").split(",") if isinstance(text, str) else list(text)
    try:
        values = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        raise ParameterError(f"bounds must be XMIN,YMIN,XMAX,YMAX numbers, got {text!r}") from None
    if len(values) != 4 or not all(map(math.isfinite, values)):
        raise ParameterError(f"bounds must be four finite numbers XMIN,YMIN,XMAX,YMAX, got {text!r}")
    if values[0] >= values[2] or values[1] >= values[3]:
        raise ParameterError(f"bounds must have XMIN < XMAX and YMIN < YMAX, got {text!r}")
    return values


def vector_bounds(path: str) -> tuple[tuple[float, float, float, float], str | None]:
    """``(bounding box, CRS as text or None)`` of all features of the vector file ``path`` (its first
    layer; fiona, any format OGR reads)."""
    import fiona

    try:
        with fiona.open(path) as layer:
            box = tuple(float(v) for v in layer.bounds)
            crs = layer.crs.to_string() if layer.crs else None
            count = len(layer)
    except Exception as exc:  # fiona's DriverError, DataIOError, ...
        raise InputError(f"area-of-interest vector {path} could not be read: {' '.join(str(exc).split())}") from None
    if count == 0 or not all(map(math.isfinite, box)) or box[0] > box[2] or box[1] > box[3]:
        raise InputError(f"area-of-interest vector {path} has no geometry")
    return box, crs


def area_of_interest(bounds=None, bounds_crs: str | None = None, vector: str | None = None,
                     margin: int | None = None) -> Aoi | None:
    """The :class:`Aoi` of the ``bounds``/``bounds_crs``/``vector``/``margin`` options (None: whole pair)."""
    if bounds is not None and vector is not None:
        raise ParameterError("give either --bounds or --aoi, not both")
    if margin is not None and (margin < 0 or int(margin) != margin):
        raise ParameterError(f"AOI margin must be a whole number of pixels >= 0, got {margin!r}")
    if vector is not None:
        if bounds_crs is not None:
            raise ParameterError("--bounds-crs goes with --bounds; a vector carries its own CRS")
        box, crs = vector_bounds(str(vector))
        return Aoi(box, crs, DEFAULT_AOI_MARGIN if margin is None else int(margin), f"aoi {vector}")
    if bounds is None:
        if bounds_crs is not None:
            raise ParameterError("--bounds-crs needs --bounds")
        return None
    return Aoi(parse_bounds(bounds), bounds_crs, int(margin or 0))


def aoi_window(aoi: Aoi, crs, transform, height: int, width: int) -> Window:
    """Window of the grid (``crs``, ``transform``, ``height`` x ``width`` px) that ``aoi`` covers."""
    x0, y0, x1, y1 = aoi.bounds
    if aoi.crs is not None:
        from rasterio.crs import CRS
        from rasterio.warp import transform_bounds

        try:
            source = CRS.from_user_input(aoi.crs)
        except Exception as exc:
            raise ParameterError(f"unknown bounds CRS {aoi.crs!r}: {exc}") from None
        if crs is None:
            raise InputError("pre image has no CRS: give --bounds in its pixel grid's coordinates, without a CRS")
        if source != crs:
            try:
                x0, y0, x1, y1 = transform_bounds(source, crs, x0, y0, x1, y1, densify_pts=21)
            except Exception as exc:
                raise InputError(f"cannot reproject the bounds to pre's CRS: {exc}") from None
    inverse = ~transform
    corners = [inverse @ (x, y) for x in (x0, x1) for y in (y0, y1)]
    cols, rows = [c for c, _ in corners], [r for _, r in corners]
    if not all(map(math.isfinite, cols + rows)):
        raise InputError(f"area of interest ({aoi.describe()}) cannot be placed on pre's grid")
    c0 = math.floor(min(cols) + EDGE_TOLERANCE) - aoi.margin
    c1 = math.ceil(max(cols) - EDGE_TOLERANCE) + aoi.margin
    r0 = math.floor(min(rows) + EDGE_TOLERANCE) - aoi.margin
    r1 = math.ceil(max(rows) - EDGE_TOLERANCE) + aoi.margin
    k0, k1, j0, j1 = max(c0, 0), min(c1, width), max(r0, 0), min(r1, height)
    if k0 >= k1 or j0 >= j1:
        raise InputError(f"area of interest ({aoi.describe()}) lies outside the image: it spans columns "
                         f"{c0}..{c1}, rows {r0}..{r1} of pre's {height}x{width} px grid")
    if (k0, k1, j0, j1) != (c0, c1, r0, r1):
        warnings.warn(f"area of interest ({aoi.describe()}) extends beyond the image; clipped to it",
                      MicroflowWarning, stacklevel=2)
    return Window(k0, j0, k1 - k0, j1 - j0)
