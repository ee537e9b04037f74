"""Every model by name: the candidates that selection compares, baselines included."""

from __future__ import annotations

from collections.abc import Callable

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import Model
from forecasting.models.arima import Arima
from forecasting.models.holt_winters import HoltWinters
from forecasting.models.learned import GradientBoostingForecaster, MLPForecaster

MODEL_FACTORIES: dict[str, Callable[[], Model]] = {
    Persistence.name: Persistence,
    SeasonalNaive.name: SeasonalNaive,
    HoltWinters.name: HoltWinters,
    Arima.name: Arima,
    MLPForecaster.name: MLPForecaster,
    GradientBoostingForecaster.name: GradientBoostingForecaster,
}
BASELINES = (Persistence.name, SeasonalNaive.name)
LEARNED = frozenset({MLPForecaster.name, GradientBoostingForecaster.name})
"""The models refit on the schedule's ``learned_refit_every_seconds``."""


def create(name: str) -> Model:
    """A new, unfitted model; raises KeyError naming the known models."""
    try:
        return MODEL_FACTORIES[name]()
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(MODEL_FACTORIES)})") from None
