"""Plot a model's training history: consecutive passes (each warm-started from the previous one) on one axis.

    python scripts/plot_lineage.py [--runs LABEL=DIR ...] [--out docs/figures/training_lineage.png]

Each DIR holds a pass's ``log.csv``. The default is the shipped default model's history, ``robust``'s
fine-tune of ``compact`` through ``world2``, then the JPEG passes that followed it (not shipped).
Each pass validates on its own config's samples, so a step in the curves at a boundary can be the
validation set's (new world switches), not the model's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = ("robust=checkpoints/v2-w8", "world=checkpoints/v3-w8", "v3t=checkpoints/v3t-w8",
                "v3r=checkpoints/v3r-w8", "world2 (v3m)=checkpoints/v3m-w8", "v3v=checkpoints/v3v-w8",
                "v3w=checkpoints/v3w-w8", "v3x=checkpoints/v3x-w8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), metavar="LABEL=DIR")
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures" / "training_lineage.png"))
    parser.add_argument("--categories", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args(argv)
    from microflow.training.logbook import plot_lineage

    runs = []
    for item in args.runs:
        label, sep, folder = item.partition("=")
        log = (ROOT / folder if not Path(folder).is_absolute() else Path(folder)) / "log.csv"
        if not sep or not log.is_file():
            print(f"error: {item!r}: expected LABEL=DIR with DIR/log.csv", file=sys.stderr)
            return 2
        runs.append((label, log))
    plot_lineage(runs, args.out, args.categories, args.iterations,
                 title="Validation EPE of the default model's training passes (2 CPU cores)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
