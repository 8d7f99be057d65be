"""``microflow`` entry point: builds the parser from the sub-command modules and reports errors.

Each sub-command module defines ``register(subparsers)``, which adds its parser and sets
``func=run``. Modules keep heavy imports (torch, dask) inside ``run`` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings

from microflow import __version__
from microflow.errors import MicroflowError, MicroflowWarning

SUBCOMMANDS = ("estimate", "info", "plot", "synth", "synth_scene", "evaluate", "train",
               "profile", "batch", "bench", "convert", "correct")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microflow",
        description="Sub-pixel ground displacement from pre/post optical satellite images (MicroFlow).",
    )
    parser.add_argument("--version", action="version", version=f"microflow-geo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"microflow.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"microflow.cli.{name}":
                continue  # sub-command not part of this build
            raise
        module.register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our warnings as one ``microflow: warning:`` line on stderr; others as Python prints them."""
    if issubclass(category, MicroflowWarning):
        print(f"microflow: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


_NUMBER_LIST = re.compile(r"^-[0-9.][0-9.eE+\-]*(,[0-9.eE+\-]+)+$")


def join_negative_lists(argv: list[str]) -> list[str]:
    """``--opt -54.4,-10,...`` as ``--opt=-54.4,-10,...``: argparse would read a comma list of numbers that
    starts with a minus sign as an unknown option (a lone negative number it already reads as a value)."""
    joined: list[str] = []
    for token in argv:
        if joined and joined[-1].startswith("--") and "=" not in joined[-1] and _NUMBER_LIST.match(token):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def main(argv: list[str] | None = None) -> int:
    # Idle OpenMP threads sleep instead of spinning: 2-4x faster torch on a shared 2-core machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(join_negative_lists(sys.argv[1:] if argv is None else list(argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return int(args.func(args) or 0)
    except MicroflowError as exc:
        print(f"microflow: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("microflow: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
