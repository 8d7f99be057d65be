"""Streaming stages over horizontal bands of rows: buffering and block-wise regularization.

Rows arrive top to bottom as ``(row_start, rows (C, n, W))``. :func:`regularized_tiles` regroups
them into chunks of ``block`` rows, regularizes each chunk in ``block`` x ``block`` tiles with
``reg.context`` px of context on every side (the halo; at least ``SIGMA_HALO`` px for sigma) and adds sigma (tiles in parallel threads, one torch thread each), yields the
tiles (multiples of the product's 256 px tiles, so each product tile is written once), and keeps
only the rows still needed as context: memory is bounded by ``block + 2 halo + window`` rows,
whatever the scene height.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

import numpy as np

from microflow.tiling.plan import Regularization, torch_threads

RowChunk = tuple[int, np.ndarray]          # (first row, rows (C, n, W))
Tile = tuple[int, int, np.ndarray]         # (row, col, field (4, n, w) [dx, dy, confidence, sigma])


class RowBuffer:
    """Consecutive scene rows [start, stop) of a (C, ., W) float32 array, appended at the bottom,
    in storage allocated once for ``capacity`` rows."""

    def __init__(self, channels: int, capacity: int, width: int) -> None:
        self.data = np.empty((channels, capacity, width), np.float32)
        self.start = self.stop = 0

    def append(self, start: int, rows: np.ndarray) -> None:
        if start != self.stop:
            raise ValueError(f"rows must arrive in order: expected row {self.stop}, got {start}")
        n = rows.shape[1]
        if self.stop + n - self.start > self.data.shape[1]:
            raise ValueError(f"row buffer full: {self.data.shape[1]} rows")
        self.data[:, self.stop - self.start:self.stop - self.start + n] = rows
        self.stop += n

    def get(self, start: int, stop: int) -> np.ndarray:
        """A view of rows [start, stop), valid until the next append or discard."""
        return self.data[:, start - self.start:stop - self.start]

    def discard_before(self, row: int) -> None:
        """Forget the rows above ``row`` (the rest moves to the top of the storage)."""
        drop = min(max(row - self.start, 0), self.stop - self.start)
        keep = self.stop - self.start - drop
        self.data[:, :keep] = self.data[:, drop:drop + keep]
        self.start += drop


def regularized_columns(data: np.ndarray, rows: tuple[int, int],
                        reg: Regularization) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(col, field (4, n, w))``: rows ``rows`` (relative to ``data`` (3, h, W)) in column tiles
    of ``reg.block`` px, regularized (and given sigma) with ``reg.context`` px of context,
    ``reg.workers`` tiles at a time on one torch thread each."""
    first, last = rows
    width = data.shape[2]
    starts = range(0, width, reg.block)

    def tile(c0: int) -> np.ndarray:
        c1 = min(c0 + reg.block, width)
        cc0, cc1 = max(0, c0 - reg.context), min(width, c1 + reg.context)
        return reg.apply(data[:, :, cc0:cc1])[:, first:last, c0 - cc0:c1 - cc0]

    if not reg.active:  # sigma only: cheap numpy, no torch threads
        yield from ((c0, tile(c0)) for c0 in starts)
        return

    with torch_threads(1), ThreadPoolExecutor(min(reg.workers, len(starts))) as pool:
        yield from zip(starts, pool.map(tile, starts))


def regularized_tiles(bands: Iterable[RowChunk], height: int, width: int, reg: Regularization,
                      band_rows: int) -> Iterator[Tile]:
    """Regroup finished rows (arriving at most ``band_rows`` at a time) into ``reg.block``-row chunks
    and yield them as regularized ``(row, col, field (4, n, w))`` tiles of ``reg.block`` px, top to
    bottom. A tile may be a view of the buffer: use it before asking for the next one."""
    buffer = RowBuffer(3, reg.block + 2 * reg.context + band_rows, width)
    done = 0
    for start, rows in bands:
        buffer.append(start, rows)
        while done < height:
            end = min(done + reg.block, height)
            if min(end + reg.context, height) > buffer.stop:
                break
            top = max(0, done - reg.context)
            data = buffer.get(top, min(end + reg.context, height))
            for col, field in regularized_columns(data, (done - top, end - top), reg):
                yield done, col, field
            done = end
            buffer.discard_before(done - reg.context)
