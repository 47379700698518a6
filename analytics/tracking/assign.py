"""Thresholded minimum-cost assignment, as ByteTrack's ``lap.lapjv(extend_cost=True, cost_limit=...)``.

Plain Hungarian followed by dropping pairs over the limit is not the same: it may spend a pair
over the limit and thereby push a valid pair out. Extending the matrix with "unmatched" slots
that cost ``limit / 2`` per side makes leaving a row and a column unmatched cost exactly
``limit``, so the optimum pairs only below the limit and is the best among such assignments.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

_EMPTY_PAIRS = np.zeros((0, 2), dtype=np.intp)


def assign(cost: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost pairs with cost <= ``limit``: ``(pairs (k, 2), unmatched rows, unmatched cols)``."""
    n, m = cost.shape
    # Rows and columns with no admissible pair can only stay unmatched: keep them out of the
    # solver, which is usually most of them (each person overlaps one or two tracks).
    admissible = cost <= limit
    rows = np.flatnonzero(admissible.any(axis=1))
    cols = np.flatnonzero(admissible.any(axis=0))
    if len(rows) == 0:
        return _EMPTY_PAIRS, np.arange(n), np.arange(m)
    sub = cost[np.ix_(rows, cols)]
    r, c = len(rows), len(cols)
    extended = np.full((r + c, c + r), limit / 2)
    extended[:r, :c] = np.minimum(sub, limit + 1.0)  # keep it finite; such pairs never win
    extended[r:, c:] = 0.0
    row_ind, col_ind = linear_sum_assignment(extended)
    keep = (row_ind < r) & (col_ind < c)
    row_ind, col_ind = row_ind[keep], col_ind[keep]
    keep = sub[row_ind, col_ind] <= limit
    pairs = np.stack([rows[row_ind[keep]], cols[col_ind[keep]]], axis=1)
    matched_rows = np.zeros(n, dtype=bool)
    matched_rows[pairs[:, 0]] = True
    matched_cols = np.zeros(m, dtype=bool)
    matched_cols[pairs[:, 1]] = True
    return pairs, np.flatnonzero(~matched_rows), np.flatnonzero(~matched_cols)
