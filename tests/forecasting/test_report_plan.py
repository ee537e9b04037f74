"""The plan's arithmetic: replicas at the HPA's target, each day's peak, and the carbon intensity
read at each forecast step."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.core import DAY_SECONDS
from forecasting.report.plan import daily_peaks, replicas_for
from forecasting.report.settings import CarbonIntensity, ReportError


def test_replicas_are_the_hpas_ceiling_and_never_zero() -> None:
    assert replicas_for(np.array([0.0, 7.9, 8.0, 8.1, -3.0]), 8.0).tolist() == [1, 1, 1, 2, 1]


def test_each_day_and_a_last_partial_one_have_their_peak() -> None:
    step = 3600.0
    times = 1000.0 + step * np.arange(30)  # a day and six hours
    upper = np.arange(30.0)
    upper[5] = 100.0
    peaks = daily_peaks(times, upper / 2, upper, 10.0, 2)
    assert [peak.day_start for peak in peaks] == [1000.0, 1000.0 + DAY_SECONDS]
    assert [peak.peak_time for peak in peaks] == [times[5], times[29]]
    assert [(peak.replicas, peak.gpus) for peak in peaks] == [(10, 20), (3, 6)]
    assert peaks[0].mean_requests_per_second == 50.0


def test_a_carbon_series_applies_its_latest_value_at_or_before_each_step() -> None:
    intensity = CarbonIntensity(times=(0.0, 100.0), values=(300.0, 50.0))
    assert intensity.at(np.array([0.0, 99.0, 100.0, 1e6])).tolist() == [300.0, 300.0, 50.0, 50.0]
    with pytest.raises(ReportError, match="starts at 0, after the forecast's first step at -5"):
        intensity.at(np.array([-5.0]))
    assert CarbonIntensity(constant=350.0).at(np.array([1.0, 2.0])).tolist() == [350.0, 350.0]


@pytest.mark.parametrize("arguments", [{}, {"constant": 1.0, "times": (0.0,), "values": (1.0,)},
                                       {"constant": -1.0}, {"times": (1.0, 0.0), "values": (1.0, 1.0)}])
def test_a_carbon_intensity_is_one_non_negative_constant_or_series(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CarbonIntensity(**arguments)  # type: ignore[arg-type]
