"""Streaming stages over horizontal bands of rows: buffering and block-wise regularization.

Rows arrive top to bottom as ``(row_start, rows (C, n, W))``. :func:`regularized_chunks` regroups
them into chunks of ``block`` rows (a multiple of the 256-row output tiles, so each chunk fills
whole tile rows of the product), regularizes each chunk in ``block`` x ``block`` tiles with a
``halo`` of context on every side, and keeps only the rows still needed as context: memory is
bounded by ``block + 2 halo + window`` rows, whatever the scene height.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from microflow.tiling.plan import Regularization

RowChunk = tuple[int, np.ndarray]


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


def regularize_tiled(data: np.ndarray, rows: tuple[int, int], reg: Regularization) -> np.ndarray:
    """Regularize rows ``rows`` (relative to ``data`` (3, h, W)) in block tiles with halo context."""
    first, last = rows
    if not reg.active:
        return data[:, first:last]
    width = data.shape[2]
    out = np.empty((3, last - first, width), np.float32)
    for c0 in range(0, width, reg.block):
        c1 = min(c0 + reg.block, width)
        cc0, cc1 = max(0, c0 - reg.halo), min(width, c1 + reg.halo)
        tile = reg.apply(data[:, :, cc0:cc1])
        out[:, :, c0:c1] = tile[:, first:last, c0 - cc0:c1 - cc0]
    return out


def regularized_chunks(bands: Iterable[RowChunk], height: int, width: int, reg: Regularization,
                       band_rows: int) -> Iterator[RowChunk]:
    """Regroup finished rows (arriving at most ``band_rows`` at a time) into ``reg.block``-row chunks,
    regularized with ``reg.halo`` rows of context. A yielded chunk may be a view of the buffer:
    use it before asking for the next one."""
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
            yield done, regularize_tiled(data, (done - top, end - top), reg)
            done = end
            buffer.discard_before(done - reg.context)
