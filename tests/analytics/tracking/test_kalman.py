"""BoxKalman: shapes, box conversions, constant velocity under irregular time steps, batching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analytics.tracking.kalman import MIN_DT, BoxKalman, xyah_to_xyxy, xyxy_to_xyah


def boxes_at(t: float, speed: tuple[float, float] = (50.0, -20.0)) -> np.ndarray:
    """(1, 4) xyxy of a 40x100 box whose centre moves at ``speed`` px/s from (200, 300)."""
    cx, cy = 200 + speed[0] * t, 300 + speed[1] * t
    return np.array([[cx - 20, cy - 50, cx + 20, cy + 50]])


def test_xyxy_xyah_round_trip() -> None:
    xyxy = np.array([[10.0, 20.0, 50.0, 120.0], [0.0, 0.0, 30.0, 60.0]])
    xyah = xyxy_to_xyah(xyxy)
    np.testing.assert_allclose(xyah[0], [30.0, 70.0, 0.4, 100.0])
    np.testing.assert_allclose(xyah_to_xyxy(xyah), xyxy)


def test_shapes_and_initial_state() -> None:
    kf = BoxKalman()
    mean, cov = kf.initiate(xyxy_to_xyah(np.vstack([boxes_at(0), boxes_at(1)])))
    assert mean.shape == (2, 8) and cov.shape == (2, 8, 8)
    assert np.all(mean[:, 4:] == 0)
    mean, cov = kf.predict(mean, cov, 0.1)
    assert mean.shape == (2, 8) and cov.shape == (2, 8, 8)
    mean, cov = kf.update(mean, cov, xyxy_to_xyah(np.vstack([boxes_at(0.1), boxes_at(1.1)])))
    assert mean.shape == (2, 8) and cov.shape == (2, 8, 8)
    np.testing.assert_allclose(cov, cov.transpose(0, 2, 1), atol=1e-9)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_empty_batch() -> None:
    kf = BoxKalman()
    mean, cov = kf.initiate(np.zeros((0, 4)))
    mean, cov = kf.predict(mean, cov, 0.1)
    mean, cov = kf.update(mean, cov, np.zeros((0, 4)))
    assert mean.shape == (0, 8) and cov.shape == (0, 8, 8)


@pytest.mark.parametrize(
    "times",
    [
        np.arange(0, 3.0, 0.1),  # every frame at 10 fps
        np.arange(0, 3.0, 0.3),  # every 3rd frame
        np.array([0, 0.1, 0.3, 0.4, 0.8, 0.9, 1.0, 1.5, 1.6, 2.0, 2.2, 2.3, 2.9]),  # irregular
    ],
)
def test_constant_velocity_is_learned_in_pixels_per_second(times: np.ndarray) -> None:
    """Whatever the time steps, the filter predicts where a constant-velocity box will be."""
    kf = BoxKalman(period=0.1)
    mean, cov = kf.initiate(xyxy_to_xyah(boxes_at(times[0])))
    for previous, t in itertools.pairwise(times):
        mean, cov = kf.predict(mean, cov, t - previous)
        mean, cov = kf.update(mean, cov, xyxy_to_xyah(boxes_at(t)))
    ahead = times[-1] + 0.7
    mean, _ = kf.predict(mean, cov, 0.7)
    np.testing.assert_allclose(xyah_to_xyxy(mean[:, :4]), boxes_at(ahead), atol=2.0)
    np.testing.assert_allclose(mean[0, 4:6] / kf.period, [50.0, -20.0], rtol=0.1)  # px/s


def test_one_long_step_moves_as_far_as_several_short_ones() -> None:
    kf = BoxKalman(period=0.1)
    mean, cov = kf.initiate(xyxy_to_xyah(boxes_at(0)))
    mean[:, 4:6] = [5.0, -2.0]  # px per 0.1 s
    one, _ = kf.predict(mean, cov, 0.3)
    three = mean
    for _ in range(3):
        three, _ = kf.predict(three, cov, 0.1)
    np.testing.assert_allclose(one, three)
    np.testing.assert_allclose(one[0, :2], mean[0, :2] + [15.0, -6.0])


def test_uncertainty_grows_with_the_time_step() -> None:
    kf = BoxKalman()
    mean, cov = kf.initiate(xyxy_to_xyah(boxes_at(0)))
    traces = [np.trace(kf.predict(mean, cov, dt)[1][0][:4, :4]) for dt in (0.04, 0.1, 0.3, 1.0)]
    assert traces == sorted(traces) and traces[0] < traces[-1]


@pytest.mark.parametrize("dt", [0.0, -0.5])
def test_non_positive_step_is_a_tiny_step(dt: float) -> None:
    kf = BoxKalman()
    mean, cov = kf.initiate(xyxy_to_xyah(boxes_at(0)))
    mean[:, 4] = 3.0
    predicted, grown = kf.predict(mean, cov, dt)
    expected, expected_cov = kf.predict(mean, cov, MIN_DT)
    np.testing.assert_allclose(predicted, expected)
    np.testing.assert_allclose(grown, expected_cov)
    assert np.all(np.isfinite(predicted)) and np.trace(grown[0]) > np.trace(cov[0])


def test_update_pulls_towards_measurement_and_shrinks_uncertainty() -> None:
    kf = BoxKalman()
    mean, cov = kf.initiate(xyxy_to_xyah(boxes_at(0)))
    mean, cov = kf.predict(mean, cov, 0.1)
    measured = xyxy_to_xyah(boxes_at(0) + np.array([10, 0, 10, 0]))
    updated, shrunk = kf.update(mean, cov, measured)
    assert mean[0, 0] < updated[0, 0] < measured[0, 0]
    assert np.trace(shrunk[0]) < np.trace(cov[0])


def test_batched_update_equals_row_by_row() -> None:
    kf = BoxKalman()
    rng = np.random.default_rng(0)
    boxes = np.vstack([boxes_at(t) for t in (0, 1, 2, 3)])
    mean, cov = kf.initiate(xyxy_to_xyah(boxes))
    mean, cov = kf.predict(mean, cov, 0.2)
    measured = xyxy_to_xyah(boxes + rng.normal(0, 3, boxes.shape))
    batch_mean, batch_cov = kf.update(mean, cov, measured)
    for i in range(4):
        row_mean, row_cov = kf.update(mean[i : i + 1], cov[i : i + 1], measured[i : i + 1])
        np.testing.assert_allclose(batch_mean[i], row_mean[0])
        np.testing.assert_allclose(batch_cov[i], row_cov[0])


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BoxKalman(period=0)
