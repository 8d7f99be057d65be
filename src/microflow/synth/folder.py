"""Write a split of semi-synthetic samples to disk in FaultDeform format, in parallel and resumably.

Sample ``i`` (``i = 0 .. count - 1``) has category ``categories[i % len(categories)]`` (ids cycle
through the categories) and is drawn from ``sample_rng(seed, split, i)``, so the files do not
depend on the number of workers or on interruptions: a sample whose file exists is skipped.
Sample ``i`` equals item ``i`` of :class:`~microflow.synth.dataset.SyntheticPairs` with the same
split, size, seed, categories and texture (before the uint16 rounding of the files).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass

from microflow.synth.faultdeform import sample_path, write_sample
from microflow.synth.generator import generate_sample, sample_rng


@dataclass(frozen=True)
class SplitJob:
    """Everything that defines the samples of one split folder."""

    root: str
    split: str
    size: int
    seed: int
    categories: tuple[int, ...]
    texture: str = "landsat"
    null: bool = False

    def category(self, sample_id: int) -> int:
        return self.categories[sample_id % len(self.categories)]

    def path(self, sample_id: int):
        return sample_path(self.root, self.split, sample_id, self.category(sample_id))


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def write_one(job: SplitJob, sample_id: int) -> str:
    """Generate and write sample ``sample_id`` of ``job``; returns its path."""
    from microflow.synth.dataset import texture_bank

    sample = generate_sample(sample_rng(job.seed, job.split, sample_id), job.size, job.category(sample_id),
                             texture_bank(job.split, job.texture), sample_id=sample_id, displacement=not job.null)
    if job.null:
        sample.params["null_sample"] = True
    return os.fspath(write_sample(job.root, job.split, sample))


def _write_star(args) -> str:
    return write_one(*args)


def write_split(job: SplitJob, count: int, workers: int = 1, progress: bool = True) -> dict:
    """Write the missing samples ``0 .. count - 1`` of ``job``; returns counts written/skipped."""
    from tqdm import tqdm

    from microflow.synth.dataset import texture_bank

    pending = [i for i in range(count) if not job.path(i).exists()]
    texture_bank(job.split, job.texture).areas  # load (and download) once before forking
    bar = tqdm(total=len(pending), desc=f"synth {job.split}", unit="sample", disable=not progress)
    if workers <= 1 or len(pending) <= 1:
        _init_worker()
        for i in pending:
            write_one(job, i)
            bar.update()
    else:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            for _ in pool.imap_unordered(_write_star, [(job, i) for i in pending], chunksize=1):
                bar.update()
    bar.close()
    return {"written": len(pending), "skipped": count - len(pending), "root": job.root, "split": job.split}
