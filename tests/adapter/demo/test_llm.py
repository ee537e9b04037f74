"""The demo fleet's LLM series respond to load as the model says: token demand follows each
workload's prompt/output mix and role, a full cache queues prompts and TTFT climbs, and decode
batches slow as load grows."""

from __future__ import annotations

import numpy as np
import pytest

from adapter.sources.demo.fleet import TOKEN_MIXES, DemoFleet, WorkloadSpec, default_fleet
from adapter.sources.demo.llm import TokenMix

from .test_fleet import DAY, THURSDAY, ConstantDemand, Recorder


def _over(recorder: Recorder, name: str, pod_prefix: str) -> float:
    """A counter's increase over the recording, summed over the pods whose name starts so."""
    found = [values for key, (_, values) in recorder.series(name=name).items() if dict(key)["pod"].startswith(pod_prefix)]
    assert found, (name, pod_prefix)
    return float(sum(values[-1] - values[0] for values in found))


def test_token_demand_follows_each_workloads_mix_and_role() -> None:
    fleet = default_fleet(start=THURSDAY, seed=5)
    recorder = Recorder()
    fleet.generate(THURSDAY + DAY, recorder)
    for pods, mix in (("llama-", TOKEN_MIXES["chat"]), ("mistral-", TOKEN_MIXES["code"])):
        requests = _over(recorder, "vllm:request_success_total", pods)
        assert _over(recorder, "vllm:prompt_tokens_total", pods) / requests == pytest.approx(mix.prompt_mean, rel=0.05)
        assert _over(recorder, "vllm:generation_tokens_total", pods) / requests == pytest.approx(mix.output_mean, rel=0.05)
    long = TOKEN_MIXES["long"]
    prefilled = _over(recorder, "vllm:request_success_total", "deepseek-prefill-")
    assert _over(recorder, "vllm:prompt_tokens_total", "deepseek-prefill-") / prefilled == pytest.approx(long.prompt_mean, rel=0.05)
    assert _over(recorder, "vllm:generation_tokens_total", "deepseek-prefill-") == pytest.approx(prefilled)  # one token each
    decoded = _over(recorder, "vllm:request_success_total", "deepseek-decode-")
    assert _over(recorder, "vllm:prompt_tokens_total", "deepseek-decode-") == 0  # prefilled elsewhere
    assert _over(recorder, "vllm:generation_tokens_total", "deepseek-decode-") / decoded == pytest.approx(long.output_mean, rel=0.05)


def _last_hour(demand_rps: float) -> tuple[float, float, float]:
    """(mean KV-cache fill, mean TTFT, mean ITL) over the last hour of two at a constant demand."""
    spec = WorkloadSpec("llama", "meta-llama/Llama-3.1-8B-Instruct", 2, 5.0, 1.0, tokens=TokenMix(1000.0, 250.0))
    fleet = DemoFleet([spec], ConstantDemand(demand_rps), start=THURSDAY, seed=2)
    recorder = Recorder()
    fleet.generate(THURSDAY + 7_200, recorder)
    timestamps, kv = recorder.total(name="vllm:kv_cache_usage_perc")
    last_hour = timestamps >= THURSDAY + 3_600
    first = int(np.flatnonzero(last_hour)[0]) - 1

    def mean_of(histogram: str) -> float:
        _, total = recorder.total(name=f"{histogram}_sum")
        _, count = recorder.total(name=f"{histogram}_count")
        return float((total[-1] - total[first]) / (count[-1] - count[first]))

    return (float(kv[last_hour].mean()) / 2, mean_of("vllm:time_to_first_token_seconds"),
            mean_of("vllm:inter_token_latency_seconds"))


def test_a_full_cache_queues_prompts_and_time_to_first_token_climbs() -> None:
    light_kv, light_ttft, light_itl = _last_hour(3.0)
    full_kv, full_ttft, full_itl = _last_hour(12.0)  # capacity is 10 requests per second
    assert light_kv < 0.5 and full_kv > 0.95
    assert full_ttft > 10 * light_ttft
    assert full_itl > 1.5 * light_itl
