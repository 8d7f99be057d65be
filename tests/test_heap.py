"""microflow.tiling.heap: handing free heap pages back to the system."""

import ctypes.util
import sys

import numpy as np
import pytest

from microflow.tiling.heap import release_free_memory


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2 ** 20


@pytest.mark.skipif(not sys.platform.startswith("linux") or not ctypes.util.find_library("c"),
                    reason="glibc malloc_trim on Linux only")
def test_freed_small_arrays_leave_the_resident_set_after_release():
    # 4 MB arrays stay below glibc's mmap threshold once it has risen: they come from the heap, and
    # freeing them keeps their pages resident until the heap is trimmed
    held = [np.ones(2 ** 24, np.uint8) for _ in range(2)]     # 16 MB each: mmapped; freeing raises the threshold
    del held
    arrays = [np.ones(2 ** 20, np.float32) for _ in range(64)]  # 256 MB of touched heap memory
    keep = np.ones(16, np.float32)                              # on top: blocks trimming from the end
    before = resident_mb()
    del arrays[:-1]
    freed = before - resident_mb()                              # glibc keeps them: about 0
    release_free_memory()
    assert before - resident_mb() > freed + 150
    assert keep.sum() == 16


def test_release_is_safe_to_call_anywhere():
    assert release_free_memory() in (True, False)
