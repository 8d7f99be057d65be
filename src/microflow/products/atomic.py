"""Atomic outputs: write to a temporary file beside the destination, rename it into place when complete.

A failed or interrupted run never leaves a partial product, and the finished file gets the usual
``0666 & ~umask`` mode (``tempfile.mkstemp`` alone would leave it readable by its owner only).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

from microflow.errors import OutputError


def publish_file(tmp: str, path: str) -> None:
    """Give ``tmp`` the default file mode and rename it to ``path`` (atomic on one file system)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path beside ``path``; publish it on success, delete it on any error."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"output folder does not exist: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=".microflow-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        publish_file(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
