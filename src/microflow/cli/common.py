"""Argument helpers shared by sub-commands."""

from __future__ import annotations

import argparse
import json

from microflow.errors import ParameterError


def parse_params(pairs: list[str] | None) -> dict:
    """``["window=32", "step=4"]`` -> ``{"window": 32, "step": 4}`` (values parsed as JSON when possible)."""
    params = {}
    for item in pairs or []:
        if "=" not in item:
            raise ParameterError(f"--param expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            params[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip().replace("-", "_")] = value
    return params


def _parsed_or_text(parse, text: str):
    """``parse(text)``, or ``text`` as given when it refuses, for the API to refuse with its one-line error
    (an argparse type error would print the usage as well)."""
    try:
        return parse(text)
    except ParameterError:
        return text


def nodata_arg(text: str) -> float | str | None:
    """argparse type of ``--nodata``: a number, 'none' or 'auto' (:func:`microflow.io.fill.parse_nodata`)."""
    from microflow.io.fill import parse_nodata

    return _parsed_or_text(parse_nodata, text)


def band_arg(text: str) -> int | str:
    """argparse type of ``--band``: a positive index, 'luma' or 'auto' (:func:`microflow.io.bands.parse_band`)."""
    from microflow.io.bands import parse_band

    return _parsed_or_text(parse_band, text)


def add_param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                        help="method parameter, repeatable (e.g. -p window=32 -p step=4)")


def add_method_options(parser: argparse.ArgumentParser) -> None:
    """--method, --band and --units, shared by the commands that estimate fields from raster pairs."""
    from microflow.methods import DEFAULT_METHOD, available_methods

    parser.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                        help=f"displacement method (default: {DEFAULT_METHOD})")
    parser.add_argument("--band", type=band_arg, default="auto",
                        help="1-based band index read from both images, 'luma' for a true-colour rendering "
                             "(bands 1-3 as R, G, B: 0.299 R + 0.587 G + 0.114 B, JPEG's full-resolution channel), "
                             "or 'auto': luma when both images declare bands 1-3 red, green, blue, else band 1 "
                             "(default auto)")
    parser.add_argument("--units", default="pixel", choices=("pixel", "meter"),
                        help="units of EW/NS (default pixel)")


def add_grid_options(parser: argparse.ArgumentParser) -> None:
    """--align, --resampling and --nodata: pairs on two grids and undeclared no-data."""
    grid = parser.add_argument_group("grids and no-data")
    grid.add_argument("--align", choices=("exact", "resample"), default="exact",
                      help="exact (default): estimate on the overlap of grids a whole number of pixels apart, "
                           "never resample; resample: reproject post onto pre's grid when the CRS, pixel size "
                           "or sub-pixel origin differ (recorded in the ALIGNMENT tag)")
    grid.add_argument("--resampling", metavar="KERNEL",
                      help="kernel of --align resample: nearest, bilinear, cubic (default), cubic_spline, lanczos")
    grid.add_argument("--nodata", type=nodata_arg, metavar="VALUE", default="auto",
                      help="value marking no data in both images besides their declared nodata (e.g. 0 for "
                           "the zeros outside an L1C footprint), 'none', or 'auto': 0 when neither image declares "
                           "a no-data value and over 2%% of one's pixels are exactly 0 (default auto)")


def alignment(args) -> str:
    """The ``align`` option of :func:`~microflow.api.estimate_files` from --align and --resampling."""
    if args.resampling is None:
        return args.align
    if args.align != "resample":
        raise ParameterError("--resampling needs --align resample")
    return f"resample:{args.resampling}"
