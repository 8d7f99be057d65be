"""Give freed heap memory back to the operating system between stages of a whole-scene run.

glibc's malloc serves allocations below its (dynamic, up to 32 MB) mmap threshold from heaps, one
arena per thread that allocates. A scene run frees tens of megabytes of window tensors, band reads
and regularization tiles per window-row, in several threads; the freed chunks stay in the arenas,
fragmented, and the resident set creeps up from row to row (8192² with log-TV: 1.2 GB after the
first rows, 2.3 GB at the end). ``malloc_trim(0)`` returns every whole free page of every arena to
the system (madvise), which keeps the resident set at what the current rows really use. It costs
a few milliseconds per call. Elsewhere than glibc (macOS, musl, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        trim = getattr(ctypes.CDLL(name), "malloc_trim")
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return free heap pages to the OS (glibc ``malloc_trim(0)``); True if anything could be released."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
