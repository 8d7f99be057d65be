"""Ask torch to back its large CPU tensors with transparent huge pages (Linux).

A whole-scene run allocates and frees tensors of tens to hundreds of megabytes for every window
(a 1504² window at 16 channels is 145 MB). glibc serves each one with a fresh ``mmap``, and the
kernel then faults it in and zeroes it 4 KiB at a time: on a 4096² scene, 5.4 million page faults
and 17.5 s of system time out of 87 s of CPU. torch's CPU allocator aligns allocations of 2 MB and
more to 2 MB and ``madvise``\\ s them ``MADV_HUGEPAGE`` when ``THP_MEM_ALLOC_ENABLE`` is set, which
cuts the faults ~10x (4096² default run: 52 -> 41 s wall, same peak memory, same output).

The variable is read once, at torch's first allocation, so it is set when :mod:`microflow` is
imported (before our code imports torch), and only where it can work: Linux with transparent huge
pages in ``always`` or ``madvise`` mode. A value the user set (``0`` to opt out) is kept.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")
TORCH_VARIABLE = "THP_MEM_ALLOC_ENABLE"


def huge_pages_available(setting: Path = THP_SETTING) -> bool:
    """True on Linux when the kernel's THP mode (the bracketed word of ``setting``) is not ``never``."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        text = setting.read_text()
    except OSError:
        return False
    return "[always]" in text or "[madvise]" in text


def enable_torch_huge_pages(environ=os.environ, setting: Path = THP_SETTING) -> bool:
    """Set ``THP_MEM_ALLOC_ENABLE=1`` unless the user set it or huge pages are unavailable.

    Returns whether torch will use huge pages (if torch has not allocated yet)."""
    if TORCH_VARIABLE in environ:
        return environ[TORCH_VARIABLE] not in ("", "0")
    if not huge_pages_available(setting):
        return False
    environ[TORCH_VARIABLE] = "1"
    if environ is os.environ:
        _SET_HERE.add(TORCH_VARIABLE)
    return True


_SET_HERE: set[str] = set()   # variables this module put into os.environ


def environment_without_our_settings() -> dict[str, str]:
    """``os.environ`` as the user had it: without the variable :func:`enable_torch_huge_pages` set.

    For child processes that must not inherit the setting, e.g. a benchmark timing another version
    of this package as its users run it."""
    return {k: v for k, v in os.environ.items() if k not in _SET_HERE}
