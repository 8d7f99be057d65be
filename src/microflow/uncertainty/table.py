"""A calibration table: sigma = T(confidence bin, gradient bin), the 68 % quantile of the EPE.

Fitting (:func:`fit_table`) from validation pixels with features ``(c, g)`` (confidence [0, 1],
field gradient [px/px]) and end-point errors ``e`` [px]:

1. bin edges: quantiles of c and of g (equal-count bins), so every bin starts well populated, plus
   the g quantiles ``grad_tail`` (e.g. 0.95, 0.99: the few pixels at fault traces);
2. ``T[i, j] = q_0.68(e | c in bin i, g in bin j)`` where the bin holds >= ``min_count`` pixels;
3. empty / thin bins take the value of the nearest filled bin along g, then along c;
4. monotone: non-decreasing in g and non-increasing in c. ``envelope="upper"``: the smallest
   monotone table above T (cumulative maxima along g, then from high to low confidence);
   ``"mean"`` (default): the mean of that and of the largest monotone table below T (cumulative
   minima the other way), which stays closer to T (a mean of two monotone tables is monotone);
5. ``T >= floor`` [px];
6. ``rescale``: ``T <- c T`` with ``c = q_0.68(e / T(bin))``, so that the pooled coverage on the
   fitting pixels is exactly 68 % (steps 3-5 move it).

Lookup (:meth:`SigmaTable.lookup`): piecewise constant on the bins; values beyond the outer edges
fall in the outer bins; a NaN confidence counts as the lowest confidence, a NaN gradient gives NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from microflow.errors import ParameterError

COVERAGE = 0.68


@dataclass(frozen=True)
class SigmaTable:
    """Bins and values of one method's table; ``values`` (len(conf_edges)+1, len(grad_edges)+1) [px]."""

    conf_edges: tuple[float, ...]
    grad_edges: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        v = np.asarray(self.values, float)
        if v.shape != (len(self.conf_edges) + 1, len(self.grad_edges) + 1):
            raise ParameterError(f"sigma table shape {v.shape} does not match its edges "
                                 f"({len(self.conf_edges)} and {len(self.grad_edges)})")

    def lookup(self, confidence: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """sigma [px] (float32) of each pixel's (confidence, gradient); NaN where the gradient is NaN."""
        conf = np.nan_to_num(np.asarray(confidence, np.float64), nan=-1.0)
        grad = np.asarray(gradient, np.float64)
        i = np.searchsorted(np.asarray(self.conf_edges), conf, side="right")
        j = np.searchsorted(np.asarray(self.grad_edges), np.nan_to_num(grad, nan=0.0), side="right")
        out = np.asarray(self.values, np.float32)[i, j]
        return np.where(np.isfinite(grad), out, np.float32(np.nan)).astype(np.float32)

    def to_dict(self) -> dict:
        return {"conf_edges": list(self.conf_edges), "grad_edges": list(self.grad_edges),
                "values": [list(r) for r in self.values], **({"meta": self.meta} if self.meta else {})}

    @classmethod
    def from_dict(cls, data: dict) -> "SigmaTable":
        return cls(tuple(float(x) for x in data["conf_edges"]), tuple(float(x) for x in data["grad_edges"]),
                   tuple(tuple(float(x) for x in r) for r in data["values"]), dict(data.get("meta", {})))


def _fill_nearest(row: np.ndarray) -> np.ndarray:
    """NaN entries of a 1-D array replaced by the nearest finite entry (ties: the lower index)."""
    ok = np.flatnonzero(np.isfinite(row))
    if not ok.size:
        return row
    idx = np.arange(row.size)
    nearest = ok[np.abs(idx[:, None] - ok[None, :]).argmin(axis=1)]
    return row[nearest]


def monotone(values: np.ndarray, envelope: str = "upper") -> np.ndarray:
    """Non-decreasing along axis 1 (gradient), non-increasing along axis 0 (confidence): the upper
    monotone envelope, or the mean of the upper and lower ones (``envelope="mean"``)."""
    v = np.asarray(values, float)
    upper = np.maximum.accumulate(np.maximum.accumulate(v, axis=1)[::-1], axis=0)[::-1]
    if envelope == "none":
        return v
    if envelope == "upper":
        return upper
    if envelope != "mean":
        raise ParameterError(f"envelope must be 'upper', 'mean' or 'none', got {envelope!r}")
    lower = np.minimum.accumulate(np.minimum.accumulate(v[:, ::-1], axis=1)[:, ::-1], axis=0)
    return (upper + lower) / 2


def fit_table(confidence: np.ndarray, gradient: np.ndarray, error: np.ndarray, *, conf_bins: int = 8,
              grad_bins: int = 10, min_count: int = 200, floor: float = 0.005,
              coverage: float = COVERAGE, envelope: str = "mean", rescale: bool = True,
              grad_tail: tuple[float, ...] = ()) -> SigmaTable:
    """Fit a :class:`SigmaTable` (module doc) from per-pixel confidence, gradient [px/px] and EPE [px]."""
    c = np.nan_to_num(np.asarray(confidence, float).ravel(), nan=-1.0)
    g = np.asarray(gradient, float).ravel()
    e = np.asarray(error, float).ravel()
    ok = np.isfinite(g) & np.isfinite(e)
    c, g, e = c[ok], g[ok], e[ok]
    if e.size < min_count:
        raise ParameterError(f"sigma fit needs at least {min_count} finite pixels, got {e.size}")
    qs = lambda x, q: tuple(np.unique(np.quantile(x, q)).tolist())
    conf_edges = qs(c, np.linspace(0, 1, conf_bins + 1)[1:-1])
    grad_edges = qs(g, np.union1d(np.linspace(0, 1, grad_bins + 1)[1:-1], grad_tail))
    i = np.searchsorted(conf_edges, c, side="right")
    j = np.searchsorted(grad_edges, g, side="right")
    table = np.full((len(conf_edges) + 1, len(grad_edges) + 1), np.nan)
    counts = np.zeros(table.shape, int)
    for a in range(table.shape[0]):
        for b in range(table.shape[1]):
            sel = e[(i == a) & (j == b)]
            counts[a, b] = sel.size
            if sel.size >= min_count:
                table[a, b] = np.quantile(sel, coverage)
    table = np.array([_fill_nearest(r) for r in table])
    table = np.array([_fill_nearest(col) for col in table.T]).T
    if not np.isfinite(table).all():
        table = np.where(np.isfinite(table), table, np.quantile(e, coverage))
    table = np.maximum(monotone(table, envelope), floor)
    scale = float(np.quantile(e / table[i, j], coverage)) if rescale else 1.0
    table = np.maximum(scale * table, floor)
    meta = {"pixels": int(e.size), "counts": counts.tolist(), "coverage": coverage, "floor": floor,
            "min_count": min_count, "envelope": envelope, "scale": scale, "grad_tail": list(grad_tail)}
    return SigmaTable(conf_edges, grad_edges, tuple(tuple(r) for r in table.tolist()), meta)


def coverage_of(sigma: np.ndarray, error: np.ndarray) -> float:
    """P(error <= sigma) over the pixels where both are finite (NaN when none)."""
    s, e = np.asarray(sigma, float), np.asarray(error, float)
    ok = np.isfinite(s) & np.isfinite(e)
    return float(np.mean(e[ok] <= s[ok])) if ok.any() else float("nan")
