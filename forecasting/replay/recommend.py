"""The configuration to serve: the cheapest one of a frontier sweep that kept the share of requests
over the SLO within a budget on the replayed history, beside the cheapest reactive HPA that did.

A predictive configuration is recommended only when it saves at least :data:`MIN_SAVING` of the
GPU-hours of that reactive HPA: a forecast adds a model and a pipeline to the scaling path, and a
saving smaller than the replay's own noise (the sweep's neighbouring targets differ by more) does
not pay for them. Otherwise the reactive HPA is recommended, and the recommendation says why.
Where no configuration meets the budget, none is recommended and the one closest to it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from forecasting.core import duration_text
from forecasting.hpa.manifest_writer import hpa_manifest
from forecasting.replay.controllers import forecast_of
from forecasting.replay.simulation import ReplaySettings
from forecasting.replay.sweep import FrontierResult, Run

MIN_SAVING = 0.02
"""The least share of the reactive HPA's GPU-hours a predictive configuration must save."""


@dataclass(frozen=True)
class Workload:
    """What the manifests name: the Deployment (and its ``app`` label) and its namespace."""

    name: str = "inference"
    namespace: str = "default"


@dataclass(frozen=True, eq=False)
class Recommendation:
    max_slo_violation_share: float
    chosen: Run | None
    """The cheapest run within the budget, as the rule above picks it; None when none is."""
    reactive: Run | None
    """The cheapest reactive run within the budget."""
    predictive: Run | None
    """The cheapest predictive run within the budget."""
    closest: Run
    """The run with the fewest requests over the SLO (the cheaper of equals)."""

    @property
    def reason(self) -> str:
        """Why :attr:`chosen` is what it is, in one sentence."""
        budget = f"{self.max_slo_violation_share:.3g} of requests over the SLO"
        if self.chosen is None:
            return (f"no configuration kept within {budget}; the fewest was "
                    f"{self.closest.metrics.slo_violation_share:.3%}")
        if self.reactive is None:
            return f"only predictive configurations kept within {budget}"
        if self.chosen is self.reactive:
            if self.predictive is None:
                return f"no predictive configuration kept within {budget}"
            saving = 1 - self.predictive.metrics.gpu_hours / self.reactive.metrics.gpu_hours
            return (f"the cheapest predictive configuration within {budget} saves {saving:.1%} of the GPU-hours, "
                    f"less than the {MIN_SAVING:.0%} a forecast must save to be worth serving")
        saving = 1 - self.chosen.metrics.gpu_hours / self.reactive.metrics.gpu_hours
        return f"it needs {saving:.1%} fewer GPU-hours than the cheapest reactive HPA within {budget}"


def recommend(result: FrontierResult, max_slo_violation_share: float) -> Recommendation:
    """The recommendation of ``result``'s runs (the default reactive HPA among them) for a budget
    of ``max_slo_violation_share`` (a share, 0.01 for 1 %)."""
    if not 0 <= max_slo_violation_share < 1:
        raise ValueError(f"the budget of requests over the SLO must be a share in [0, 1), not {max_slo_violation_share}")
    runs = (*result.runs, result.default_reactive)
    within = [run for run in runs if run.metrics.slo_violation_share <= max_slo_violation_share]
    reactive = _cheapest(run for run in within if not run.config.predictive)
    predictive = _cheapest(run for run in within if run.config.predictive)
    chosen = reactive
    if predictive is not None and (reactive is None or predictive.metrics.gpu_hours
                                   <= (1 - MIN_SAVING) * reactive.metrics.gpu_hours):
        chosen = predictive
    closest = min(runs, key=lambda run: (run.metrics.slo_violation_share, run.metrics.gpu_hours))
    return Recommendation(max_slo_violation_share, chosen, reactive, predictive, closest)


def _cheapest(runs: Iterable[Run]) -> Run | None:
    return min(runs, key=lambda run: (run.metrics.gpu_hours, run.metrics.slo_violation_share), default=None)


def hpa_document(run: Run, settings: ReplaySettings, workload: Workload) -> dict[str, Any]:
    """The HorizontalPodAutoscaler ``run`` replayed, for ``workload``."""
    return hpa_manifest(run.config.hpa(settings), workload=workload.name, namespace=workload.namespace)


def forecast_settings(run: Run, settings: ReplaySettings, workload: Workload) -> dict[str, Any] | None:
    """The ``forecasts`` section of the adapter's config that serves ``run``'s forecast (None for
    a reactive run): the calibration replayed, and the workload's entry with its lead, window and
    quantile, tracked from start-up."""
    config = run.config
    if config.quantile is None or config.lead_seconds is None or config.window_seconds is None:
        return None
    entry = {"namespace": workload.namespace, "selector": f"app={workload.name}",
             "lead": duration_text(config.lead_seconds), "window": duration_text(config.window_seconds),
             "quantile": config.quantile, "track": [forecast_of(settings.signal)]}
    return {"calibration": settings.calibration, "workloads": [entry]}
