"""sigma as a quantile regression: log sigma = an additive, piecewise-linear function of the features.

With the features of :mod:`.features`, each mapped to an axis ``u_f`` (the confidences as they are,
the gradients as ``log10(g + GRADIENT_FLOOR)``) and clipped to its knots ``k_f0 < ... < k_fn``::

    log sigma = b0 + sum_f [ a_f u_f + sum_{i=1..n-1} a_fi max(0, u_f - k_fi) ] + log s

a continuous function, linear between the knots and flat beyond the outer ones. Fitting
(:func:`fit_regression`) minimises the weighted pinball loss of the 68 % quantile of ``log e``
(``e`` the end-point error [px], floored at ``ERROR_FLOOR``): the 68 % quantile of log e is the log
of the 68 % quantile of e, so ``sigma`` estimates the radius that holds the error with 68 %
probability, pixel by pixel. Weights let every group of pixels (a category, the null pairs, the
fault zone) count equally, whatever its size, and :func:`fit_balanced` adapts each group's quantile
level so that each group, not only their mix, is covered near 68 %. Finally ``s`` scales sigma so
that the weighted coverage of the fitting pixels is exactly :data:`COVERAGE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from microflow.errors import ParameterError

COVERAGE = 0.68
GRADIENT_FLOOR = 1e-4     # px/px, added before the log of a gradient
ERROR_FLOOR = 1e-4        # px, smallest error of the fit (log of 0)
LOG_AXES = ("gradient", "gradient_near", "gradient_region", "residual_region")


def axis_of(name: str, values: np.ndarray) -> np.ndarray:
    """The regression axis of a feature: log10(g + GRADIENT_FLOOR) for gradients, else the value."""
    v = np.asarray(values, np.float64)
    return np.log10(v + GRADIENT_FLOOR) if name in LOG_AXES else v


def coverage_of(sigma: np.ndarray, error: np.ndarray, weights: np.ndarray | None = None) -> float:
    """(Weighted) P(error <= sigma) over the pixels where both are finite (NaN when none)."""
    s, e = np.asarray(sigma, float), np.asarray(error, float)
    ok = np.isfinite(s) & np.isfinite(e)
    if not ok.any():
        return float("nan")
    w = np.ones(ok.sum()) if weights is None else np.asarray(weights, float)[ok]
    return float(np.sum(w * (e[ok] <= s[ok])) / np.sum(w))


@dataclass(frozen=True)
class SigmaRegression:
    """Knots per feature, coefficients ``(b0, [a_f, a_f1 .. a_f(n-1)] per feature)`` and the scale s."""

    knots: dict[str, tuple[float, ...]]
    coef: tuple[float, ...]
    scale: float = 1.0
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.knots)

    def columns(self, features: dict[str, np.ndarray]):
        """The basis columns (flattened; NaN where a feature is NaN), intercept first."""
        yield np.ones(np.asarray(features[self.features[0]]).size)
        for name, knots in self.knots.items():
            u = np.clip(axis_of(name, features[name]).ravel(), knots[0], knots[-1])
            yield u
            for k in knots[1:-1]:
                yield np.maximum(u - k, 0.0)

    def design(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 1 + sum_f n_f) basis matrix of the flattened features."""
        return np.stack(list(self.columns(features)), axis=1)

    def predict(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """sigma [px] (float32, the features' shape); NaN where a feature is NaN."""
        shape = np.shape(features[self.features[0]])
        log_sigma = np.full(int(np.prod(shape)), np.log(self.scale))
        for c, column in zip(self.coef, self.columns(features)):
            log_sigma += c * column
        return np.exp(log_sigma).astype(np.float32).reshape(shape)

    def to_dict(self) -> dict:
        return {"knots": {k: list(v) for k, v in self.knots.items()}, "coef": list(self.coef),
                "scale": self.scale, "meta": self.meta}

    @classmethod
    def from_dict(cls, data: dict) -> "SigmaRegression":
        return cls({k: tuple(float(x) for x in v) for k, v in data["knots"].items()},
                   tuple(float(c) for c in data["coef"]), float(data["scale"]), dict(data.get("meta", {})))


def quantile_knots(name: str, values: np.ndarray, count: int) -> tuple[float, ...]:
    """``count`` knots of a feature's axis at equally spaced quantiles (0.5 % to 99.5 %), distinct."""
    u = axis_of(name, values)
    knots = np.unique(np.round(np.quantile(u, np.linspace(0.005, 0.995, count)), 6))
    if knots.size < 2:
        knots = np.array([knots[0], knots[0] + 1e-6])
    return tuple(float(k) for k in knots)


def fit_regression(features: dict[str, np.ndarray], error: np.ndarray, weights: np.ndarray | None = None,
                   knots: int = 6, coverage: float = COVERAGE, steps: int = 1500, lr: float = 0.05,
                   rescale: bool = True, levels: np.ndarray | None = None) -> SigmaRegression:
    """Fit :class:`SigmaRegression` to pixels (module doc): ``features`` {name: (N,)}, ``error`` (N,) [px],
    ``weights`` (N,) >= 0 (default 1). ``levels`` (N,) are per-pixel quantile levels of the pinball
    loss (default ``coverage`` everywhere); the final scale always aims at ``coverage``. Full-batch
    Adam on the pinball loss (convex), from the constant fit; deterministic."""
    import torch

    names = tuple(features)
    error = np.asarray(error, np.float64).ravel()
    weights = np.ones_like(error) if weights is None else np.asarray(weights, np.float64).ravel()
    ok = np.isfinite(error) & (weights > 0)
    for name in names:
        ok &= np.isfinite(np.asarray(features[name], np.float64).ravel())
    if ok.sum() < 100:
        raise ParameterError(f"a sigma fit needs >= 100 finite pixels, got {int(ok.sum())}")
    cols = {n: np.asarray(features[n], np.float64).ravel()[ok] for n in names}
    model = SigmaRegression({n: quantile_knots(n, cols[n], knots) for n in names}, (0.0,))
    x = torch.from_numpy(model.design(cols))
    y = torch.from_numpy(np.log(np.maximum(error[ok], ERROR_FLOOR)))
    w = torch.from_numpy(weights[ok] / weights[ok].sum())
    tau = torch.from_numpy(np.broadcast_to(np.asarray(coverage if levels is None else levels, np.float64),
                                           error.shape)[ok].copy())
    mean, std = x[:, 1:].mean(0), x[:, 1:].std(0).clamp_min(1e-6)   # standardized columns: Adam's steps
    z = torch.cat([x[:, :1], (x[:, 1:] - mean) / std], dim=1)         # are then comparable
    beta = torch.zeros(z.shape[1], dtype=torch.float64)
    beta[0] = float(np.quantile(y.numpy(), coverage))
    beta.requires_grad_(True)
    opt = torch.optim.Adam([beta], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        r = y - z @ beta
        loss = torch.sum(w * torch.maximum(tau * r, (tau - 1) * r))
        loss.backward()
        opt.step()
        sched.step()
    b = beta.detach()
    slopes = b[1:] / std
    coef = (float(b[0] - torch.sum(slopes * mean)),) + tuple(float(v) for v in slopes)
    model = SigmaRegression(model.knots, coef)
    scale = 1.0
    if rescale:  # the weighted 68 % quantile of e / sigma
        ratio = error[ok] / model.predict(cols)
        order = np.argsort(ratio)
        cum = np.cumsum(weights[ok][order]) / weights[ok].sum()
        scale = float(ratio[order][min(np.searchsorted(cum, coverage), ratio.size - 1)])
    return SigmaRegression(model.knots, coef, scale)


def fit_balanced(features: dict[str, np.ndarray], error: np.ndarray, group: np.ndarray, rounds: int = 5,
                 coverage: float = COVERAGE, **fit_kw) -> tuple[SigmaRegression, dict]:
    """:func:`fit_regression` with every group of pixels weighing the same, and each group's
    quantile level ``tau_g`` moved by its coverage gap between rounds::

        tau_g <- clip(tau_g + (coverage - coverage_g), 0.3, 0.97)      (from tau_g = coverage)

    so that a group the features tell apart poorly from the others (its errors larger, or smaller, at
    the same features) still gets near ``coverage``. ``group`` (N,) holds a label per pixel.
    Returns the last model and {label: coverage}."""
    group = np.asarray(group).ravel()
    labels = list(dict.fromkeys(group.tolist()))
    index = {g: group == g for g in labels}
    weights = np.zeros(group.size)
    for g in labels:
        weights[index[g]] = 1.0 / index[g].sum()
    tau = dict.fromkeys(labels, coverage)
    for r in range(rounds):
        levels = np.zeros(group.size)
        for g in labels:
            levels[index[g]] = tau[g]
        model = fit_regression(features, error, weights, coverage=coverage, levels=levels, **fit_kw)
        sigma = model.predict(features)
        cover = {g: coverage_of(sigma[index[g]], np.asarray(error).ravel()[index[g]]) for g in labels}
        used = tau
        tau = {g: float(np.clip(tau[g] + coverage - cover[g], 0.3, 0.97)) for g in labels}
    meta = {"levels": {str(g): round(t, 4) for g, t in used.items()}}
    return SigmaRegression(model.knots, model.coef, model.scale, meta), cover
