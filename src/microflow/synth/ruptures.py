"""Random multi-segment ruptures, their surface traces, and the displacement categories.

A rupture is a chain of 1-3 rectangular Okada segments (:class:`~microflow.synth.okada.FaultSegment`)
laid in the pixel frame of an image (``east = col * g``, ``north = -row * g``, ``g`` the ground
pixel size). Random draws (:class:`RuptureRanges`, all uniform unless said):

=========================  ============================================================
ground pixel size g        log-uniform 10 - 60 m
segments                   1, 2, 3 with probabilities 0.4, 0.35, 0.25, chained end to start
strike change per joint    +-(5 - 30) degrees
segment length             0.4 - 1.5 x image size (pixels, times g)
down-dip width             0.3 - 1.0 x image size
mechanism (probability)    strike-slip 0.4: rake 0 or 180 +-15, dip 75 - 90 (90 w.p. 0.3)
                           normal 0.2: rake -90 +-20, dip 45 - 70
                           reverse 0.2: rake 90 +-20, dip 20 - 45
                           oblique 0.2: rake +-(30 - 60) or +-(120 - 150), dip 45 - 85
per-segment variation      rake +-10 degrees, slip x 0.6 - 1.4
surface-breaking           probability 0.75 (all segments); blind top depth 20 - 100 px
anchor                     a random point of the chain lies in the central half of the image
=========================  ============================================================

Categories (peak |d| over the image, pixels, uniform within the range): 0 very small 0.1 - 0.4,
1 small 0.4 - 1.2, 2 large 1.2 - 4.0. The Okada field is linear in slip, so the rupture is built
with unit slip scale and the sampled field is multiplied to the drawn peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from microflow.errors import ParameterError
from microflow.synth.okada import FaultSegment

CATEGORY_PEAK_PX = {0: (0.1, 0.4), 1: (0.4, 1.2), 2: (1.2, 4.0)}
MECHANISMS = ("strike-slip", "normal", "reverse", "oblique")


@dataclass(frozen=True)
class RuptureRanges:
    """Ranges of the random rupture draws (see the module table)."""

    pixel_size_m: tuple[float, float] = (10.0, 60.0)
    segment_probabilities: tuple[float, ...] = (0.4, 0.35, 0.25)
    strike_change_deg: tuple[float, float] = (5.0, 30.0)
    length_rel: tuple[float, float] = (0.4, 1.5)
    width_rel: tuple[float, float] = (0.3, 1.0)
    mechanism_probabilities: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2)
    rake_jitter_deg: float = 10.0
    slip_ratio: tuple[float, float] = (0.6, 1.4)
    p_surface_breaking: float = 0.75
    blind_top_px: tuple[float, float] = (20.0, 100.0)
    poisson: float = 0.25


@dataclass
class Rupture:
    """Segments in metres in the pixel frame of an image, and the ground pixel size."""

    segments: list[FaultSegment]
    pixel_size: float
    mechanism: str
    poisson: float = 0.25
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"mechanism": self.mechanism, "pixel_size_m": self.pixel_size, "poisson": self.poisson,
                "segments": [s.to_dict() for s in self.segments], **self.info}


def category_range(category: int) -> tuple[float, float]:
    if category not in CATEGORY_PEAK_PX:
        raise ParameterError(f"category must be one of {tuple(CATEGORY_PEAK_PX)}, got {category!r}")
    return CATEGORY_PEAK_PX[category]


def random_peak(rng: np.random.Generator, category: int) -> float:
    lo, hi = category_range(category)
    return float(rng.uniform(lo, hi))


def _mechanism(rng: np.random.Generator, ranges: RuptureRanges) -> tuple[str, float, float]:
    """(name, rake, dip) in degrees."""
    name = MECHANISMS[rng.choice(len(MECHANISMS), p=ranges.mechanism_probabilities)]
    if name == "strike-slip":
        rake = rng.choice([0.0, 180.0]) + rng.uniform(-15, 15)
        dip = 90.0 if rng.random() < 0.3 else rng.uniform(75, 90)
    elif name == "normal":
        rake, dip = -90.0 + rng.uniform(-20, 20), rng.uniform(45, 70)
    elif name == "reverse":
        rake, dip = 90.0 + rng.uniform(-20, 20), rng.uniform(20, 45)
    else:
        rake = rng.choice([-1.0, 1.0]) * (rng.uniform(30, 60) if rng.random() < 0.5 else rng.uniform(120, 150))
        dip = rng.uniform(45, 85)
    return name, float(rake), float(dip)


def random_rupture(rng: np.random.Generator, shape: tuple[int, int],
                   ranges: RuptureRanges = RuptureRanges()) -> Rupture:
    """A random rupture whose chain passes through the central half of a (H, W) image."""
    h, w = shape
    size = float(max(h, w))
    g = float(np.exp(rng.uniform(*np.log(ranges.pixel_size_m))))
    n_seg = 1 + int(rng.choice(len(ranges.segment_probabilities), p=ranges.segment_probabilities))
    name, rake, dip = _mechanism(rng, ranges)
    surface = rng.random() < ranges.p_surface_breaking
    top_depth = 0.0 if surface else float(rng.uniform(*ranges.blind_top_px)) * g
    strikes = [float(rng.uniform(0, 360))]
    for _ in range(n_seg - 1):
        strikes.append(strikes[-1] + float(rng.choice([-1, 1]) * rng.uniform(*ranges.strike_change_deg)))
    lengths = [float(rng.uniform(*ranges.length_rel)) * size * g for _ in range(n_seg)]
    width = float(rng.uniform(*ranges.width_rel)) * size * g
    # anchor: point at fraction t of segment k sits at a random central pixel
    k, t = int(rng.integers(n_seg)), float(rng.uniform(0.1, 0.9))
    row, col = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    anchor = np.array([col * g, -row * g])
    direction = [np.array([np.sin(np.radians(s)), np.cos(np.radians(s))]) for s in strikes]
    starts = [None] * n_seg
    starts[k] = anchor - t * lengths[k] * direction[k]
    for i in range(k + 1, n_seg):
        starts[i] = starts[i - 1] + lengths[i - 1] * direction[i - 1]
    for i in range(k - 1, -1, -1):
        starts[i] = starts[i + 1] - lengths[i] * direction[i]
    segments = []
    for i in range(n_seg):
        seg_rake = rake + float(rng.uniform(-ranges.rake_jitter_deg, ranges.rake_jitter_deg))
        slip = float(rng.uniform(*ranges.slip_ratio))
        segments.append(FaultSegment(float(starts[i][0]), float(starts[i][1]), strikes[i] % 360.0, dip,
                                     seg_rake, slip, lengths[i], width, top_depth))
    return Rupture(segments, g, name, ranges.poisson)


def trace_mask(rupture: Rupture, shape: tuple[int, int], step_px: float = 0.1) -> np.ndarray:
    """Bool (H, W): pixels crossed by the surface trace of a surface-breaking segment.

    The trace is sampled every ``step_px`` pixels and each sample marks the pixel containing it.
    """
    h, w = shape
    mask = np.zeros(shape, bool)
    g = rupture.pixel_size
    for seg in rupture.segments:
        if not seg.surface_breaking:
            continue
        e1, n1 = seg.end
        c0, r0, c1, r1 = seg.east / g, -seg.north / g, e1 / g, -n1 / g
        n = int(np.ceil(np.hypot(c1 - c0, r1 - r0) / step_px)) + 1
        t = np.linspace(0.0, 1.0, n)
        rows = np.rint(r0 + t * (r1 - r0)).astype(np.int64)
        cols = np.rint(c0 + t * (c1 - c0)).astype(np.int64)
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        mask[rows[inside], cols[inside]] = True
    return mask
