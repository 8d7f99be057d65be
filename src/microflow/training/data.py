"""Training and validation data: dataset construction, augmentation, normalization, batching.

A *raw dataset* is any indexable of sample dicts (see :mod:`microflow.training.augment`), e.g.
``microflow.synth.dataset.SyntheticPairs`` or ``FaultDeformFolder``. :class:`TrainingPairs` turns it
into normalized tensors; the augmentation of item i in epoch e is seeded by (seed, e, i), so a
resumed run draws exactly the crops and flips it would have drawn.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from microflow.model.loss import NEAR_FAULT_PX
from microflow.model.normalization import normalize_pair
from microflow.training.augment import augment, center_crop
from microflow.training.config import DataConfig


def as_numpy(item: dict) -> dict:
    """A dataset item with its tensors as NumPy arrays (datasets may return either)."""
    return {k: v.numpy() if torch.is_tensor(v) else v for k, v in item.items()}


def trace_distance(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 Euclidean distance (px) to the nearest trace pixel of ``mask``; inf without a trace."""
    if mask is None or not np.any(mask):
        return np.full(shape, np.inf, np.float32)
    return ndimage.distance_transform_edt(~np.asarray(mask, bool)).astype(np.float32)


def near_fault(mask: np.ndarray | None, shape: tuple[int, int], radius: float = NEAR_FAULT_PX) -> np.ndarray:
    """(H, W) bool: pixels within ``radius`` px (Euclidean) of a trace pixel of ``mask``."""
    return trace_distance(mask, shape) <= radius


def to_tensors(sample: dict, normalization: str) -> dict:
    """Normalized (1, H, W) pre/post, (2, H, W) flow, (H, W) valid mask, distance to the trace, category.

    Each image gets its own stats; no-data (NaN) pixels become 0 (the centre) and are invalid.
    """
    pre, post = normalize_pair(sample["pre"], sample["post"], normalization)
    flow = np.asarray(sample["flow"], np.float32)
    valid = np.isfinite(pre) & np.isfinite(post) & np.isfinite(flow).all(axis=0)
    return {"pre": torch.from_numpy(np.nan_to_num(pre, nan=0.0))[None],
            "post": torch.from_numpy(np.nan_to_num(post, nan=0.0))[None],
            "flow": torch.from_numpy(np.nan_to_num(flow, nan=0.0)),
            "valid": torch.from_numpy(valid),
            "trace_distance": torch.from_numpy(trace_distance(sample.get("fault_mask"), valid.shape)),
            "category": int(sample.get("category", -1))}


class TrainingPairs(torch.utils.data.Dataset):
    """Random crop + flips + normalization of a raw dataset, deterministic per (seed, epoch, index).

    :meth:`set_epoch` is forwarded to the raw dataset when it has one (synthetic pairs then draw new
    samples every epoch).
    """

    def __init__(self, raw, crop: int, normalization: str = "robust", seed: int = 1,
                 flip_probability: float = 0.5) -> None:
        self.raw, self.crop, self.normalization = raw, crop, normalization
        self.seed, self.flip_probability, self.epoch = seed, flip_probability, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.raw, "set_epoch"):
            self.raw.set_epoch(self.epoch)

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample = augment(as_numpy(self.raw[index]), self.crop, rng, self.flip_probability)
        return to_tensors(sample, self.normalization)


def epoch_batches(length: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled full batches of ``range(length)`` for ``epoch`` (the incomplete last one is dropped)."""
    order = np.random.default_rng([seed, epoch, 7]).permutation(length)
    count = length // batch_size
    return [order[i * batch_size:(i + 1) * batch_size].tolist() for i in range(count)]


def stack_batch(items: list[dict]) -> dict:
    """Collate tensors of :func:`to_tensors` along a new batch axis."""
    return {k: torch.stack([it[k] for it in items]) if torch.is_tensor(items[0][k])
            else torch.tensor([it[k] for it in items]) for k in items[0]}


def build_raw_dataset(data: DataConfig, split: str, categories, length: int, seed: int):
    """SyntheticPairs or FaultDeformFolder for ``split`` (imported lazily)."""
    from microflow.synth import dataset
    from microflow.synth.real_change import RealChange
    from microflow.synth.world import WorldRanges

    if data.source == "synthetic":
        change = RealChange(data.cross_band, data.real_patches) if data.cross_band or data.real_patches else None
        return dataset.SyntheticPairs(split=split, size=data.size, length=length, seed=seed,
                                      categories=tuple(categories), texture=data.texture, real_change=change,
                                      world=WorldRanges.from_dict(data.world))
    return dataset.FaultDeformFolder(data.root, split, tuple(categories), crop=None,
                                     ns_positive_down=data.ns_positive_down)


def build_validation_set(raw_by_category: dict, crop: int, per_category: int, normalization: str) -> dict:
    """{category: batch dict} of the first ``per_category`` centre-cropped samples of each raw set."""
    out = {}
    for category, raw in raw_by_category.items():
        count = min(per_category, len(raw))
        items = [to_tensors(center_crop(as_numpy(raw[i]), crop), normalization) for i in range(count)]
        out[category] = stack_batch(items)
    return out


def default_validation_set(data: DataConfig, crop: int) -> dict:
    """The fixed validation set of a config (synthetic: seed ``val_seed``; FaultDeform: its split)."""
    raws = {c: build_raw_dataset(data, "validation", (c,), data.val_per_category, data.val_seed)
            for c in data.categories}
    return build_validation_set(raws, crop, data.val_per_category, data.normalization)
