"""Window predictors: the one protocol through which the tiler runs every method.

A predictor maps a batch of windows to fields::

    predict(pre (B, H, W) float32, post (B, H, W), pre_stats=(center, scale) | None,
            post_stats=...) -> (B, 3, H, W) float32 = [dx, dy, confidence]

with ``preferred_window`` (pixels) and ``normalization`` ("robust" or "minmax", the statistics the
tiler computes once for the whole scene). Inputs are finite (the tiler fills no-data with the
image's global centre). The MicroFlow estimator implements it natively; :class:`ClassicalPredictor`
wraps the whole-array classical methods. A :class:`PredictorSpec` is the picklable recipe of a
predictor: Dask workers build it once per process through :func:`cached_predictor`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from microflow.methods import check_method_params, get_method
from microflow.methods.sliding import positive_int

Stats = tuple[float, float]

CLASSICAL_WINDOW = 1024  # px, correlators: large windows, so their NaN half-window border and the
                         # overlap are a small share (a 1024² scene is one window)
CORRELATOR_OVERLAP = 2   # tiling overlap of a correlator, in correlation windows: its estimates
                         # only see one window, so a tile's interior does not depend on the tile


class WindowPredictor(Protocol):
    preferred_window: int

    def predict(self, pre: np.ndarray, post: np.ndarray, pre_stats: Stats | None = None,
                post_stats: Stats | None = None) -> np.ndarray: ...


def sees_no_data(predictor: WindowPredictor) -> bool:
    """Whether the predictor takes NaN (no data) in its windows (``takes_no_data``), filling it itself;
    otherwise the tiler fills no data with each image's global centre."""
    return bool(getattr(predictor, "takes_no_data", False))


def normalization_of(predictor: WindowPredictor) -> str:
    """The statistics the predictor normalizes with ("robust" unless it says otherwise)."""
    return getattr(predictor, "normalization", "robust")


def correlation_window(method: str, params: dict) -> int:
    """Side [px] of a classical method's own correlation window (0 for dense optical flows)."""
    if "window" in params:
        return positive_int("window", params["window"])
    default = inspect.signature(get_method(method)).parameters.get("window")
    return int(default.default) if default is not None else 0


@dataclass
class ClassicalPredictor:
    """A whole-array method (``freqcorr``, ``ncc``, ``farneback``, ``tvl1``) run window by window.

    Each window is normalized with the GLOBAL stats, ``(img - center) / scale``, before the method
    sees it, so that methods which rescale their input see the same scaling in every window.
    """

    method: str
    params: dict = field(default_factory=dict)
    preferred_window: int = CLASSICAL_WINDOW
    normalization: str = "robust"
    threads: int = 1   # a method's own threads (freqcorr's ``workers``) unless its params set them

    @property
    def preferred_overlap(self) -> int | None:
        """Tiling overlap [px]: ``CORRELATOR_OVERLAP`` correlation windows for a correlator, None (the
        plan's default, a quarter of the window) for the dense optical flows, whose pyramids see far."""
        side = correlation_window(self.method, self.params)
        return CORRELATOR_OVERLAP * side if side else None

    def predict(self, pre: np.ndarray, post: np.ndarray, pre_stats: Stats | None = None,
                post_stats: Stats | None = None) -> np.ndarray:
        estimate = get_method(self.method)
        params = dict(self.params)
        if "workers" in inspect.signature(estimate).parameters:
            params.setdefault("workers", self.threads)
        out = np.empty((len(pre), 3) + pre.shape[1:], np.float32)
        for i, (a, b) in enumerate(zip(pre, post)):
            a = _normalized(a, pre_stats)
            b = _normalized(b, post_stats)
            result = estimate(a, b, **params)
            out[i] = (result.dx, result.dy, result.confidence)
        return out


def _normalized(img: np.ndarray, stats: Stats | None) -> np.ndarray:
    if stats is None:
        return np.asarray(img, np.float32)
    center, scale = stats
    return ((img - np.float32(center)) / np.float32(scale)).astype(np.float32)


@dataclass(frozen=True)
class PredictorSpec:
    """Picklable recipe of a predictor: method name, its parameters and the compute settings.

    ``factory`` (a picklable callable, e.g. a class, called with ``params``) replaces the method
    registry: the way to run a custom window predictor through the tiler.
    """

    method: str
    params: dict = field(default_factory=dict)
    device: str = "auto"
    threads: int | None = None
    batch_size: int = 4
    factory: Callable[..., WindowPredictor] | None = None

    def build(self) -> WindowPredictor:
        if self.factory is not None:
            return self.factory(**self.params)
        # unknown methods and parameters fail here, before any window is read
        check_method_params(get_method(self.method), self.method, self.params)
        if self.method == "microflow":
            from microflow.methods.microflow import MicroFlowEstimator

            settings = {"device": self.device, "threads": self.threads, "batch_size": self.batch_size}
            return MicroFlowEstimator(**{**settings, **self.params})
        return ClassicalPredictor(self.method, dict(self.params), threads=self.threads or 1)


_PREDICTORS: dict[str, WindowPredictor] = {}
CACHED_PREDICTORS = 2  # models kept loaded per process


def cached_predictor(spec: PredictorSpec) -> WindowPredictor:
    """``spec.build()``, once per process and spec (a worker loads a model once, not per task);
    the oldest of more than ``CACHED_PREDICTORS`` specs is dropped."""
    key = repr(spec)
    if key not in _PREDICTORS:
        while len(_PREDICTORS) >= CACHED_PREDICTORS:
            _PREDICTORS.pop(next(iter(_PREDICTORS)))
        _PREDICTORS[key] = spec.build()
    return _PREDICTORS[key]
