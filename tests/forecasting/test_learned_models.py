"""The learned forecasters (gradient boosting, MLP) on synthetic series whose truth is known.

The model contract (shapes, nesting, NotFitted, ...) is in ``test_model_contract.py``; here each
test checks one forecasting behaviour, against the noise-free truth where there is one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor  # type: ignore[import-untyped]
from sklearn.neural_network import MLPRegressor  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from forecasting.core import FloatArray, NotEnoughData, Series
from forecasting.models.learned import GradientBoostingForecaster, MLPForecaster

STEP = 300.0  # 5 minutes
DAY = 288  # steps
START = 1_700_000_000.0
AMPLITUDE = 40.0  # percent of the level: 40 at the default level of 100

ModelClass = type[GradientBoostingForecaster] | type[MLPForecaster]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """As in the worker processes (OMP_NUM_THREADS=1): on a busy machine two OpenMP threads per
    fit make these tests many times slower without changing what they check."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(params=[GradientBoostingForecaster, MLPForecaster], ids=lambda cls: cls.name)
def model_class(request: pytest.FixtureRequest) -> ModelClass:
    cls: ModelClass = request.param
    return cls


def daily(
    steps: int, *, seed: int = 0, noise: float = 2.0, level: float = 100.0
) -> tuple[FloatArray, FloatArray]:
    """(observed, truth): a daily sine around ``level`` plus white noise."""
    phase = 2 * np.pi * np.arange(steps) / DAY
    truth = level * (1 + AMPLITUDE / 100 * np.sin(phase))
    observed = truth + np.random.default_rng(seed).normal(0, noise * level / 100, steps)
    return observed, truth


def series(values: FloatArray) -> Series:
    return Series(values, STEP, START)


def test_daily_seasonality_is_recovered_hours_ahead(model_class: ModelClass) -> None:
    # six hours across the steepest stretch of the sine: extrapolating the recent window alone
    # (no day lag, no time of day) drifts well outside these bounds
    fitted = 8 * DAY + DAY // 2 - 36
    observed, truth = daily(fitted + 72, seed=1)
    result = model_class().fit(series(observed[:fitted])).predict(72)
    error = np.abs(result.mean - truth[fitted:])
    assert error.mean() < 0.075 * AMPLITUDE
    assert error.max() < 0.15 * AMPLITUDE


def test_trend_is_followed(model_class: ModelClass) -> None:
    fitted, slope = 3 * DAY, 0.5
    truth = 100 + slope * np.arange(fitted + 24, dtype=np.float64)
    observed = truth + np.random.default_rng(2).normal(0, 1.0, truth.shape[0])
    result = model_class().fit(series(observed[:fitted])).predict(24)
    error = np.abs(result.mean - truth[fitted:])
    flat = np.abs(truth[fitted - 1] - truth[fitted:])  # the error of holding the last true level
    assert error.mean() < 0.5 * flat.mean()
    assert result.mean[-1] - result.mean[0] > 0.5 * slope * 23


def test_level_shift_is_followed_after_update_without_refit(
    model_class: ModelClass, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted, later, shift = 8 * DAY, 4 * 12, 50.0  # the shift has lasted 4 hours (two windows)
    observed, truth = daily(fitted + later + 12, seed=3)
    model = model_class().fit(series(observed[:fitted]))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("update must not fit an estimator")

    monkeypatch.setattr(HistGradientBoostingRegressor, "fit", refuse)
    monkeypatch.setattr(MLPRegressor, "fit", refuse)
    shifted = observed[: fitted + later].copy()
    shifted[fitted:] += shift
    result = model.update(series(shifted)).predict(12)
    assert np.abs(result.mean - (truth[fitted + later :] + shift)).mean() < 0.15 * shift


def test_same_input_gives_the_same_forecast(model_class: ModelClass) -> None:
    observed, _ = daily(8 * DAY + 50, seed=4)

    def run(seed: int) -> FloatArray:
        model = model_class(seed=seed).fit(series(observed[: 8 * DAY]))
        return model.update(series(observed)).predict(12).mean

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))  # the comparison above can tell runs apart


