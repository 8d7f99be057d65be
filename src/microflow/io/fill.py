"""Undeclared zero fill: the ``nodata="auto"`` choice of the file API and the CLI.

Level-1 products (Sentinel-2 L1C, Landsat L1T) fill the area outside their footprint with 0 and often do not
declare it; quick-looks and renderings blacken what lies outside a mask or an outline. Read as ground, that fill
biases every correlator window and the normalization statistics that touch it, and a learned method reads its
edge as texture. Natural radiances are practically never exactly 0 over a wide area, so when neither image
declares a no-data value

    share = #{valid pixels == 0} / #{valid pixels}        (on a decimated read of the pair's region)

above ``ZERO_FILL_SHARE`` (2 %) in either image makes 0 the pair's no-data value, with a one-line
:class:`~microflow.errors.MicroflowWarning` that says so and how to keep those pixels (``--nodata none``).
A declared value, or an explicit ``nodata`` (a number, or None for none), is used as given.
"""

from __future__ import annotations

import warnings

import numpy as np

from microflow.errors import MicroflowWarning, ParameterError

AUTO = "auto"
ZERO_FILL_SHARE = 0.02       # share of a file's valid pixels at exactly 0 above which 0 is taken as fill
FILL_OVERVIEW_PIXELS = 1_000_000   # pixels of the decimated read the share is measured on


def parse_nodata(value) -> float | str | None:
    """The ``nodata`` option: ``"auto"``, None (also ``"none"``), or a finite number or NaN; ParameterError else."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"nodata must be a number, 'auto' or 'none', got {value!r}") from None
    if isinstance(value, bool) or np.isinf(number):
        raise ParameterError(f"nodata must be a finite number or nan, got {value!r}")
    return number


def zero_share(image: np.ndarray) -> float:
    """Share of the valid (finite) pixels of ``image`` that are exactly 0 (0 when none is valid)."""
    valid = np.isfinite(image)
    return float(np.count_nonzero(image[valid] == 0) / max(1, np.count_nonzero(valid)))


def resolve_nodata(nodata, images: dict, declared: bool, share: float = ZERO_FILL_SHARE) -> float | None:
    """The no-data value ``nodata`` stands for: itself, unless it is ``"auto"``; then None when an image
    ``declared`` a no-data value, else 0 when more than ``share`` of the valid pixels of any of ``images``
    (``{role: decimated image}``, NaN = no data) are exactly 0, else None."""
    if nodata != AUTO:
        return nodata
    if declared:
        return None
    shares = {role: zero_share(image) for role, image in images.items()}
    filled = [role for role, value in shares.items() if value > share]
    if not filled:
        return None
    what = ", ".join(f"{role} {100 * shares[role]:.0f}%" for role in filled)
    warnings.warn(f"pixels exactly 0 with no declared no-data value ({what}): 0 is taken as no data "
                  "(--nodata none keeps them)", MicroflowWarning, stacklevel=4)
    return 0.0
