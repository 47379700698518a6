"""``emit_events_filters`` (L8401) as Argus can evaluate them.

Filters on basic attributes, liveness and deepfake are refused when a handler is created
(``capabilities``), so what remains to evaluate per event is the ``match`` filter: bounds on
the best similarity found under a match-policy label.
"""

from __future__ import annotations

from typing import Any


def passes(filters: dict[str, Any] | None, best_by_label: dict[str, float]) -> bool:
    """True when the event satisfies every ``match`` condition (no filters = pass)."""
    for condition in (filters or {}).get("match") or []:
        best = best_by_label.get(condition["label"])
        if best is None:
            return False  # "If there are no matching results for any event, the event is skipped."
        if "similarity__gte" in condition and best < condition["similarity__gte"]:
            return False
        if "similarity__lte" in condition and best > condition["similarity__lte"]:
            return False
    return True
