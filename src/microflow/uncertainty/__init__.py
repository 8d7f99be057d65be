"""Calibrated per-pixel uncertainty ``sigma``: the radius [px] that holds the true end-point error
with 68 % probability, P(||d_est - d_true|| <= sigma) = 0.68.

sigma is a post-hoc calibration, method by method: ``sigma = T_key(confidence, |grad d|)``
(:mod:`.table`, :mod:`.features`), with ``key`` the method and its post-regularization
(``"microflow+ltv"``, ``"freqcorr"``, ...). The tables were fitted on the VALIDATION split only
(``scripts/fit_sigma.py``) and ship as ``microflow/weights/sigma_calibration.json``; the MicroFlow
tables record the sha256 of the model they were fitted for and warn for another model. A method
regularized in a way that has no table of its own uses its raw table (an approximation: the
regularized field is smoother, so its gradient feature is smaller).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from microflow.uncertainty.features import SIGMA_HALO, field_gradient
from microflow.uncertainty.table import COVERAGE, SigmaTable, coverage_of, fit_table

CALIBRATION_FILE = Path(__file__).resolve().parent.parent / "weights" / "sigma_calibration.json"

__all__ = ["SIGMA_HALO", "COVERAGE", "SigmaModel", "SigmaTable", "calibration_key", "coverage_of",
           "field_gradient", "fit_table", "load_calibration", "sigma_model"]


@dataclass(frozen=True)
class SigmaModel:
    """Picklable sigma predictor of one method: ``model(dx, dy, confidence) -> sigma`` [px]."""

    key: str
    table: SigmaTable

    def __call__(self, dx: np.ndarray, dy: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """sigma (H, W) float32 [px of the pre grid]; NaN where dx or dy is NaN."""
        return self.table.lookup(confidence, field_gradient(dx, dy))


def calibration_key(method: str, regularize: str = "none") -> str:
    """``"microflow+ltv"`` for a regularized field, ``"freqcorr"`` for a raw one."""
    return method if regularize in (None, "none") else f"{method}+{regularize}"


@lru_cache(maxsize=4)
def load_calibration(path: str | os.PathLike = CALIBRATION_FILE) -> dict:
    """The calibration file's ``{"tables": {key: table dict}, ...}`` ({} when the file is missing)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}


def _model_sha(params: dict) -> str | None:
    try:
        from microflow.model.weights import file_sha256, resolve_model

        return file_sha256(resolve_model(params.get("model", "compact")))
    except Exception:  # an unknown model fails later, with its own error
        return None


def sigma_model(method: str, regularize: str = "none", params: dict | None = None,
                path: str | os.PathLike = CALIBRATION_FILE, warn: bool = True) -> SigmaModel | None:
    """The :class:`SigmaModel` of ``method`` (+ ``regularize``), or None (with a warning unless
    ``warn`` is False) when no table was fitted for it; MicroFlow with another model than the
    calibrated one warns."""
    tables = load_calibration(os.fspath(path)).get("tables", {})
    key = calibration_key(method, regularize)
    if key not in tables:
        key = method
    if key not in tables:
        if warn:
            warnings.warn(f"no sigma calibration for method {method!r}: the sigma band is NaN", stacklevel=2)
        return None
    table = SigmaTable.from_dict(tables[key])
    expected = table.meta.get("model_sha256")
    if method == "microflow" and expected and _model_sha(dict(params or {})) != expected:
        warnings.warn(f"sigma was calibrated for another MicroFlow model (sha256 {expected[:12]}...): "
                      "refit it with scripts/fit_sigma.py --model", stacklevel=2)
    return SigmaModel(key, table)
