"""Calibrated per-pixel uncertainty ``sigma``: the radius [px] that holds the true end-point error
with 68 % probability, P(||d_est - d_true|| <= sigma) = 0.68.

sigma is a post-hoc calibration, method by method: ``log sigma`` = an additive piecewise-linear
function of five per-pixel features of the final field (:mod:`.regression`, :mod:`.features`:
confidence, field gradient, the largest gradient within 5 px, the mean confidence and the mean
gradient within 15 px), each group of validation pixels covered near 68 % (:func:`fit_balanced`),
with ``key`` the method and its post-regularization (``"microflow+ltv"``, ``"freqcorr"``, ...).
The models were fitted on the VALIDATION split only (``scripts/fit_sigma.py``) and ship as
``microflow/weights/sigma_calibration.json``; the MicroFlow models record the sha256 of the network
they were fitted for and warn for another one. A method regularized in a way that has no model of
its own uses its raw model (an approximation: the regularized field is smoother).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from microflow.uncertainty.features import FEATURES, RESIDUAL, SIGMA_HALO, field_gradient, sigma_features
from microflow.uncertainty.regression import COVERAGE, SigmaRegression, coverage_of, fit_balanced, fit_regression

CALIBRATION_FILE = Path(__file__).resolve().parent.parent / "weights" / "sigma_calibration.json"

__all__ = ["FEATURES", "RESIDUAL", "SIGMA_HALO", "COVERAGE", "SigmaModel", "SigmaRegression", "calibration_key",
           "coverage_of", "field_gradient", "fit_balanced", "fit_regression", "load_calibration", "sigma_features", "sigma_model"]


@dataclass(frozen=True)
class SigmaModel:
    """Picklable sigma predictor of one method: ``model(dx, dy, confidence) -> sigma`` [px]."""

    key: str
    regression: SigmaRegression

    def __call__(self, dx: np.ndarray, dy: np.ndarray, confidence: np.ndarray,
                 raw: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """sigma (H, W) float32 [px of the pre grid]; NaN where dx or dy is NaN. ``raw``: the field before
        the regularizer (the regularized keys' residual feature; None: nothing was removed)."""
        return self.regression.predict(sigma_features(dx, dy, confidence, raw))


def calibration_key(method: str, regularize: str = "none") -> str:
    """``"microflow+ltv"`` for a regularized field, ``"freqcorr"`` for a raw one."""
    return method if regularize in (None, "none") else f"{method}+{regularize}"


@lru_cache(maxsize=4)
def load_calibration(path: str | os.PathLike = CALIBRATION_FILE) -> dict:
    """The calibration file's ``{"models": {key: regression dict}, ...}`` ({} when the file is missing)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}


def _model_sha(params: dict) -> str | None:
    try:
        from microflow.model.weights import DEFAULT_MODEL, file_sha256, resolve_model

        return file_sha256(resolve_model(params.get("model", DEFAULT_MODEL)))
    except Exception:  # an unknown model fails later, with its own error
        return None


def sigma_model(method: str, regularize: str = "none", params: dict | None = None,
                path: str | os.PathLike = CALIBRATION_FILE, warn: bool = True) -> SigmaModel | None:
    """The :class:`SigmaModel` of ``method`` (+ ``regularize``), or None (with a warning unless
    ``warn`` is False) when no model was fitted for it; MicroFlow with another model than the
    calibrated one warns."""
    models = load_calibration(os.fspath(path)).get("models", {})
    key = calibration_key(method, regularize)
    if key not in models:
        key = method
    if key not in models:
        if warn:
            warnings.warn(f"no sigma calibration for method {method!r}: the sigma band is NaN", stacklevel=2)
        return None
    regression = SigmaRegression.from_dict(models[key])
    expected = regression.meta.get("model_sha256")
    if method == "microflow" and expected and _model_sha(dict(params or {})) != expected:
        warnings.warn(f"sigma was calibrated for another MicroFlow model (sha256 {expected[:12]}...): "
                      "refit it with scripts/fit_sigma.py --model", stacklevel=2)
    return SigmaModel(key, regression)
