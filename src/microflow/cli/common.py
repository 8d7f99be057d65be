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


def add_param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                        help="method parameter, repeatable (e.g. -p window=32 -p step=4)")


def add_method_options(parser: argparse.ArgumentParser) -> None:
    """--method, --band and --units, shared by the commands that estimate fields from raster pairs."""
    from microflow.methods import DEFAULT_METHOD, available_methods

    parser.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                        help=f"displacement method (default: {DEFAULT_METHOD})")
    parser.add_argument("--band", type=int, default=1, help="1-based band index read from both images (default 1)")
    parser.add_argument("--units", default="pixel", choices=("pixel", "meter"),
                        help="units of EW/NS (default pixel)")
