"""One thread budget for a benchmark process: the BLAS/OpenMP pools and torch's intra-op pool.

Call :func:`limit_threads` first thing in ``main``, before numpy or torch do heavy work: the environment
variables only bind pools created after they are set (``setdefault``, so an explicit
``OMP_NUM_THREADS=1`` in the shell wins).
"""

from __future__ import annotations

import os

POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Default every thread pool of this process to ``threads`` and set torch's (and OpenCV's, if present)."""
    for var in POOL_VARIABLES:
        os.environ.setdefault(var, str(threads))
    import torch

    torch.set_num_threads(threads)
    try:
        import cv2
    except ImportError:
        return
    cv2.setNumThreads(threads)
