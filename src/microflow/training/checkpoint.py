"""Resumable training state: model, optimizer, scheduler, GradScaler, RNG states and step.

Written with ``torch.save`` to a temporary file and renamed (a crash never leaves half a file); read
with ``torch.load(weights_only=True)``: the state holds only tensors and plain Python values (the
NumPy RNG state is stored as lists), so no pickled code is ever executed.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from microflow.errors import InputError

CHECKPOINT_NAME = "checkpoint.pt"


def rng_state() -> dict:
    """Python, NumPy (legacy global) and torch RNG states as plain values and tensors."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [name, keys.tolist(), pos, has_gauss, cached],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Atomically write the training ``state`` dict (plus the RNG states) to ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**state, "rng": rng_state()}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a state written by :func:`save_checkpoint` (weights_only) and restore the RNG states."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint to resume from: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several unrelated types on corrupt files
        raise InputError(f"cannot read checkpoint {path}: {exc}") from None
    set_rng_state(state["rng"])
    return state
