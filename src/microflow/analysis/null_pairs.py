"""Null benchmark: zero-motion cross-band pairs, scored by their deviation from a constant field.

A pair of two spectral bands of one date and one ground window has no motion, but its radiometry
differs the way two dates do (vegetation, soil, water and shadows change contrast unevenly). A
method that prints texture into the field reads a non-constant field there.

Pairs (:func:`null_pairs`): ``source="landsat"``: windows of the Landsat-8 **test** area
(:mod:`microflow.synth.textures`, never train or validation), pre from band i and post from band j
for every combination of B2, B3, B4 (B2/B3, B3/B4, B2/B4), no rotation or flip; window ``k`` of
combination ``c`` is drawn by ``numpy.random.default_rng((seed, c, k))``. ``source="skimage"``
(no co-registered bands; tests): one scikit-image test-area crop seen through two different
radiometric transforms (:func:`radiometric_pair`).

Score (:func:`null_deviation`): ``D = mean_p ||d(p) - median(d)||`` [px] over the finite pixels
``p`` of the interior (``border`` px from each edge excluded), the median taken per component: a
real pair may carry a constant misregistration, which is not the method's fault.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from microflow.errors import ParameterError

DEFAULT_SEED = 11
DEFAULT_BORDER = 16
SOURCES = ("landsat", "skimage")
REGULARIZER_NAMES = {"none": "none", "ltv": "log-TV", "tv": "TV"}
DEFINITION = ("Mean deviation D = mean over the finite interior pixels p of ||d(p) - median(d)|| in px "
              "(median per component, {border} px border excluded), averaged over the pairs; a zero-motion "
              "pair may carry a constant misregistration, so the field's median is removed. Pairs: {pairs}; "
              "s/pair = median seconds of the estimate (plus the regularization) per pair.")


def band_combinations(bands: Sequence[str]) -> list[tuple[int, int]]:
    """``[(0, 1), (1, 2), (0, 2)]`` for three bands: neighbours first, then the wider gaps."""
    n = len(bands)
    return [(i, i + gap) for gap in range(1, n) for i in range(n - gap)]


def combination(name: str) -> str:
    """The band combination of a pair name: ``"B2/B3#1"`` -> ``"B2/B3"``."""
    return name.split("#")[0]


def radiometric_pair(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two zero-motion renderings of one picture with different radiometry (float32, DN-like).

    With ``t = (x - min x) / (max x - min x)`` in [0, 1]:
    ``pre = 1000 + 3000 t^0.8 + n1`` and ``post = (800 + 2500 t^1.4) (1 + 0.15 s) + n2``, with
    ``s`` in [-1, 1] a smooth illumination field (one random-phase sine period per axis) and
    ``n1``, ``n2`` Gaussian noise of 5 DN: a nonlinear, spatially varying change, no geometry.
    """
    x = np.asarray(image, np.float64)
    t = (x - x.min()) / max(float(x.max() - x.min()), 1e-12)
    h, w = t.shape
    phase = rng.uniform(0, 2 * np.pi, 2)
    rows, cols = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    shade = np.sin(2 * np.pi * rows + phase[0]) * np.cos(2 * np.pi * cols + phase[1])
    pre = 1000 + 3000 * t ** 0.8 + rng.normal(0, 5, t.shape)
    post = (800 + 2500 * t ** 1.4) * (1 + 0.15 * shade) + rng.normal(0, 5, t.shape)
    return pre.astype(np.float32), post.astype(np.float32)


