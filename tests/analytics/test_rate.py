"""RateSampler: exact taken frames for frame and second periods, gaps, time resets, reset()."""

from __future__ import annotations

import pytest

from analytics.rate import Rate, RateSampler


def taken(rate: Rate, times: list[float], indices: list[int] | None = None) -> list[int]:
    sampler = RateSampler(rate)
    indices = list(range(len(times))) if indices is None else indices
    return [i for i, t in zip(indices, times, strict=True) if sampler.take(i, t)]


def accumulated(fps: float, n: int) -> list[float]:
    """Timestamps built by repeated addition, as a decoder clock drifts (0.1 + 0.1 + ...)."""
    times, t = [], 0.0
    for _ in range(n):
        times.append(t)
        t += 1 / fps
    return times


@pytest.mark.parametrize("period", [1, 3, 10])
def test_frame_period_takes_every_nth_index(period: int) -> None:
    times = [i / 25 for i in range(100)]
    assert taken(Rate("frame", period), times) == list(range(0, 100, period))


def test_frame_period_on_non_consecutive_indices() -> None:
    indices = [0, 2, 4, 5, 9, 10, 11, 12, 20, 21, 22, 23]
    times = [i / 25 for i in indices]
    assert taken(Rate("frame", 3), times, indices) == [0, 4, 9, 12, 20, 23]


def test_frame_period_first_call_taken_whatever_the_index() -> None:
    sampler = RateSampler(Rate("frame", 10))
    assert sampler.take(7, 0.0)
    assert not sampler.take(16, 0.0)
    assert sampler.take(17, 0.0)


def test_frame_index_going_backwards_restarts() -> None:
    sampler = RateSampler(Rate("frame", 5))
    assert [i for i in range(8) if sampler.take(i, 0.0)] == [0, 5]
    assert sampler.take(2, 0.0)
    assert not sampler.take(6, 0.0)
    assert sampler.take(7, 0.0)


def test_seconds_period_zero_takes_every_frame() -> None:
    times = accumulated(10, 100)
    assert taken(Rate("second", 0), times) == list(range(100))


def test_seconds_period_zero_takes_duplicate_timestamps() -> None:
    assert taken(Rate("second", 0), [0.0, 0.0, 0.5, 0.5]) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("period", "expected"),
    [(0.1, list(range(100))), (0.5, list(range(0, 100, 5))), (1.0, list(range(0, 100, 10)))],
)
def test_seconds_period_at_10fps_survives_float_drift(period: float, expected: list[int]) -> None:
    assert taken(Rate("second", period), accumulated(10, 100)) == expected
    assert taken(Rate("second", period), [i * 0.1 for i in range(100)]) == expected


def test_seconds_period_at_25fps() -> None:
    times = [i / 25 for i in range(100)]
    # 0.5 s is 12.5 frames: the first frame at or after each due time is 13 frames later.
    assert taken(Rate("second", 0.5), times) == list(range(0, 100, 13))
    assert taken(Rate("second", 1.0), times) == [0, 25, 50, 75]
    assert taken(Rate("second", 0.04), times) == list(range(100))


def test_seconds_period_at_29_97fps() -> None:
    times = [i * 1001 / 30000 for i in range(100)]
    # Frames are 33.37 ms apart, so frame 15 (0.5005 s) is the first one past 0.5 s.
    assert taken(Rate("second", 0.5), times) == [0, 15, 30, 45, 60, 75, 90]
    assert taken(Rate("second", 1.0), times) == [0, 30, 60, 90]
    assert len(taken(Rate("second", 0.0), times)) == 100


def test_seconds_period_with_gaps_counts_from_last_taken() -> None:
    times = [0.0, 0.3, 1.7, 2.0, 2.6, 2.7, 3.8]
    assert taken(Rate("second", 1.0), times) == [0, 2, 5, 6]


def test_timestamps_going_backwards_take_the_frame_and_restart() -> None:
    times = [10.0, 10.4, 11.0, 11.5, 0.2, 0.6, 1.2, 1.3]
    assert taken(Rate("second", 1.0), times) == [0, 2, 4, 6]


def test_reset_takes_the_next_frame() -> None:
    sampler = RateSampler(Rate("second", 1.0))
    assert sampler.take(0, 5.0)
    assert not sampler.take(1, 5.5)
    sampler.reset()
    assert sampler.take(2, 5.6)
    assert not sampler.take(3, 6.5)
    assert sampler.take(4, 6.6)

    frames = RateSampler(Rate("frame", 10))
    assert frames.take(0, 0.0)
    assert not frames.take(3, 0.0)
    frames.reset()
    assert frames.take(4, 0.0)
    assert not frames.take(13, 0.0)
    assert frames.take(14, 0.0)


def test_from_params() -> None:
    default = Rate("frame", 10)
    assert Rate.from_params(None, default) is default
    assert Rate.from_params({"unit": "second", "period": 2}, default) == Rate("second", 2.0)
    assert Rate.from_params({"unit": "frame", "period": 1}, default) == Rate("frame", 1)


@pytest.mark.parametrize(("unit", "period"), [("minute", 1), ("frame", 0), ("frame", 2.5), ("second", -1)])
def test_invalid_rate(unit: str, period: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        Rate(unit, period)


@pytest.mark.parametrize("rate", [Rate("frame", 1), Rate("frame", 3), Rate("frame", 10), Rate("second", 0.5)])
@pytest.mark.parametrize("lag", [1, 4, 9])
def test_ahead_never_declines_a_frame_take_will_take(rate: Rate, lag: int) -> None:
    """The decoder asks ``ahead`` up to ``lag`` frames before ``take`` sees the frame; a False
    leaves the frame undecoded, so it must never come for a frame that would be taken."""
    times = [i / 25 for i in range(300)]
    sampler = RateSampler(rate)
    declined, got = set(), []
    for i in range(len(times)):
        if i + lag < len(times) and not sampler.ahead(i + lag, times[i + lag]):
            declined.add(i + lag)
        if i not in declined and sampler.take(i, times[i]):  # a declined frame is never offered
            got.append(i)
    assert got == taken(rate, times)
    assert bool(declined) == (rate.period != 1)


def test_ahead_has_no_side_effect() -> None:
    sampler = RateSampler(Rate("frame", 5))
    assert sampler.ahead(0, 0.0) and sampler.ahead(3, 0.3)
    assert sampler.take(0, 0.0)
    assert [i for i in range(1, 16) if sampler.ahead(i, i / 10)] == [5, 10, 15]
    assert sampler.take(5, 0.5)
