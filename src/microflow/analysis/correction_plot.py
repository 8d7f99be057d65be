"""Before/after figure of a stable-ground correction (``microflow plot AFTER --before BEFORE``).

Two rows (EW +east, NS +north) and three columns: the field before, after, and the removed part
``before - after``, in the product units. Each panel has a diverging colour scale ``c ± v``: the
after panel is centred on ``c = 0`` with ``v`` the 99th percentile of ``|after|`` (or ``vmax``); the
before and removed panels are centred on their median ``c`` (written in the title), with ``v`` the
99th percentile of ``|value - c|``, so an offset of a pixel does not hide stripes of a hundredth.
An optional outline (bool mask, e.g. the stable ground) is drawn on every panel.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from microflow.analysis.plot import (DIVERGING_CMAP, NAN_COLOR, UNIT_LABELS, block_nanmean, decimation_factor,
                                     read_product_checked, robust_limit, save_png)
from microflow.errors import InputError


def plot_before_after(before: np.ndarray, after: np.ndarray, *, units: str = "pixel", title: str | None = None,
                      vmax: float | None = None, outline: np.ndarray | None = None, max_side: int = 800) -> Figure:
    """Figure of (2, H, W) product-convention fields ``before`` and ``after`` (EW, NS) (module doc)."""
    from matplotlib import colormaps

    before, after = np.asarray(before, np.float32), np.asarray(after, np.float32)
    if before.shape != after.shape or before.ndim != 3 or before.shape[0] < 2:
        raise InputError(f"before and after must be (2, H, W) fields of one grid, got {before.shape} and {after.shape}")
    factor = decimation_factor(before.shape[1:], max_side)
    b = [block_nanmean(before[c], factor) for c in range(2)]
    a = [block_nanmean(after[c], factor) for c in range(2)]
    removed = [bb - aa for bb, aa in zip(b, a)]
    limit = float(vmax) if vmax else robust_limit(np.concatenate([x.ravel() for x in a]))
    cmap = colormaps[DIVERGING_CMAP].with_extremes(bad=NAN_COLOR)
    unit = UNIT_LABELS.get(units, units)
    h, w = b[0].shape
    fig = Figure(figsize=(12.6, min(2 * 4.2 * h / w, 12.0) + 1.2), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True, sharey=True)
    small = None if outline is None else block_nanmean(np.asarray(outline, np.float32), factor)
    for row, name in enumerate(("EW (+east)", "NS (+north)")):
        for col, (data, label) in enumerate(((b[row], "before"), (a[row], "after"), (removed[row], "removed"))):
            ax = axes[row, col]
            centre = 0.0 if col == 1 or not np.isfinite(data).any() else float(np.nanmedian(data))
            lim = limit if col == 1 else robust_limit(data - centre)
            image = ax.imshow(data, cmap=cmap, vmin=centre - lim, vmax=centre + lim, interpolation="nearest")
            if small is not None:
                ax.contour(small, levels=[0.5], colors="k", linewidths=0.6)
            ax.set_title(f"{name} {label}" + (f" (median {centre:+.3g})" if col != 1 else ""), fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(image, ax=ax, shrink=0.8, label=unit)
    if title:
        fig.suptitle(title)
    return fig


def plot_correction_products(after_path, before_path, png_path, *, title: str | None = None,
                             vmax: float | None = None) -> str:
    """Before/after PNG of two products on one grid (e.g. the input and output of ``microflow correct``)."""
    bands = [read_product_checked(path)[:2] for path in (before_path, after_path)]
    (before, tags_b), (after, tags_a) = bands
    if before.shape[1:] != after.shape[1:]:
        raise InputError(f"--before {before_path} is {before.shape[1]}x{before.shape[2]}, the product "
                         f"{after.shape[1]}x{after.shape[2]}: not one grid")
    if tags_b.get("UNITS", "pixel") != tags_a.get("UNITS", "pixel"):
        raise InputError("--before and the product have different UNITS")
    if title is None:
        model = tags_a.get("CORRECTION")
        extra = ""
        if model:
            import json

            info = json.loads(model)
            extra = f": {info['model']}, stable {100 * info['stable_share']:.0f}% ({info['stable_source']})"
        title = f"{os.path.basename(os.fspath(before_path))} -> {os.path.basename(os.fspath(after_path))}{extra}"
    fig = plot_before_after(before[:2], after[:2], units=tags_a.get("UNITS", "pixel"), title=title, vmax=vmax)
    return save_png(fig, png_path)
