"""``microflow train --config CONFIG.yaml --out RUN_DIR [--set section.key=value ...] [--resume | --continue-from W]``."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("train", help="train a MicroFlow model",
                       description="Train MicroFlow on synthetic pairs or a FaultDeform folder. RUN_DIR receives "
                                   "config.yaml, checkpoint.pt, log.csv, loss.png, best.safetensors and "
                                   "final.safetensors (with model cards). SIGTERM or Ctrl-C saves a checkpoint.")
    p.add_argument("--config", help="YAML config (e.g. configs/compact.yaml); with --resume, defaults to "
                                    "RUN_DIR/config.yaml")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", dest="overrides",
                   help="override a config value, repeatable (e.g. --set run.steps=2000 --set optim.lr=2e-4)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    p.add_argument("--continue-from", metavar="FINAL.safetensors",
                   help="when the checkpoint is lost: go on from a run's saved final weights (and final_raw, "
                        "log.csv beside them) at the step of their card, with fresh optimizer moments")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.errors import ParameterError
    from microflow.training import load_config, train

    out = Path(args.out)
    config_path = args.config
    if config_path is None:
        if not args.resume:
            raise ParameterError("--config is required (except with --resume)")
        config_path = out / "config.yaml"
    overrides = list(args.overrides) + (["run.progress=false"] if args.quiet else [])
    config = load_config(config_path, overrides)
    if not args.resume and (out / "checkpoint.pt").exists():
        raise ParameterError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    summary = train(config, out, resume=args.resume, continue_from=args.continue_from)
    print(f"stopped at step {summary['step']} ({summary['stop_reason']}), best validation EPE "
          f"{summary['best_val_epe']:.4f} px at step {summary['best_step']}; weights in {out}", file=sys.stderr)
    return 0
