"""Constant-velocity Kalman filter over boxes, batched: one call predicts or corrects every track.

State per track: ``(cx, cy, a, h, vcx, vcy, va, vh)`` with ``a = w / h``, the SORT/ByteTrack
parametrisation (aspect and height vary slowly for people; width follows from them).

Time. ByteTrack's noise constants are per frame of a fixed-rate video. Here a step is ``dt``
seconds and ``k = dt / period`` reference frames: velocities are stored per ``period`` seconds,
the transition moves the box by ``k`` velocities, and the process noise (a random walk) grows
linearly with ``k``. With ``dt == period`` this is exactly ByteTrack's filter; a tracker that sees
every 2nd or 3rd frame (LUNA ``rate``) or a 25 fps stream predicts the same motion per second.

Batched over tracks (means ``(n, 8)``, covariances ``(n, 8, 8)``) so a tracker with 50 objects
pays a few numpy calls per update instead of 50 small ones.
"""

from __future__ import annotations

import numpy as np

# ByteTrack / SORT noise weights: standard deviations as fractions of the box height, so a near
# (tall) person is allowed to move more pixels than a far one.
STD_WEIGHT_POSITION = 1 / 20
STD_WEIGHT_VELOCITY = 1 / 160
# Steps at or below zero (repeated or reordered timestamps) predict this many seconds instead:
# the covariance must still grow a little, and the transition must stay well defined.
MIN_DT = 1e-3


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(n, 4) corner boxes -> (n, 4) (cx, cy, w / h, h); zero heights are clamped to stay finite."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-6)
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(n, 4) (cx, cy, w / h, h) -> (n, 4) corner boxes."""
    half_w = xyah[:, 2] * xyah[:, 3] / 2
    half_h = xyah[:, 3] / 2
    return np.stack(
        [xyah[:, 0] - half_w, xyah[:, 1] - half_h, xyah[:, 0] + half_w, xyah[:, 1] + half_h], axis=1
    )


class BoxKalman:
    """The filter's matrices and noise model; state lives with the caller (arrays per track)."""

    def __init__(self, period: float = 0.2) -> None:
        if period <= 0:
            raise ValueError(f"Kalman period must be > 0 seconds, got {period}")
        self.period = period

    def initiate(self, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks at measured boxes, velocity 0 with a wide prior (ByteTrack's initiate)."""
        n = len(xyah)
        mean = np.zeros((n, 8))
        mean[:, :4] = xyah
        h = xyah[:, 3]
        std = np.empty((n, 8))
        std[:, [0, 1, 3]] = 2 * STD_WEIGHT_POSITION * h[:, None]
        std[:, 2] = 1e-2
        std[:, [4, 5, 7]] = 10 * STD_WEIGHT_VELOCITY * h[:, None]
        std[:, 6] = 1e-5
        cov = np.zeros((n, 8, 8))
        diagonal = np.arange(8)
        cov[:, diagonal, diagonal] = std**2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """State ``dt`` seconds later; non-positive ``dt`` is treated as ``MIN_DT``."""
        k = max(float(dt), MIN_DT) / self.period
        mean = mean.copy()
        mean[:, :4] += k * mean[:, 4:]
        # F P F^T for F = [[I, kI], [0, I]], written out in blocks (no (n, 8, 8) matmuls).
        pp, pv = cov[:, :4, :4], cov[:, :4, 4:]
        vp, vv = cov[:, 4:, :4], cov[:, 4:, 4:]
        out = np.empty_like(cov)
        out[:, :4, :4] = pp + k * (pv + vp) + k * k * vv
        out[:, :4, 4:] = pv + k * vv
        out[:, 4:, :4] = vp + k * vv
        out[:, 4:, 4:] = vv
        h = mean[:, 3]
        q = np.empty((len(mean), 8))
        q[:, [0, 1, 3]] = (STD_WEIGHT_POSITION * h[:, None]) ** 2
        q[:, 2] = 1e-2**2
        q[:, [4, 5, 7]] = (STD_WEIGHT_VELOCITY * h[:, None]) ** 2
        q[:, 6] = 1e-5**2
        diagonal = np.arange(8)
        out[:, diagonal, diagonal] += k * q
        return mean, out

    def update(self, mean: np.ndarray, cov: np.ndarray, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct row ``i`` of the state with measurement row ``i`` (the track's matched box)."""
        if len(mean) == 0:
            return mean, cov
        h = mean[:, 3]
        r = np.empty((len(mean), 4))
        r[:, [0, 1, 3]] = (STD_WEIGHT_POSITION * h[:, None]) ** 2
        r[:, 2] = 1e-1**2
        projected = cov[:, :4, :4].copy()
        diagonal = np.arange(4)
        projected[:, diagonal, diagonal] += r
        # K = P H^T S^-1; S is symmetric, so K^T = S^-1 (H P) is one batched solve.
        gain = np.linalg.solve(projected, cov[:, :4, :]).transpose(0, 2, 1)
        innovation = xyah - mean[:, :4]
        new_mean = mean + np.einsum("nij,nj->ni", gain, innovation)
        new_cov = cov - gain @ projected @ gain.transpose(0, 2, 1)
        return new_mean, new_cov
