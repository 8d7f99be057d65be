"""An exponential moving average of a network's weights (Polyak averaging), kept beside training.

After every optimizer step, for each floating-point entry w of the state dict,

    w_avg <- d * w_avg + (1 - d) * w

with decay d in (0, 1): the average remembers about 1 / (1 - d) steps (d = 0.999: ~1,000 steps).
Mid-schedule, while the learning rate is still high, single snapshots scatter around the minimum the
run is descending to; their average sits nearer to it and generalizes better. Integer entries (counters)
are copied, not averaged. The average lives on the network's device and is saved with the checkpoint.
"""

from __future__ import annotations

import contextlib

import torch


class WeightAverage:
    """EMA of ``net``'s state dict with ``decay``; starts as a copy of the current weights."""

    def __init__(self, net: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        """One EMA step towards ``net``'s current weights."""
        for key, value in net.state_dict().items():
            mine = self.state[key]
            if mine.is_floating_point():
                mine.lerp_(value.detach().to(mine.dtype), 1.0 - self.decay)
            else:
                mine.copy_(value)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "weights": self.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore the weights saved by :meth:`state_dict` (tensors moved to this average's devices)."""
        for key, value in state["weights"].items():
            self.state[key].copy_(value)

    @contextlib.contextmanager
    def swapped_into(self, net: torch.nn.Module):
        """Within the block ``net`` holds the averaged weights; its own are restored afterwards."""
        own = {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(self.state)
        try:
            yield net
        finally:
            net.load_state_dict(own)