def null_pairs(count_per_combination: int = 2, size: int = 512, seed: int = DEFAULT_SEED,
               source: str = "landsat", cache_dir_path=None,
               split: str = "test") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Zero-motion pairs ``[(name, pre, post)]`` (float32 ``(size, size)``), deterministic for ``seed``.

    Landsat: ``count_per_combination`` windows per band combination, named ``"B2/B3#0"`` ...
    (pre = first band, post = second); skimage: ``count_per_combination`` pairs named
    ``"skimage#0"`` ... . ``size`` [px] must fit in the ``split`` area (no mirror tiling). The
    benchmarks use the test area (the default); fits, such as sigma's, use ``split="validation"``.
    """
    from microflow.synth.textures import LANDSAT_BANDS, TextureBank

    if source not in SOURCES:
        raise ParameterError(f"null-pair source must be one of {SOURCES}, got {source!r}")
    if int(count_per_combination) < 1 or int(size) < 1:
        raise ParameterError(f"count_per_combination and size must be >= 1, got {count_per_combination}, {size}")
    bank = TextureBank(split, source, augment=False, cache_dir_path=cache_dir_path)
    side = min(min(a.data.shape) for a in bank.areas)
    if size > side:
        raise ParameterError(f"null-pair size {size} px exceeds the {side} px {source} {split} area")
    pairs = []
    if source == "skimage":
        for k in range(count_per_combination):
            rng = np.random.default_rng((seed, 0, k))
            pre, post = radiometric_pair(bank.sample(rng, size, size), rng)
            pairs.append((f"skimage#{k}", pre, post))
        return pairs
    for c, (i, j) in enumerate(band_combinations(LANDSAT_BANDS)):
        for k in range(count_per_combination):
            pre, post = bank.sample_bands(np.random.default_rng((seed, c, k)), size, size, (i, j))
            pairs.append((f"{LANDSAT_BANDS[i]}/{LANDSAT_BANDS[j]}#{k}", pre, post))
    return pairs


def null_deviation(dx: np.ndarray, dy: np.ndarray, border: int = 0) -> float:
    """``mean_p ||d(p) - median(d)||`` [px] over pixels with both components finite.

    ``median(d)`` is taken per component over the same pixels; ``border`` px are cut from every
    edge first. NaN when no pixel is finite.
    """
    dx, dy = np.asarray(dx, np.float64), np.asarray(dy, np.float64)
    if dx.ndim != 2 or dx.shape != dy.shape:
        raise ParameterError(f"dx and dy must be 2-D arrays of one shape, got {dx.shape} and {dy.shape}")
    if border < 0 or 2 * border >= min(dx.shape):
        raise ParameterError(f"border {border} px leaves nothing of a {dx.shape[0]}x{dx.shape[1]} field")
    if border:
        dx, dy = dx[border:-border, border:-border], dy[border:-border, border:-border]
    ok = np.isfinite(dx) & np.isfinite(dy)
    if not ok.any():
        return float("nan")
    ex, ey = dx[ok] - np.median(dx[ok]), dy[ok] - np.median(dy[ok])
    return float(np.mean(np.hypot(ex, ey)))


def _method_specs(methods) -> list[tuple[str, str, dict]]:
    """``methods`` items (a method name, or ``(label, method, params)``) as triples."""
    specs = []
    for item in methods:
        label, method, params = (item, item, {}) if isinstance(item, str) else item
        specs.append((str(label), str(method), dict(params or {})))
    labels = [s[0] for s in specs]
    if len(set(labels)) != len(labels):
        raise ParameterError(f"method labels must be unique, got {labels}")
    return specs


def score_null_pairs(methods, pairs, regularizers: Sequence[str] = ("none", "ltv"), border: int = DEFAULT_BORDER,
                     progress: bool = False) -> dict[str, dict[str, dict]]:
    """Null deviation of every method and regularizer on ``pairs`` (from :func:`null_pairs`).

    ``methods``: names, or ``(label, method, params)`` with ``params`` passed to
    :func:`microflow.api.estimate_arrays` (e.g. ``("microflow[v2]", "microflow", {"model": "v2"})``).
    Regularizer ``"none"`` is the raw field, others go through
    :func:`microflow.regularization.regularize` with their defaults.

    Returns ``{label: {regularizer: {"method", "mean", "median", "per_pair": {name: D},
    "per_combination": {combination: mean D}, "seconds_per_pair"}}}`` with D in px and
    seconds the median over pairs of the estimate plus that regularization.
    """
    from tqdm import tqdm

    from microflow.api import estimate_arrays

    known = tuple(REGULARIZER_NAMES)
    if not regularizers or any(r not in known for r in regularizers):
        raise ParameterError(f"regularizers must be among {known}, got {tuple(regularizers)}")
    if not pairs:
        raise ParameterError("no null pairs to score")
    specs = _method_specs(methods)
    if any(r != "none" for r in regularizers):
        from microflow.regularization import regularize  # torch: only when a regularizer needs it

        for reg in set(regularizers) - {"none"}:  # first-call costs (torch start-up) out of the timings
            regularize(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32), reg)
    scores: dict[str, dict[str, dict]] = {}
    bar = tqdm(total=len(specs) * len(pairs), desc="null pairs", unit="pair", disable=not progress)
    for label, method, params in specs:
        deviations = {r: {} for r in regularizers}
        seconds = {r: [] for r in regularizers}
        for name, pre, post in pairs:
            bar.set_postfix_str(f"{label} {name}")
            start = time.perf_counter()
            field = estimate_arrays(pre, post, method, **params)
            estimated = time.perf_counter() - start
            for reg in regularizers:
                start = time.perf_counter()
                dx, dy = (field.dx, field.dy) if reg == "none" else regularize(field.dx, field.dy, reg)
                seconds[reg].append(estimated + time.perf_counter() - start)
                deviations[reg][name] = null_deviation(dx, dy, border)
            bar.update()
        scores[label] = {reg: _summary(method, deviations[reg], seconds[reg]) for reg in regularizers}
    bar.close()
    return scores


def _summary(method: str, per_pair: dict[str, float], seconds: list[float]) -> dict:
    values = np.array(list(per_pair.values()), float)
    groups: dict[str, list[float]] = {}
    for name, value in per_pair.items():
        groups.setdefault(combination(name), []).append(value)
    return {"method": method, "mean": float(np.mean(values)), "median": float(np.median(values)),
            "per_pair": dict(per_pair), "per_combination": {c: float(np.mean(v)) for c, v in groups.items()},
            "seconds_per_pair": float(np.median(seconds))}


def _fmt(value: float, spec: str = ".3f") -> str:
    return format(value, spec) if value is not None and np.isfinite(value) else "-"


def null_table(scores: dict[str, dict[str, dict]]) -> str:
    """Markdown: method | regularization | mean D | median D | mean D per combination | s/pair."""
    combinations = list(dict.fromkeys(c for regs in scores.values() for s in regs.values()
                                      for c in s["per_combination"]))
    head = ["method", "regularization", "mean deviation (px)", "median (px)"] + combinations + ["s/pair"]
    lines = ["| " + " | ".join(head) + " |", "|---|---" + "|---:" * (len(head) - 2) + "|"]
    for label, regs in scores.items():
        for reg, s in regs.items():
            cells = [f"`{label}`", REGULARIZER_NAMES.get(reg, reg), _fmt(s["mean"]), _fmt(s["median"])]
            cells += [_fmt(s["per_combination"].get(c)) for c in combinations]
            lines.append("| " + " | ".join(cells + [_fmt(s["seconds_per_pair"], ".2f")]) + " |")
    return "\n".join(lines)


def per_pair_table(scores: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per (method, regularizer), one column per pair, D in px."""
    names = list(dict.fromkeys(n for regs in scores.values() for s in regs.values() for n in s["per_pair"]))
    lines = ["| method | regularization | " + " | ".join(names) + " |", "|---|---" + "|---:" * len(names) + "|"]
    for label, regs in scores.items():
        for reg, s in regs.items():
            cells = [f"`{label}`", REGULARIZER_NAMES.get(reg, reg)] + [_fmt(s["per_pair"].get(n)) for n in names]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_null_criterion(scores: dict[str, dict[str, dict]], label: str, limit: float = 0.08,
                         regularizer: str = "ltv") -> tuple[bool, list[str]]:
    """Issue 11: ``label`` + log-TV has mean D <= ``limit`` px and below every correlator's.

    A correlator (:data:`microflow.methods.CLASSICAL`) counts at its best regularizer (the lowest
    mean D it reaches). Returns ``(passed, ["PASS ..."/"FAIL ..." lines])``; NaN fails.
    """
    from microflow.methods import CLASSICAL

    if regularizer not in scores.get(label, {}):
        raise ParameterError(f"no {regularizer} score for {label!r} among {list(scores)}")
    value = scores[label][regularizer]["mean"]
    reg = REGULARIZER_NAMES.get(regularizer, regularizer)
    checks = [(value <= limit, f"{label} + {reg}: mean deviation {_fmt(value)} px <= {limit} px")]
    for other, regs in scores.items():
        if other != label and next(iter(regs.values()))["method"] in CLASSICAL:
            best_reg, best = min(((r, s["mean"]) for r, s in regs.items()),
                                 key=lambda rs: rs[1] if np.isfinite(rs[1]) else np.inf)
            checks.append((value < best, f"{label} + {reg}: {_fmt(value)} px < {other} "
                                         f"({REGULARIZER_NAMES.get(best_reg, best_reg)}) {_fmt(best)} px"))
    lines = [("PASS " if ok else "FAIL ") + text for ok, text in checks]
    if len(checks) == 1:
        lines.append("NOTE no correlator was scored: the comparison with the correlators is not checked")
    return all(ok for ok, _ in checks), lines
