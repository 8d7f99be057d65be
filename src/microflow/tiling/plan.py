"""Settings of a whole-scene run, resolved once and shared by the single-process and Dask backends.

Defaults
    window: the predictor's ``preferred_window`` (MicroFlow: 1504; classical methods: 1024), fitted
    to the scene (:func:`~microflow.tiling.windows.fitted_window`: the smallest window, a multiple of
    16, that needs no more windows per axis, so no ragged last window is computed for nothing).
    overlap: a quarter of the window, at most the predictor's ``preferred_overlap`` (MicroFlow: 192 px;
    a correlator: twice its correlation window), and for a correlator at least its own correlation
    window, so that each window's NaN half-window border lies inside a neighbour's interior.
    regularize: "ltv" for MicroFlow, "none" for the classical methods (they have their own window
    averaging; log-TV on them is available with ``regularize="ltv"``).

Regularization tiles
    The regularizer runs on blocks of ``block`` x ``block`` pixels plus a ``halo`` of context on every
    side (cropped after). Log-TV and TV are local iterative solvers whose influence fades within a
    few tens of pixels: on a 640² field with a fault (noise 0.05 and 0.2 px, default λ 0.4 and ε 1),
    256² blocks with the default 96 px halo equalled a whole-field solve exactly (7e-7 px with 64 px,
    2.7e-3 px with 32 px).

Uncertainty
    After the regularizer, each block (halo included) gets its calibrated ``sigma``
    (:mod:`microflow.uncertainty`: features of the confidence and of the field's gradient within
    16 px), then is cropped, so sigma equals a whole-field computation. With regularization "none"
    the blocks still get a ``SIGMA_HALO`` (16 px) halo for those features. Blocks come out as
    (4, h, w) [dx, dy, confidence, sigma].
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np

from microflow.errors import ParameterError
from microflow.methods import check_image_size, check_tile_window, min_image_size
from microflow.methods.sliding import positive_int
from microflow.tiling.predictors import PredictorSpec, WindowPredictor, correlation_window
from microflow.tiling.windows import WindowGrid, default_overlap, fitted_window
from microflow.uncertainty import SIGMA_HALO, SigmaModel, sigma_model

REGULARIZERS = ("ltv", "tv", "none")
REG_HALO = 96           # px of context on each side of a regularization block
REG_BLOCK = 1024        # px, side of a regularization block (a multiple of the 256 px output tiles,
                        # so each tile of the product is written once)
MIN_BLOCK = 64          # px, smallest block (regularization, Dask)
BATCH_PIXELS = 2 ** 20  # window pixels per predictor call by default: 4 windows of 512², 1 of 768²
                        # (peak memory of MicroFlow grows with it: 768² x 4 took 2.6 GB on 8192²)
PREDICTOR_BATCH = 4     # the predictor's own batch cap (windows per forward pass)
FIT_MULTIPLE = 16       # px, a fitted default window is a multiple of this (MicroFlow's stride)
REG_SOLVER_KEYS = ("lam", "eps", "outer_iters", "inner_iters", "norm", "gap_tol")


def default_batch_size(window: int) -> int:
    """Windows per predictor call when not given: ``BATCH_PIXELS`` // window², at least 1."""
    return max(1, BATCH_PIXELS // (window * window))


def limit_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads (model and regularizer) at ``threads``; None leaves torch's default."""
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))


