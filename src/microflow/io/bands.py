"""Which band of an image is measured: a 1-based index, ``"luma"`` for colour renderings, or ``"auto"``.

``band`` is either

* an integer ``b >= 1``: band ``b`` of both images (rasterio's and GDAL's 1-based numbering), or
* ``"luma"``: bands 1-3 read as red, green and blue and combined into the luminance

  ``Y = 0.299 R + 0.587 G + 0.114 B``      (ITU-R BT.601, the Y of JPEG's YCbCr)

  of a true-colour rendering (a JPEG or PNG quick-look, an RGB export). A JPEG stores Y at full
  resolution and the two colour differences subsampled (4:2:0) and quantized more coarsely; every
  one of R, G and B carries those colour differences (G = Y - 0.344 Cb - 0.714 Cr), so Y is the
  channel with the least compression loss, and it averages the three bands' sensor noise.

* ``"auto"`` (the default of the CLI and the file API): ``"luma"`` when both images declare bands 1-3 as
  red, green and blue (GDAL's colour interpretation: a JPEG or PNG quick-look, an RGB GeoTIFF export),
  band 1 otherwise (a single band, a multispectral stack). :func:`resolve_band` decides once per pair, on
  opening, and the product's PARAMETERS tag records the band that was read.

A pixel is no data in the luminance when it is no data in any of the three bands.
"""

from __future__ import annotations

import warnings

import numpy as np

from microflow.errors import InputError, MicroflowWarning, ParameterError

LUMA = "luma"
AUTO = "auto"
LUMA_WEIGHTS = (0.299, 0.587, 0.114)   # ITU-R BT.601 (JFIF) weights of R, G, B


def parse_band(value) -> int | str:
    """``value`` as a band: a positive int, ``"luma"`` or ``"auto"``; ParameterError otherwise. Accepts digit
    strings (the command line's text)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (LUMA, AUTO):
            return text
        if text.isdigit():
            value = int(text)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise ParameterError(f"band must be a positive 1-based index, 'luma' or 'auto', got {value!r}")


def is_rgb(colorinterp) -> bool:
    """True when bands 1-3 of an image are declared red, green, blue (rasterio ``ds.colorinterp``)."""
    from rasterio.enums import ColorInterp

    return tuple(colorinterp[:3]) == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


def resolve_band(band: int | str, colorinterps) -> int | str:
    """The band ``"auto"`` stands for, given each image's colour interpretation (one tuple per image, pre then
    post): ``"luma"`` when every image is an RGB rendering, else 1, with a warning when only one of a pair is.
    Any other ``band`` is returned as given."""
    if band != AUTO:
        return band
    rgb = [is_rgb(c) for c in colorinterps]
    if all(rgb):
        return LUMA
    if any(rgb) and len(rgb) == 2:
        which = "pre" if rgb[0] else "post"
        warnings.warn(f"{which} is an RGB rendering and the other image is not: band 1 of both is read "
                      "(pass --band to choose)", MicroflowWarning, stacklevel=3)
    return 1


def band_indexes(band: int | str) -> list[int]:
    """The 1-based bands to read for ``band``."""
    return [1, 2, 3] if band == LUMA else [int(band)]


def check_band(band: int | str, count: int, role: str, name: str) -> None:
    """InputError unless an image of ``count`` bands has what ``band`` reads."""
    need = max(band_indexes(band))
    if need > count:
        what = "'luma' needs 3 bands (red, green, blue)" if band == LUMA else f"band {band} out of range"
        raise InputError(f"{what}: {role} image {name} has {count} band(s)")


def check_not_palette(band: int | str, colorinterp, role: str, name: str) -> None:
    """InputError when a band that ``band`` reads holds palette indices (a GIF, a paletted PNG or GeoTIFF):
    index numbers are not intensities, and their differences are not texture."""
    from rasterio.enums import ColorInterp

    if any(colorinterp[i - 1] == ColorInterp.palette for i in band_indexes(band) if i <= len(colorinterp)):
        raise InputError(f"{role} image {name} stores palette indices, not intensities: expand it first "
                         "(gdal_translate -expand rgb IN OUT) and read it with --band luma")


def combine(stack: np.ndarray, band: int | str) -> np.ndarray:
    """(h, w) float32 of the (n, h, w) bands read for ``band`` (NaN = no data): the band itself, or
    the luminance (NaN where any band is NaN)."""
    stack = np.asarray(stack, np.float32)
    if band != LUMA:
        return stack[0]
    weights = np.asarray(LUMA_WEIGHTS, np.float32)[:, None, None]
    return (stack * weights).sum(axis=0, dtype=np.float32)
