"""Dense optical-flow baselines: OpenCV Farneback and scikit-image TV-L1.

Each image is first scaled by its own robust range ``[lo, hi]`` (its 0.5 and 99.5 percentiles) onto
[0, 1], which absorbs a gain/offset change between the acquisitions (both flows assume brightness
constancy; a joint range made TV-L1 fail on the synthetic benchmark's radiometric changes).

Sign conventions (converted here, once, and checked by the tests with a known shift):

* OpenCV ``calcOpticalFlowFarneback(prev=pre, next=post)`` returns ``flow`` with
  ``pre(y, x) ~ post(y + flow[..., 1], x + flow[..., 0])``: ``dx = flow[..., 0]``, ``dy = flow[..., 1]``.
* scikit-image ``optical_flow_tvl1(reference=pre, moving=post)`` returns ``(v, u)`` (rows first)
  with ``pre(r, c) ~ post(r + v, c + u)``: ``dx = u``, ``dy = v``.

Confidence (photometric consistency): ``exp(-r / s)`` with ``r`` the Gaussian-smoothed
(``sigma = 1.5`` px) absolute residual ``|post(p + d) - pre(p)|`` after pulling post back onto pre
with the field (cubic spline), and ``s`` the local contrast of pre (standard deviation of its
detail in a ``sigma = 3`` px Gaussian window, floored at 5 % of the global one). Near 1 where the
field explains the change between the images; 0.2-0.45 (median, measured) for unrelated
textures, which the flows partly fit.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from microflow.errors import ParameterError
from microflow.methods.base import DisplacementField
from microflow.methods.sliding import check_pair, number_in, positive_int

ROBUST_PERCENTILES = (0.5, 99.5)
RESIDUAL_SIGMA = 1.5
LOCAL_CONTRAST_SIGMA = 3.0


def unit_scale_each(pre: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image mapped linearly by its own robust range [lo, hi] -> [0, 1] (not clipped), float32."""

    def unit(img: np.ndarray) -> np.ndarray:
        lo, hi = np.percentile(img, ROBUST_PERCENTILES)
        scale = 1.0 / (hi - lo) if hi > lo else 1.0
        return ((img - lo) * scale).astype(np.float32)

    return unit(pre), unit(post)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Unit-scaled image -> uint8 0-255 (clipped, rounded)."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def pull_back(post: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``post(p + d)`` sampled on the pre grid (cubic spline, mirror edge): post aligned onto pre."""
    rows, cols = np.mgrid[0:post.shape[0], 0:post.shape[1]].astype(np.float32)
    return map_coordinates(post, [rows + dy, cols + dx], order=3, mode="mirror", output=np.float32)


def local_contrast(img: np.ndarray, sigma: float = LOCAL_CONTRAST_SIGMA) -> np.ndarray:
    """Local standard deviation of ``img`` in a Gaussian window, floored at 5 % of the global one."""
    detail = img - gaussian_filter(img, sigma)
    local = np.sqrt(gaussian_filter(detail * detail, sigma))
    return np.maximum(local, 0.05 * float(np.std(img)) + 1e-12)


def photometric_confidence(pre: np.ndarray, post: np.ndarray, dx: np.ndarray,
                           dy: np.ndarray) -> np.ndarray:
    """``exp(-r / s)`` in (0, 1]; see the module docstring. Inputs on one intensity scale."""
    residual = gaussian_filter(np.abs(pull_back(post, dx, dy) - pre), RESIDUAL_SIGMA)
    return np.exp(-residual / local_contrast(pre)).astype(np.float32)


def estimate_farneback(pre: np.ndarray, post: np.ndarray, *, progress: bool = False,
                       pyr_scale: float = 0.5, levels: int = 3, winsize: int = 15,
                       iterations: int = 3, poly_n: int = 5, poly_sigma: float = 1.1,
                       gaussian_window: bool = False) -> DisplacementField:
    """OpenCV Farneback flow on jointly 0-255-scaled uint8 images.

    pyr_scale: pyramid scale in (0, 1); levels: pyramid levels (1 = original only); winsize:
    averaging window [px]; iterations: per level; poly_n: polynomial expansion neighbourhood (5 or
    7) with Gaussian ``poly_sigma`` (about 1.1 for 5, 1.5 for 7); gaussian_window: Gaussian instead
    of box averaging. ``progress`` is accepted for the common interface (one call, no bar).
    """
    pre, post = check_pair(pre, post)
    pyr_scale = number_in("pyr_scale", pyr_scale, 0.0, 0.99, low_open=True)
    levels = positive_int("levels", levels)
    winsize = positive_int("winsize", winsize)
    iterations = positive_int("iterations", iterations)
    if isinstance(poly_n, bool) or poly_n not in (5, 7):
        raise ParameterError(f"poly_n must be 5 or 7, got {poly_n!r}")
    poly_sigma = number_in("poly_sigma", poly_sigma, 0.0, 10.0, low_open=True)

    pre_u, post_u = unit_scale_each(pre, post)
    flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if gaussian_window else 0
    flow = cv2.calcOpticalFlowFarneback(to_uint8(pre_u), to_uint8(post_u), None, pyr_scale, levels,
                                        winsize, iterations, int(poly_n), poly_sigma, flags)
    dx, dy = flow[..., 0], flow[..., 1]
    return DisplacementField(dx, dy, photometric_confidence(pre_u, post_u, dx, dy))


def estimate_tvl1(pre: np.ndarray, post: np.ndarray, *, progress: bool = False,
                  attachment: float = 15.0, tightness: float = 0.3, num_warp: int = 5,
                  num_iter: int = 10, tol: float = 1e-4) -> DisplacementField:
    """scikit-image TV-L1 flow on jointly [0, 1]-scaled images.

    attachment: data-term weight (larger = less smoothing); tightness: coupling of the two
    variables of the splitting; num_warp: warps per pyramid level; num_iter: fixed-point iterations
    per warp; tol: stopping tolerance. ``progress`` is accepted for the common interface.
    """
    from skimage.registration import optical_flow_tvl1

    pre, post = check_pair(pre, post)
    attachment = number_in("attachment", attachment, 0.0, 1e6, low_open=True)
    tightness = number_in("tightness", tightness, 0.0, 1e6, low_open=True)
    num_warp = positive_int("num_warp", num_warp)
    num_iter = positive_int("num_iter", num_iter)
    tol = number_in("tol", tol, 0.0, 1.0, low_open=True)

    pre_u, post_u = unit_scale_each(pre, post)
    v, u = optical_flow_tvl1(pre_u, post_u, attachment=attachment, tightness=tightness,
                             num_warp=num_warp, num_iter=num_iter, tol=tol, prefilter=False,
                             dtype=np.float32)
    return DisplacementField(u, v, photometric_confidence(pre_u, post_u, u, v))