@contextlib.contextmanager
def torch_threads(threads: int):
    """Run the block with torch on ``threads`` intra-op threads, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_regularizer(method: str) -> str:
    """The default regularizer of ``method``: log-TV for MicroFlow, none for the classical methods."""
    return "ltv" if method == "microflow" else "none"


@dataclass(frozen=True)
class Regularization:
    """A regularizer applied block-wise with a halo; ``apply`` on a (3, h, w) [dx, dy, confidence] block
    gives (4, h, w) [dx, dy, confidence, sigma] (``sigma`` None: NaN).

    ``workers`` blocks are regularized at once, each on ONE torch thread: the solver's many small
    element-wise operations do not gain from intra-op threads and stall when the cores are shared
    (1024² log-TV, two blocks on a loaded 2-core machine: 32 s with 2 torch threads, 4.8 s with 1).
    """

    method: str = "none"
    params: dict = field(default_factory=dict)
    halo: int = REG_HALO
    block: int = REG_BLOCK
    device: str | None = None
    workers: int = 1
    sigma: SigmaModel | None = None
    min_confidence: float = 0.0

    @property
    def active(self) -> bool:
        return self.method != "none"

    @property
    def context(self) -> int:
        """Rows/columns of context needed on each side: the halo, at least ``SIGMA_HALO``."""
        return max(self.halo if self.active else 0, SIGMA_HALO)

    def apply(self, block: np.ndarray) -> np.ndarray:
        """(4, h, w) [dx, dy, confidence, sigma] of a (3, h, w) block (halo included; the caller crops):
        regularized if active, NaN stays NaN; sigma [px] from the final field."""
        dx, dy, confidence = block[0], block[1], block[2]
        raw = None
        if self.active:
            raw = (dx, dy)
            from microflow.regularization import regularize_block

            dx, dy = regularize_block(dx, dy, method=self.method, device=self.device, **self.params)
            confidence = np.where(np.isnan(dx), np.float32(np.nan), confidence)
        if self.sigma is None:
            sigma = np.full(dx.shape, np.nan, np.float32)
        else:
            sigma = np.where(np.isfinite(dx) & np.isfinite(dy), self.sigma(dx, dy, confidence, raw), np.float32(np.nan))
        out = np.stack([dx, dy, confidence, sigma]).astype(np.float32, copy=False)
        if self.min_confidence > 0:  # honest failure: no estimate where the match is too poor
            out[:, ~(confidence >= self.min_confidence)] = np.nan
        return out


def make_regularization(method: str, params: dict | None, device: str, threads: int | None,
                        sigma: SigmaModel | None = None) -> Regularization:
    """Validate the user's choice; ``params`` may hold solver keys and the tiling keys halo, block.
    ``threads`` (None: the CPU count) blocks are regularized at once; ``sigma``: the calibration."""
    if method not in REGULARIZERS:
        raise ParameterError(f"regularize must be one of {', '.join(REGULARIZERS)}, got {method!r}")
    params = dict(params or {})
    halo = int(params.pop("halo", REG_HALO))
    min_confidence = float(params.pop("min_confidence", 0.0))
    if not 0.0 <= min_confidence <= 1.0:
        raise ParameterError(f"min_confidence must be in [0, 1], got {min_confidence}")
    block = positive_int("regularization block", params.pop("block", REG_BLOCK))
    unknown = sorted(set(params) - set(REG_SOLVER_KEYS))
    if unknown:
        raise ParameterError(f"unknown regularization parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(REG_SOLVER_KEYS + ('halo', 'block', 'min_confidence'))}")
    if halo < 0 or block < MIN_BLOCK:
        raise ParameterError(f"regularization halo must be >= 0 and block >= {MIN_BLOCK}, got {halo}, {block}")
    return Regularization(method, params, halo, block, None if device == "auto" else device,
                          threads or os.cpu_count() or 1, sigma, min_confidence)


@dataclass(frozen=True)
class ScenePlan:
    """Everything a backend needs besides the images: grid, predictor recipe, regularizer, batch."""

    grid: WindowGrid
    spec: PredictorSpec
    regularization: Regularization
    batch_size: int

    @property
    def uses_torch(self) -> bool:
        """MicroFlow and the regularizers run on torch (custom predictors manage their own threads)."""
        return (self.spec.method == "microflow" and self.spec.factory is None) or self.regularization.active

    def limit_threads(self, threads: int | None) -> None:
        """Cap torch at ``threads`` if this plan runs torch (no torch import otherwise)."""
        if self.uses_torch:
            limit_threads(threads)

    def summary(self, out_path: str, seconds: float, valid_pixels: int, **extra) -> dict:
        """The result dict of a run: output, method, seconds, valid_fraction, shape, windows, ..."""
        grid = self.grid
        return {"output": out_path, "method": self.spec.method, "seconds": seconds,
                "valid_fraction": valid_pixels / (grid.height * grid.width), "shape": (grid.height, grid.width),
                "windows": grid.count, "window": max(grid.shape), "overlap": grid.overlap,
                "regularize": self.regularization.method, **extra}

    def parameters(self) -> dict:
        """The settings recorded in the product's PARAMETERS tag."""
        reg = self.regularization
        return {**self.spec.params, "tile_window": self.grid.window, "tile_overlap": self.grid.overlap,
                "regularize": reg.method, **{f"reg_{k}": v for k, v in reg.params.items()},
                **({"min_confidence": reg.min_confidence} if reg.min_confidence > 0 else {}),
                **({"reg_halo": reg.halo, "reg_block": reg.block} if reg.active else {})}


def plan_scene(shape: tuple[int, int], method: str, *, window: int | None = None,
               overlap: int | None = None, batch_size: int | None = None, regularize: str | None = None,
               reg_params: dict | None = None, device: str = "auto", threads: int | None = None,
               method_params: dict | None = None,
               predictor_factory=None) -> tuple[ScenePlan, WindowPredictor]:
    """Resolve the defaults for a scene of ``shape``; returns the plan and the built predictor.

    Refuses a scene smaller than the method can use (InputError) and a window that cannot hold the
    method (ParameterError; MicroFlow: a multiple of 16, at least 64 px), see
    :func:`microflow.methods.min_image_size`.
    ``batch_size``: windows per predictor call (default :func:`default_batch_size` of the window).
    ``predictor_factory``: see :class:`~microflow.tiling.predictors.PredictorSpec`.
    """
    method_params = dict(method_params or {})
    if predictor_factory is None:  # before any model is loaded
        check_image_size(shape, method, method_params)
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
    if threads is not None:
        threads = positive_int("threads", threads)
    spec = PredictorSpec(method, method_params, device, threads, batch_size or PREDICTOR_BATCH, predictor_factory)
    predictor = spec.build()
    fit = window is None
    smallest = min_image_size(method, method_params)[0] if predictor_factory is None else 1
    if fit:  # the predictor's, and at least what the method needs (a big correlation window)
        window = max(predictor.preferred_window, smallest)
    window = positive_int("window", window)
    if overlap is None:
        overlap = min(default_overlap(window), getattr(predictor, "preferred_overlap", None) or window)
        if method != "microflow" and predictor_factory is None:
            overlap = max(overlap, min(correlation_window(method, method_params), window // 2))
    if fit and 0 <= overlap < window:  # (a bad overlap is refused by the grid below)
        window = max(fitted_window(shape, window, int(overlap), FIT_MULTIPLE), smallest)
    if batch_size is None:
        batch_size = default_batch_size(window)
    grid = WindowGrid(int(shape[0]), int(shape[1]), window, int(overlap))
    if predictor_factory is None:
        check_tile_window(method, window, method_params)
    reg_method = regularize or default_regularizer(method)
    sigma = sigma_model(method, reg_method, method_params, warn=predictor_factory is None)
    reg = make_regularization(reg_method, reg_params, device, threads, sigma)
    return ScenePlan(grid, spec, reg, batch_size), predictor