def test_gaps_are_tolerated(model_class: ModelClass) -> None:
    fitted = 8 * DAY + 100
    observed, truth = daily(fitted + 24, seed=5)
    values = observed[:fitted].copy()
    values[3 * DAY : 3 * DAY + 72] = np.nan  # six hours missing
    values[np.random.default_rng(6).choice(fitted, 100, replace=False)] = np.nan  # scattered misses
    values[-2:] = np.nan  # the newest steps not scraped yet
    result = model_class().fit(series(values)).predict(24)
    assert np.isfinite(result.upper).all() and np.isfinite(result.lower).all()
    assert np.abs(result.mean - truth[fitted:]).mean() < 0.15 * AMPLITUDE


def test_short_history_is_not_enough_data(model_class: ModelClass) -> None:
    observed, _ = daily(DAY + DAY // 2)
    with pytest.raises(NotEnoughData):
        model_class().fit(series(observed[:72]))  # six hours
    assert np.isfinite(model_class().fit(series(observed)).predict(6).mean).all()  # a day and a half fits


def test_intervals_are_honest_on_held_out_data(model_class: ModelClass) -> None:
    """Upper bounds at q=0.9 are exceeded about a tenth of the time on later data of the process."""
    fitted = 8 * DAY
    rng = np.random.default_rng(7)
    shocks = rng.normal(0, 4.0, fitted + DAY)
    noise = np.zeros_like(shocks)
    for i in range(1, noise.shape[0]):  # autocorrelated noise: errors grow with the horizon
        noise[i] = 0.6 * noise[i - 1] + shocks[i]
    values = daily(fitted + DAY, noise=0.0)[1] + noise
    model = model_class().fit(series(values[:fitted]))
    above = below = total = 0
    widths = []
    for origin in range(fitted, fitted + DAY - 12, 6):
        result = model.update(series(values[:origin])).predict(12, quantile=0.9)
        actual = values[origin : origin + 12]
        above += int((actual > result.upper).sum())
        below += int((actual < result.lower).sum())
        total += actual.shape[0]
        widths.append(float((result.upper - result.lower).mean()))
    assert above / total <= 0.2
    assert below / total <= 0.2
    # honest, not merely wide: the noise has sd 5, so a 5%-95% band is about 16 wide
    assert np.mean(widths) < 25


def test_one_model_serves_every_magnitude(model_class: ModelClass) -> None:
    fitted = 8 * DAY + 100
    for level in (1e-3, 1e6):
        observed, truth = daily(fitted + 24, seed=8, level=level)
        result = model_class().fit(series(observed[:fitted])).predict(24)
        assert np.abs(result.mean - truth[fitted:]).mean() < 0.05 * level


def test_horizons_past_one_block_are_chained_with_wider_intervals(model_class: ModelClass) -> None:
    model = model_class(max_horizon=24)
    fitted = 8 * DAY + 100
    observed, truth = daily(fitted + 72, seed=9)
    result = model.fit(series(observed[:fitted])).predict(72)
    assert np.abs(result.mean - truth[fitted:]).mean() < 0.1 * AMPLITUDE
    width = result.upper - result.lower
    assert width[71] > width[23]
    assert any("chained" in note for note in result.notes)


def test_mlp_convergence_is_a_note_not_a_warning() -> None:
    # pytest turns warnings into errors here, so a leaked ConvergenceWarning fails the fit
    observed, _ = daily(3 * DAY)
    result = MLPForecaster(max_iter=2).fit(series(observed)).predict(3)
    assert any("before converging" in note for note in result.notes)


def test_update_at_another_step_is_refused() -> None:
    observed, _ = daily(3 * DAY)
    model = GradientBoostingForecaster().fit(series(observed))
    with pytest.raises(ValueError, match="step"):
        model.update(Series(observed, 60.0, START))


def test_mlp_batch_is_cut_to_the_training_rows_without_a_warning() -> None:
    # pytest turns warnings into errors here: scikit-learn warns of a batch larger than the rows
    observed, _ = daily(3 * DAY)
    result = MLPForecaster(batch=10**6).fit(series(observed)).predict(3)
    assert np.isfinite(result.mean).all()


def test_gradient_boosting_trees_have_at_most_the_leaves_given() -> None:
    # from one origin (one level and scale for the whole block), one tree tells a block's steps
    # apart in at most as many groups as it has leaves
    observed, _ = daily(3 * DAY)

    def groups(leaves: int) -> int:
        result = GradientBoostingForecaster(iterations=1, leaves=leaves).fit(series(observed)).predict(24)
        return int(np.unique(result.mean.round(9)).shape[0])

    assert groups(2) <= 2 < groups(31)
