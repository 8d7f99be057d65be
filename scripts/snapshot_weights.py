"""Weights of a training run as it stands, read from its checkpoint, without stopping it.

    python scripts/snapshot_weights.py RUN_DIR OUT.safetensors [--raw]

RUN_DIR/checkpoint.pt is written every ``run.ckpt_every`` steps; this copies the weights it holds
(the weight average when the run keeps one, the step's own weights with ``--raw``) into a weights file
with a card that says the step, so a running campaign can be scored (``benchmarks/shift_set.py
--candidate OUT``) while it trains.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microflow.errors import MicroflowError, run_tool
from microflow.model.microflow_net import build_microflow
from microflow.model.weights import save_weights
from microflow.training.checkpoint import CHECKPOINT_NAME, load_checkpoint
from microflow.training.trainer import architecture


def snapshot(run_dir: str | Path, out: str | Path, raw: bool = False) -> tuple[Path, int]:
    """Write the checkpoint's weights (average unless ``raw``) to ``out``; returns (path, step)."""
    state = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
    config = state["config"]
    net = build_microflow(**architecture(config["model"]))
    average = state.get("average")
    use_average = bool(average) and not raw
    net.load_state_dict(average["weights"] if use_average else state["model"])
    card = {"training": {"steps": int(state["step"]), "init": config["model"].get("init"),
                         "weights": "weight average" if use_average else "the step's own",
                         "ema_decay": average["decay"] if use_average else 0.0},
            "metrics": {"snapshot_of": str(run_dir)}}
    path = save_weights(out, net, normalization=config["data"]["normalization"], window=config["data"]["crop"],
                        card=card)
    return path, int(state["step"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--raw", action="store_true", help="the step's own weights, not the average")
    args = parser.parse_args(argv)
    def write() -> None:
        path, step = snapshot(args.run_dir, args.out, args.raw)
        print(f"wrote {path} (step {step})")

    return run_tool("snapshot_weights", write, (MicroflowError, OSError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
