"""The general-websocket filter grammar, including its allowed operator/type pairs."""

from __future__ import annotations

import pytest

from analytics.json_filters import FilterError, parse_filter

DOC = {"camera": {"id": "gate-7", "zone": 3}, "score": 0.82, "label": "vip guest"}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("camera.id", "gate-7", True),
        ("camera.id__neq", "gate-7", False),
        ("camera.zone:integer", "3", True),
        ("camera.zone__gt:integer", "2", True),
        ("camera.zone__lte:integer", "2", False),
        ("score__gte:numeric", "0.8", True),
        ("score__lt:numeric", "0.8", False),
        ("label__like", "vip%", True),
        ("label__nlike", "%guest", False),
        ("camera.id__in", "gate-1,gate-7", True),
        ("camera.id__nin", "gate-1,gate-7", False),
        ("missing.field", "x", False),
        ("missing.field__neq", "x", True),
    ],
)
def test_operators(key: str, value: str, expected: bool) -> None:
    assert parse_filter(key, value).matches(DOC) is expected


@pytest.mark.parametrize(
    ("key", "value"),
    [("a__like:integer", "1"), ("a__between", "1"), ("a:float", "1"), ("a:integer", "x"), ("a b", "1")],
)
def test_bad_filters_are_named(key: str, value: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(key, value)
