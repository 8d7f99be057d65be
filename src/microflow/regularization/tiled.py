"""Regularize big fields tile by tile with halos: bounded memory, no seams.

Each ``tile``² tile is solved together with a ``halo``-pixel border of its neighbours (clipped at the
field's edges) and only the tile is kept. The solution of a TV-type problem at a pixel depends on far
away data only weakly, so with a halo of a few dozen pixels the tiles join without visible seams
(tested: 256² field, tile 64, halo 32, max difference to the whole-field solve < 1e-3 px).
Unlike the authors' code, NaN stays NaN (no zero filling) and tiles overlap.

A streaming (row-band) pipeline reads its own block with halo and calls :func:`regularize_block`,
then crops; :func:`tile_windows` gives the read / keep geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from microflow.errors import ParameterError
from microflow.regularization.log_tv import regularize

DEFAULT_TILE = 1024     # tile side [px]; a 1024² tile with a 64-px halo needs ~100 MB on the solver
DEFAULT_HALO = 64       # overlap read around each tile [px], cropped after solving


@dataclass(frozen=True)
class TileWindow:
    """Geometry of one tile: ``block`` (rows, cols) read from the field (tile + halo, clipped),
    ``tile`` (rows, cols) written to the field, ``crop`` (rows, cols) of the tile inside the block."""

    block: tuple[slice, slice]
    tile: tuple[slice, slice]
    crop: tuple[slice, slice]


def _spans(length: int, tile: int, halo: int) -> list[tuple[slice, slice, slice]]:
    spans = []
    for start in range(0, length, tile):
        stop = min(start + tile, length)
        lo, hi = max(start - halo, 0), min(stop + halo, length)
        spans.append((slice(lo, hi), slice(start, stop), slice(start - lo, stop - lo)))
    return spans


def tile_windows(shape: tuple[int, int], tile: int = DEFAULT_TILE,
                 halo: int = DEFAULT_HALO) -> list[TileWindow]:
    """Row-major tiles covering ``shape`` (H, W) exactly once, each with its halo block."""
    if tile < 1 or halo < 0:
        raise ParameterError(f"tile must be >= 1 and halo >= 0, got tile={tile}, halo={halo}")
    return [TileWindow((rb, cb), (rt, ct), (rc, cc))
            for rb, rt, rc in _spans(shape[0], tile, halo)
            for cb, ct, cc in _spans(shape[1], tile, halo)]


def regularize_block(dx: np.ndarray, dy: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Regularize one block that ALREADY includes its halo; the caller crops the halo off.

    Same keywords as :func:`microflow.regularization.regularize` (method, lam, eps, outer_iters,
    inner_iters, norm, gap_tol, device); float32 (dx, dy) [px] in and out, NaN kept.
    """
    return regularize(dx, dy, **kwargs)


def regularize_tiled(dx: np.ndarray, dy: np.ndarray, tile: int = DEFAULT_TILE, halo: int = DEFAULT_HALO,
                     *, progress: bool = False, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """:func:`regularize` of a big field (H, W) tile by tile with halos; float32 (dx, dy) [px] out.

    Memory is bounded by one (tile + 2 halo)² block; ``progress`` shows a tqdm bar on stderr.
    """
    dx, dy = np.asarray(dx), np.asarray(dy)
    if dx.ndim != 2 or dx.shape != dy.shape:
        raise ParameterError(f"dx and dy must be 2-D arrays of equal shape, got {dx.shape}, {dy.shape}")
    out_dx = np.empty(dx.shape, np.float32)
    out_dy = np.empty(dy.shape, np.float32)
    for window in tqdm(tile_windows(dx.shape, tile, halo), desc="regularize", unit="tile",
                       disable=not progress, leave=False):
        block_dx, block_dy = regularize_block(dx[window.block], dy[window.block], **kwargs)
        out_dx[window.tile] = block_dx[window.crop]
        out_dy[window.tile] = block_dy[window.crop]
    return out_dx, out_dy
