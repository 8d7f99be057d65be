"""The result type and calling convention shared by every displacement method.

A method is a function ``estimate(pre, post, *, progress=False, **params) -> DisplacementField``.
``pre`` and ``post`` are finite float32 2-D arrays of equal shape (no-data already filled by the
caller, see :func:`microflow.api.estimate_arrays`). It returns the internal field of
:mod:`microflow.convention`: ``dx`` (+column), ``dy`` (+row) in pre pixels, with a confidence in
[0, 1], NaN where it has no estimate. Methods convert their own sign and axis conventions here,
exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DisplacementField:
    """Dense displacement on the pre grid: dx, dy [pre pixels], confidence [0, 1]; float32 (H, W).

    ``sigma`` (optional, None when not computed): the calibrated 68 % radius of the end-point
    error [pre pixels], P(||d - d_true|| <= sigma) = 0.68, NaN where dx or dy is NaN
    (:mod:`microflow.uncertainty`).
    """

    dx: np.ndarray
    dy: np.ndarray
    confidence: np.ndarray
    #: optional per-iteration estimates of iterative methods, each (2, H, W) [dx, dy]
    iterations: list | None = field(default=None, compare=False, repr=False)
    sigma: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.dx = np.asarray(self.dx, np.float32)
        self.dy = np.asarray(self.dy, np.float32)
        self.confidence = np.asarray(self.confidence, np.float32)
        if not (self.dx.shape == self.dy.shape == self.confidence.shape) or self.dx.ndim != 2:
            raise ValueError(f"dx, dy, confidence must be equal 2-D shapes, got "
                             f"{self.dx.shape}, {self.dy.shape}, {self.confidence.shape}")
        if self.sigma is not None:
            self.sigma = np.asarray(self.sigma, np.float32)
            if self.sigma.shape != self.dx.shape:
                raise ValueError(f"sigma must have the shape {self.dx.shape} of dx, got {self.sigma.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.dx.shape

    @property
    def magnitude(self) -> np.ndarray:
        """|d| = sqrt(dx^2 + dy^2) in pre pixels."""
        return np.hypot(self.dx, self.dy)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.dx) & np.isfinite(self.dy)

    def stack(self) -> np.ndarray:
        """(2, H, W) array ``[dx, dy]``, the layout used by the model and the datasets."""
        return np.stack([self.dx, self.dy])

    def masked(self, invalid: np.ndarray) -> "DisplacementField":
        """Copy with NaN (and NaN confidence) where ``invalid`` is True."""
        bad = np.asarray(invalid, bool) | ~self.valid
        iterations = None if self.iterations is None else [np.where(bad, np.nan, f) for f in self.iterations]
        sigma = None if self.sigma is None else np.where(bad, np.nan, self.sigma)
        return DisplacementField(np.where(bad, np.nan, self.dx), np.where(bad, np.nan, self.dy),
                                 np.where(bad, np.nan, self.confidence), iterations, sigma)

    def with_sigma(self, sigma: np.ndarray | None) -> "DisplacementField":
        """Copy holding ``sigma`` [pre pixels] (NaN where dx or dy is NaN)."""
        if sigma is not None:
            sigma = np.where(self.valid, np.asarray(sigma, np.float32), np.float32(np.nan))
        return DisplacementField(self.dx, self.dy, self.confidence, self.iterations, sigma)

    @classmethod
    def zeros(cls, shape: tuple[int, int]) -> "DisplacementField":
        z = np.zeros(shape, np.float32)
        return cls(z, z.copy(), np.ones(shape, np.float32))
