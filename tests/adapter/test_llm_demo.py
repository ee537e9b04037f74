"""The demo serves every LLM signal, and forecasts of token demand, through the real API path for
each of its workloads, the disaggregated pools included."""

from __future__ import annotations

from urllib.parse import quote

from adapter.settings.config import ForecastSettings
from adapter.tracking.tracker import ForecastKey
from forecasting.quantity import parse_quantity

from .demo_adapter import demo_adapter

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*"
SIGNALS = ("kv_cache_utilization", "ttft_p99_seconds", "itl_p99_seconds", "prompt_tokens_per_second",
           "generation_tokens_per_second", "requests_running")
TOKENS = ("prompt_tokens_per_second", "generation_tokens_per_second")


async def test_every_llm_signal_answers_for_every_demo_workload() -> None:
    async with demo_adapter() as demo:
        await demo.get(f"{EXTERNAL}/requests_per_second?labelSelector=app%3Dllama", status=200)  # generates the fleet
        selectors = {state.selector: name for name, state in demo.fleet.current().items()}
        assert "app=deepseek,llm-d.ai/role=decode" in selectors
        for selector in selectors:
            values = {}
            for signal in SIGNALS:
                body = await demo.get(f"{EXTERNAL}/{signal}?labelSelector={quote(selector)}", status=200)
                values[signal] = float(parse_quantity(body["items"][0]["value"]))
                pods = await demo.get(f"{CUSTOM}/{signal}?labelSelector={quote(selector)}", status=200)
                assert len(pods["items"]) == demo.fleet.current()[selectors[selector]].replicas
            assert 0 < values["kv_cache_utilization"] <= 1, selector
            assert values["ttft_p99_seconds"] > 0 and values["generation_tokens_per_second"] > 0, selector
            if selector.endswith("role=prefill"):
                assert values["itl_p99_seconds"] == 0  # one token per request: no gaps between tokens
            else:
                assert values["itl_p99_seconds"] > 0, selector
            if selector.endswith("role=decode"):
                assert values["prompt_tokens_per_second"] == 0  # the prefill pool computed the prompts
            else:
                # every mix's prompts are longer than its outputs
                assert values["prompt_tokens_per_second"] > values["generation_tokens_per_second"], selector


async def test_token_demand_is_forecast_beside_requests() -> None:
    async with demo_adapter(forecasts=ForecastSettings(history="1h", workers=1)) as demo:
        selector = "app=deepseek,llm-d.ai/role=prefill"
        for signal in TOKENS:
            await demo.get(f"{EXTERNAL}/{signal}_forecast?labelSelector={quote(selector)}", status=200)
        assert demo.tracker is not None
        await demo.tracker.refresh_now()
        for signal in TOKENS:
            view = demo.tracker.view(ForecastKey(signal, "default", selector))
            assert view.state in ("ready", "fallback") and view.upper is not None, view.reason
            body = await demo.get(f"{EXTERNAL}/{signal}_forecast?labelSelector={quote(selector)}", status=200)
            assert body["items"][0]["metricLabels"]["foresight.io/state"] == view.state
