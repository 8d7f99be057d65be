"""Average the parameters of several weights files of one architecture (a "weight soup"), card kept.

    python scripts/average_weights.py OUT.safetensors A.safetensors B.safetensors [...] [--weights 0.5 0.5]

Fine-tunes that start from one network stay in one basin of the loss, so the average of their parameters,
theta = sum_i w_i theta_i with sum_i w_i = 1, is itself a network (Wortsman et al. 2022, "model soups") and
often better than each: the fine-tunes' errors are partly independent. Judge a soup like any candidate
(validation split first, never the test split). Cost is that of one network.

Every input must have the same embedded config (architecture, normalization, window); buffers that are
integers (counters) are taken from the first input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from microflow.errors import MicroflowError, run_tool
from microflow.model.weights import build_from_config, load_model, save_weights


def average_weights(sources: list[str | Path], out: str | Path, weights: list[float] | None = None) -> Path:
    """Write the ``weights``-weighted mean of ``sources``' parameters to ``out`` (equal weights by default)."""
    if len(sources) < 2:
        raise MicroflowError("average at least two weights files")
    weights = [1.0 / len(sources)] * len(sources) if weights is None else [float(w) for w in weights]
    if len(weights) != len(sources):
        raise MicroflowError(f"{len(weights)} weights for {len(sources)} files")
    if any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
        raise MicroflowError(f"weights must be non-negative and sum to 1, got {weights}")
    loaded = [load_model(source) for source in sources]
    first = loaded[0]
    for other in loaded[1:]:
        if other.config != first.config:
            raise MicroflowError(f"{other.path} has another config than {first.path}: "
                                 f"{other.config} vs {first.config}")
    states = [m.net.state_dict() for m in loaded]
    mean = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            mean[key] = sum(w * s[key].to(torch.float64) for w, s in zip(weights, states)).to(value.dtype)
        else:
            mean[key] = value
    net = build_from_config(first.config)
    net.load_state_dict(mean)
    parts = [f"{w:.3g} x {m.path.name} ({m.sha256[:12]})" for w, m in zip(weights, loaded)]
    card = {"training": {"weight_average": " + ".join(parts)}}
    for m in loaded:
        card["training"][f"source {m.path.parent.name}/{m.path.name}"] = m.card.get("training", {}).get("steps", "?")
    return save_weights(out, net, normalization=first.normalization, window=first.window, card=card)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("sources", nargs="+")
    parser.add_argument("--weights", nargs="+", type=float, default=None, help="one per source, summing to 1")
    args = parser.parse_args(argv)
    return run_tool("average_weights", lambda: print(f"wrote {average_weights(args.sources, args.out, args.weights)}"))


if __name__ == "__main__":
    sys.exit(main())
