"""Fields, features and errors for fitting and checking the sigma calibration (:mod:`microflow.uncertainty`).

A calibration key is a method and its post-regularization (``"microflow+ltv"`` is what
``microflow estimate`` runs by default). :func:`final_field` runs it on an in-memory pair as the
benchmarks do (:func:`microflow.api.estimate_arrays`, then the regularizer with its default
parameters); :func:`pixel_table` gathers, over the interior (``border`` px excluded), each finite
pixel's sigma features (:func:`microflow.uncertainty.sigma_features`) and end-point error
``||d - d_true||`` [px].
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from microflow.uncertainty import FEATURES, RESIDUAL, sigma_features

METHOD_KEYS = ("microflow+ltv", "microflow", "freqcorr", "ncc", "farneback")
DEFAULT_BORDER = 16


def split_key(key: str) -> tuple[str, str]:
    """``"microflow+ltv"`` -> ``("microflow", "ltv")``; ``"ncc"`` -> ``("ncc", "none")``."""
    method, _, reg = key.partition("+")
    return method, reg or "none"


def final_field(pre: np.ndarray, post: np.ndarray, key: str, params: dict | None = None):
    """(dx, dy, confidence) float32 of ``key`` on a pair (pre pixels; NaN = no estimate)."""
    from microflow.api import estimate_arrays
    from microflow.regularization import regularize

    method, reg = split_key(key)
    field = estimate_arrays(pre, post, method, **(params or {}))
    dx, dy, conf = field.dx, field.dy, field.confidence
    if reg != "none":
        dx, dy = regularize(dx, dy, reg)
        conf = np.where(np.isnan(dx), np.float32(np.nan), conf)
    return np.asarray(dx, np.float32), np.asarray(dy, np.float32), np.asarray(conf, np.float32)


def cached_fields(key: str, pairs: list, params: dict | None, cache: Path | None) -> tuple[list, float]:
    """``([(dx, dy, confidence)], seconds)`` of ``key`` on ``pairs`` [(pre, post)], read from / saved to
    ``cache`` (.npz). A regularized key reuses the raw method's fields from the cache next to it
    (``...{method}...`` in place of ``...{key}...``), computed first when missing: the regularizer
    then runs on them, as :func:`final_field` does."""
    if cache is not None and cache.is_file():
        data = np.load(cache)
        return [tuple(data[f"{i}|{c}"] for c in ("dx", "dy", "conf")) for i in range(len(pairs))], float(data["seconds"])
    method, reg = split_key(key)
    fields, seconds = [], 0.0
    if reg != "none" and cache is not None:
        from microflow.regularization import regularize

        raw, seconds = cached_fields(method, pairs, params, cache.with_name(cache.name.replace(key, method)))
        for n, (dx, dy, conf) in enumerate(raw):
            start = time.perf_counter()
            rx, ry = regularize(dx, dy, reg)
            seconds += time.perf_counter() - start
            fields.append((np.asarray(rx, np.float32), np.asarray(ry, np.float32),
                           np.where(np.isnan(rx), np.float32(np.nan), conf).astype(np.float32)))
            print(f"\r{key}: {n + 1}/{len(pairs)}", end="", file=sys.stderr, flush=True)
    else:
        for n, (pre, post) in enumerate(pairs):
            start = time.perf_counter()
            fields.append(final_field(pre, post, key, params))
            seconds += time.perf_counter() - start
            print(f"\r{key}: {n + 1}/{len(pairs)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, seconds=np.array(seconds),
                 **{f"{i}|{c}": v for i, f in enumerate(fields) for c, v in zip(("dx", "dy", "conf"), f)})
    return fields, seconds


def raw_fields(key: str, pairs: list, params: dict | None, cache: Path | None) -> list:
    """Per pair, the field before the regularizer ``(dx, dy)`` of a regularized ``key`` (the raw method's
    cached fields, computed when missing), or None for a key without one."""
    method, reg = split_key(key)
    if reg == "none":
        return [None] * len(pairs)
    raw_cache = None if cache is None else cache.with_name(cache.name.replace(key, method))
    fields, _ = cached_fields(method, pairs, params, raw_cache)
    return [(dx, dy) for dx, dy, _ in fields]


def key_features(key: str, residual: bool = False) -> tuple[str, ...]:
    """The features of ``key``'s sigma model; with ``residual`` a regularized key adds what its regularizer
    removed (:data:`~microflow.uncertainty.RESIDUAL`; measured, not shipped: see scripts/fit_sigma.py)."""
    return FEATURES + ((RESIDUAL,) if residual and split_key(key)[1] != "none" else ())


def interior(shape: tuple[int, int], border: int = DEFAULT_BORDER) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[border:shape[0] - border, border:shape[1] - border] = True
    return mask


def pixel_table(dx, dy, conf, true_flow, border: int = DEFAULT_BORDER, region=None,
                centre: bool = False, raw=None) -> dict[str, np.ndarray]:
    """{feature: values, "error": values} over the finite interior pixels (and ``region``).

    ``error`` = ||d - d_true|| [px]; with ``centre=True`` the field's median (per component) is
    removed first, the error of a zero-motion pair that may carry a constant offset.
    """
    features = sigma_features(dx, dy, conf, raw)
    ex, ey = np.asarray(dx, np.float64) - true_flow[0], np.asarray(dy, np.float64) - true_flow[1]
    mask = interior(dx.shape, border) & np.isfinite(ex) & np.isfinite(ey)
    if region is not None:
        mask &= region
    if centre and mask.any():
        ex, ey = ex - np.median(ex[mask]), ey - np.median(ey[mask])
    return {**{k: v[mask] for k, v in features.items()}, "error": np.hypot(ex, ey)[mask].astype(np.float32)}


def concat(tables: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
