"""Training MicroFlow: configuration, augmentation, data, checkpoints, log and the training loop.

``microflow train --config configs/compact.yaml --out runs/compact`` or, from Python::

    from microflow.training import load_config, train
    summary = train(load_config("configs/compact.yaml", ["run.steps=1000"]), "runs/compact")
"""

from microflow.training.config import TrainConfig, load_config
from microflow.training.trainer import Trainer, train

__all__ = ["TrainConfig", "Trainer", "load_config", "train"]
