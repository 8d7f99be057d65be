"""Ship trained weights in the package: copy a run's weights to ``src/microflow/weights/NAME.safetensors``
and write its model card (``NAME.json``, ``NAME.md``): the run's config, training record and validation
metrics, the sha256 of the shipped file, and optional notes and test-split results.

    python scripts/ship_model.py runs/compact/best.safetensors compact \
        [--notes "..."] [--test-json out/microflow_test.json] [--run-config runs/compact/config.yaml]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from microflow.model.weights import WEIGHTS_DIR, load_model, write_model_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a run's best.safetensors or final.safetensors")
    parser.add_argument("name", help="shipped model name (used as --model NAME)")
    parser.add_argument("--notes", default="", help="status notes for the card")
    parser.add_argument("--test-json", help="`microflow evaluate --json` output of this model on the test split")
    parser.add_argument("--run-config", help="the run's config.yaml: its data section (the generator's switches) "
                                             "and loss weights go into the card")
    args = parser.parse_args()

    source = load_model(args.weights)  # validates the file and reads its card
    target = WEIGHTS_DIR / f"{args.name}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.weights, target)
    info = {k: v for k, v in source.card.items() if k in ("training", "metrics")}
    if args.test_json:
        result = json.loads(Path(args.test_json).read_text())
        info["test"] = {c: {k: s.get(k) for k in ("count", "epe", "epe_near", "epe_far", "zero_epe",
                                                    "epe_iterations")}
                        for c, s in result["categories"].items()}
    if args.run_config:
        run = yaml.safe_load(Path(args.run_config).read_text())
        loss_keys = ("near_fault_weight", "trace_weight", "trace_radius")
        info["data_switches"] = {**run["data"], **{k: run["optim"][k] for k in loss_keys if k in run["optim"]}}
    if args.notes:
        info["notes"] = args.notes
    json_path, md_path = write_model_card(target, source.config,
                                          sum(v.numel() for v in source.net.state_dict().values()), info)
    print(f"shipped {target} ({json_path.name}, {md_path.name})")


if __name__ == "__main__":
    main()
