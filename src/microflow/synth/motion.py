"""Motions other than a rupture, as field functions ``(rows, cols) -> (dx, dy)`` [px] of a frame.

* :func:`landslide_flow`: a body sliding downslope, an ellipse of semi-axes ``(a, b)`` rotated by
  ``theta`` moving along its long axis with ``v = peak (1 - r^2)^2`` for ``r < 1`` (``r`` the
  elliptical radius), ``a, b >= 4 peak`` so that the shear stays below 0.4 px/px (the forward model
  needs ``|grad d| < 1``);
* :func:`glacier_flow`: a valley-glacier profile across a straight band (see :mod:`microflow.synth.large`);
* :func:`misregistration`: a constant offset ``(dx, dy)`` of the whole image, ``|d|`` uniform in a range;
* :func:`jitter`: along-track attitude jitter, a displacement that is constant along each image line
  (row) and varies with the row: ``d(row) = A u sin(2 pi row / lambda + phi)`` with unit direction
  ``u``, ``A`` in 0.01-0.2 px;
* :func:`detector_steps`: CCD detector boundaries every ``L`` columns, each detector offset by its own
  constant ``(dx, dy)`` of 0.02-0.2 px (piecewise constant across the track).

:func:`combine` adds field functions. Each function returns the field and a dict of its draws.
"""

from __future__ import annotations

import numpy as np

FieldFunction = "Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]"
MIN_AXIS_PER_PX = 4.0
MIN_HALF_WIDTH_PER_PX = 4.0     # glacier: W >= 4 peak, shear <= 0.39 px/px


def glacier_flow(rng: np.random.Generator, size: int, peak: float):
    """A random ice-stream field function ``(rows, cols) -> (dx, dy)`` in a frame of ``size`` px."""
    theta = float(rng.uniform(0, 2 * np.pi))
    half = float(rng.uniform(max(MIN_HALF_WIDTH_PER_PX * peak, 0.12 * size), max(0.4 * size, 4.2 * peak)))
    centre = rng.uniform(0.3, 0.7, size=2) * size
    amp, wavelength, phase = float(rng.uniform(0, 0.3)), float(rng.uniform(1, 3)) * size, float(rng.uniform(0, 6.3))
    direction = np.array([np.cos(theta), np.sin(theta)], np.float32)   # (x, y)

    def field(rows, cols):
        x, y = cols - centre[1], rows - centre[0]
        along = x * direction[0] + y * direction[1]
        across = -x * direction[1] + y * direction[0]
        profile = np.clip(1 - (across / half) ** 2, 0, None) ** 2
        speed = peak * profile * (1 + amp * np.sin(2 * np.pi * along / wavelength + phase)) / (1 + amp)
        return (speed * direction[0]).astype(np.float32), (speed * direction[1]).astype(np.float32)

    params = {"theta_deg": float(np.degrees(theta)), "half_width_px": half, "centre": centre.tolist(),
              "modulation": amp, "wavelength_px": wavelength}
    return field, params


def landslide_flow(rng: np.random.Generator, size: int, peak: float):
    """A random elliptical landslide of peak ``peak`` px in a frame of ``size`` px."""
    theta = float(rng.uniform(0, 2 * np.pi))
    a = float(rng.uniform(max(MIN_AXIS_PER_PX * peak, 0.15 * size), max(0.45 * size, 4.5 * peak)))
    b = float(rng.uniform(max(MIN_AXIS_PER_PX * peak, 0.4 * a), a))
    centre = rng.uniform(0.3, 0.7, size=2) * size
    cos_t, sin_t = np.float32(np.cos(theta)), np.float32(np.sin(theta))

    def field(rows, cols):
        x, y = np.asarray(cols, np.float32) - centre[1], np.asarray(rows, np.float32) - centre[0]
        along, across = x * cos_t + y * sin_t, -x * sin_t + y * cos_t
        r2 = (along / a) ** 2 + (across / b) ** 2
        speed = np.float32(peak) * np.clip(1 - r2, 0, None) ** 2
        return (speed * cos_t).astype(np.float32), (speed * sin_t).astype(np.float32)

    return field, {"kind": "landslide", "theta_deg": float(np.degrees(theta)), "axes_px": [a, b],
                   "centre": centre.tolist()}


def misregistration(rng: np.random.Generator, magnitude: tuple[float, float]):
    """A constant offset of random direction and ``|d|`` uniform in ``magnitude`` px."""
    norm, angle = float(rng.uniform(*magnitude)), float(rng.uniform(0, 2 * np.pi))
    dx, dy = np.float32(norm * np.cos(angle)), np.float32(norm * np.sin(angle))

    def field(rows, cols):
        shape = np.broadcast(rows, cols).shape
        return np.full(shape, dx, np.float32), np.full(shape, dy, np.float32)

    return field, {"dx": float(dx), "dy": float(dy)}


def jitter(rng: np.random.Generator, amplitude: tuple[float, float], wavelength_px: tuple[float, float] = (12.0, 120.0)):
    """Along-track jitter: a sinusoid of the row, the same along each line."""
    amp, wavelength = float(rng.uniform(*amplitude)), float(rng.uniform(*wavelength_px))
    phase, angle = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))
    ux, uy = np.float32(np.cos(angle)), np.float32(np.sin(angle))

    def field(rows, cols):
        rows = np.broadcast_to(np.asarray(rows, np.float32), np.broadcast(rows, cols).shape)
        wave = np.float32(amp) * np.sin(np.float32(2 * np.pi / wavelength) * rows + np.float32(phase))
        return (wave * ux).astype(np.float32), (wave * uy).astype(np.float32)

    return field, {"amplitude_px": amp, "wavelength_px": wavelength, "direction_deg": float(np.degrees(angle))}


def detector_steps(rng: np.random.Generator, size: int, amplitude: tuple[float, float],
                   detector_px: tuple[float, float] = (24.0, 96.0)):
    """Piecewise-constant offsets between detector boundaries across the columns of the frame."""
    width = float(rng.uniform(*detector_px))
    first = float(rng.uniform(0, width))
    count = int(np.ceil((size - first) / width)) + 2
    norms = rng.uniform(*amplitude, size=count)
    angles = rng.uniform(0, 2 * np.pi, size=count)
    offsets = np.stack([norms * np.cos(angles), norms * np.sin(angles)]).astype(np.float32)
    offsets -= offsets.mean(axis=1, keepdims=True)            # a zero-mean set: steps, not an offset

    def field(rows, cols):
        cols = np.broadcast_to(np.asarray(cols, np.float32), np.broadcast(rows, cols).shape)
        index = np.clip(np.floor((cols - first) / width).astype(np.int64) + 1, 0, count - 1)
        return offsets[0][index], offsets[1][index]

    return field, {"detector_px": width, "first_boundary_px": first, "steps": int(count)}


def combine(fields):
    """The sum of field functions (a zero field when the list is empty)."""
    fields = list(fields)

    def field(rows, cols):
        shape = np.broadcast(rows, cols).shape
        dx, dy = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        for f in fields:
            fx, fy = f(rows, cols)
            dx += fx
            dy += fy
        return dx, dy

    return field
