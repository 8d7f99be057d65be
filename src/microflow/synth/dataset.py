"""torch Datasets: on-the-fly semi-synthetic pairs, and FaultDeform-format folders.

Both return the same item dict:

* ``"pre"``, ``"post"``: float32 tensors (H, W), raw radiometry (no normalization: the model does it);
* ``"flow"``: float32 tensor (2, H, W) ``[dx, dy]`` in pre pixels (+column, +row);
* ``"category"``: int (0 very small, 1 small, 2 large);
* ``"fault_mask"``: bool tensor (H, W), True on the surface trace.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from microflow.errors import ParameterError
from microflow.synth.faultdeform import SPLITS, Sample, list_samples, read_sample
from microflow.synth.generator import generate_sample, sample_rng
from microflow.synth.real_change import RealChange
from microflow.synth.ruptures import CATEGORY_PEAK_PX
from microflow.synth.textures import TextureBank
from microflow.synth.world import WorldRanges

_BANKS: dict[tuple, TextureBank] = {}  # one texture bank per (split, source) and process


def texture_bank(split: str, source: str) -> TextureBank:
    """The process-wide :class:`TextureBank` of ``(split, source)``, created on first use.

    Forked workers inherit a bank already loaded by the parent (shared copy-on-write memory).
    """
    key = (split, source)
    if key not in _BANKS:
        _BANKS[key] = TextureBank(split, source)
    return _BANKS[key]


def sample_to_item(sample: Sample) -> dict:
    mask = sample.fault_mask if sample.fault_mask is not None else np.zeros(sample.pre.shape, bool)
    return {"pre": torch.from_numpy(np.ascontiguousarray(sample.pre, np.float32)),
            "post": torch.from_numpy(np.ascontiguousarray(sample.post, np.float32)),
            "flow": torch.from_numpy(np.ascontiguousarray(sample.flow, np.float32)),
            "category": int(sample.category),
            "fault_mask": torch.from_numpy(np.ascontiguousarray(mask, bool))}


def _check_categories(categories) -> tuple[int, ...]:
    categories = tuple(int(c) for c in categories)
    if not categories or any(c not in CATEGORY_PEAK_PX for c in categories):
        raise ParameterError(f"categories must be a non-empty subset of {tuple(CATEGORY_PEAK_PX)}, got {categories}")
    return categories


class SyntheticPairs(Dataset):
    """``length`` pairs generated on the fly; item ``i`` has category ``categories[i % len]``.

    Item ``i`` is a deterministic function of ``(seed, split, i)`` (and of the epoch once
    :meth:`set_epoch` is called with a non-zero value), whatever the worker that makes it. The
    texture bank of ``split`` is loaded lazily once per process (worker), ~40 MB for Landsat.
    """

    def __init__(self, split: str = "train", size: int = 256, length: int = 20000, seed: int = 0,
                 categories=(0, 1, 2), texture: str = "landsat", real_change: RealChange | None = None,
                 world: WorldRanges | None = None):
        if split not in SPLITS:
            raise ParameterError(f"split must be one of {SPLITS}, got {split!r}")
        if length < 1 or size < 8:
            raise ParameterError(f"length must be >= 1 and size >= 8, got {length}, {size}")
        self.split, self.size, self.length, self.seed = split, int(size), int(length), int(seed)
        self.categories = _check_categories(categories)
        self.texture, self.real_change, self.world = texture, real_change, world
        self.epoch = 0
        TextureBank(split, texture)  # validate the source name now, load later

    def set_epoch(self, epoch: int) -> None:
        """Draw different pairs for another epoch (call before creating the DataLoader iterator)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> Sample:
        """The :class:`~microflow.synth.faultdeform.Sample` behind item ``index`` (numpy)."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = sample_rng(self.seed, self.split, index, self.epoch)
        category = self.categories[index % len(self.categories)]
        return generate_sample(rng, self.size, category, texture_bank(self.split, self.texture), sample_id=index,
                               real_change=self.real_change, world=self.world)

    def __getitem__(self, index: int) -> dict:
        return sample_to_item(self.sample(index))


class FaultDeformFolder(Dataset):
    """Samples of a FaultDeform-format folder (ours or the paper's), optionally randomly cropped.

    With ``crop`` set, item ``i`` is a random ``crop x crop`` window drawn from
    ``SeedSequence([seed, epoch, i])`` (deterministic per index and epoch; :meth:`set_epoch`).
    ``ns_positive_down`` reads files whose NS band is +row (see :func:`read_sample`).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", categories=(0, 1, 2), crop: int | None = None,
                 ns_positive_down: bool = False, seed: int = 0):
        self.root, self.split = root, split
        self.categories = _check_categories(categories)
        self.paths = list_samples(root, split, self.categories)
        if crop is not None and crop < 1:
            raise ParameterError(f"crop must be a positive size, got {crop}")
        self.crop, self.ns_positive_down, self.seed, self.epoch = crop, ns_positive_down, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        sample = read_sample(self.paths[index], self.ns_positive_down)
        if self.crop is not None:
            sample = self._random_crop(sample, index)
        return sample_to_item(sample)

    def _random_crop(self, sample: Sample, index: int) -> Sample:
        h, w = sample.pre.shape
        if self.crop > min(h, w):
            raise ParameterError(f"crop {self.crop} is larger than sample {self.paths[index].name} ({h}x{w})")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, index]))
        r, c = int(rng.integers(h - self.crop + 1)), int(rng.integers(w - self.crop + 1))
        win = (slice(r, r + self.crop), slice(c, c + self.crop))
        mask = sample.fault_mask[win] if sample.fault_mask is not None else None
        return Sample(sample.pre[win], sample.post[win], sample.flow[(slice(None),) + win], sample.category,
                      mask, sample.params, sample.sample_id)
