"""FaultDeform on-disk format: one loader for the paper's dataset and for ours.

Layout: ``<root>/{train,validation,test}/{id:06d}_{sf}_sample.npy.npz`` with keys

* ``int_array_1``: pre image (2-D, integer or float);
* ``int_array_2``: post image;
* ``float_array_1``: EW displacement in pixels, **+east = +column**, so ``EW = dx``;
* ``float_array_2``: NS displacement in pixels, **+north = -row**, so ``NS = -dy``.

``sf`` is the displacement category (0 very small, 1 small, 2 large). Optional companions written
by our generator: ``{id:06d}_fault_boundary.npy`` (uint8, 255 on the fault trace, 0 elsewhere, the
paper's name) and ``{id:06d}_{sf}_params.json`` (the generating parameters).

The NS sign is our reading of the reference code (its vertical flip negates NS) and is unverified
on the real FaultDeform; :func:`read_sample` takes ``ns_positive_down=True`` for files that store
``+row`` instead. Internally a :class:`Sample` always holds ``flow = [dx, dy]`` in pre pixels.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from microflow.errors import InputError

SPLITS = ("train", "validation", "test")
CATEGORIES = {0: "very small", 1: "small", 2: "large"}
_SAMPLE_RE = re.compile(r"^(\d{6})_(\d)_sample\.npy\.npz$")


@dataclass
class Sample:
    """One pair with its truth: images float32 (H, W), ``flow`` float32 (2, H, W) = [dx, dy] px."""

    pre: np.ndarray
    post: np.ndarray
    flow: np.ndarray
    category: int
    fault_mask: np.ndarray | None = None  # bool (H, W), True on the surface trace
    params: dict = field(default_factory=dict)
    sample_id: int = -1


def sample_path(root: str | os.PathLike, split: str, sample_id: int, category: int) -> Path:
    return Path(root) / split / f"{sample_id:06d}_{category}_sample.npy.npz"


def write_sample(root: str | os.PathLike, split: str, sample: Sample, pre_dtype=np.uint16) -> Path:
    """Write ``sample`` (internal convention) in FaultDeform layout; atomic per file."""
    path = sample_path(root, split, sample.sample_id, sample.category)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = np.iinfo(pre_dtype) if np.issubdtype(pre_dtype, np.integer) else None

    def to_dtype(img):
        if info is None:
            return img.astype(pre_dtype)
        return np.clip(np.rint(img), info.min, info.max).astype(pre_dtype)

    arrays = {"int_array_1": to_dtype(sample.pre), "int_array_2": to_dtype(sample.post),
              "float_array_1": sample.flow[0].astype(np.float32),
              "float_array_2": (-sample.flow[1]).astype(np.float32)}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    if sample.fault_mask is not None:
        np.save(path.parent / f"{sample.sample_id:06d}_fault_boundary.npy",
                (np.asarray(sample.fault_mask, bool) * 255).astype(np.uint8))
    if sample.params:
        params_path = path.parent / f"{sample.sample_id:06d}_{sample.category}_params.json"
        params_path.write_text(json.dumps(sample.params, indent=1, default=float))
    os.replace(tmp, path)
    return path


def read_sample(path: str | os.PathLike, ns_positive_down: bool = False) -> Sample:
    """Read one ``*_sample.npy.npz`` (and its fault mask and parameters when present)."""
    path = Path(path)
    match = _SAMPLE_RE.match(path.name)
    if not match:
        raise InputError(f"not a FaultDeform sample name: {path.name}")
    try:
        with np.load(path) as z:
            pre, post = z["int_array_1"], z["int_array_2"]
            ew, ns = z["float_array_1"], z["float_array_2"]
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"cannot read FaultDeform sample {path}: {exc}") from None
    dy = ns if ns_positive_down else -ns
    sample_id, category = int(match.group(1)), int(match.group(2))
    mask_path = path.parent / f"{sample_id:06d}_fault_boundary.npy"
    fault = np.load(mask_path) > 0 if mask_path.exists() else None
    params_path = path.parent / f"{sample_id:06d}_{category}_params.json"
    params = json.loads(params_path.read_text()) if params_path.exists() else {}
    return Sample(pre.astype(np.float32), post.astype(np.float32),
                  np.stack([ew, dy]).astype(np.float32), category, fault, params, sample_id)


def list_samples(root: str | os.PathLike, split: str, categories=(0, 1, 2)) -> list[Path]:
    """Sorted sample paths of ``split`` whose category is in ``categories``."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise InputError(f"no {split!r} split in {root} (expected folder {folder})")
    paths = []
    for p in sorted(folder.iterdir()):
        m = _SAMPLE_RE.match(p.name)
        if m and int(m.group(2)) in categories:
            paths.append(p)
    return paths


def iter_samples(root, split: str, categories=(0, 1, 2), ns_positive_down: bool = False) -> Iterator[Sample]:
    for p in list_samples(root, split, categories):
        yield read_sample(p, ns_positive_down)
