"""The demo playing a token trace serves the trace's token demand: the preset's token signals,
answered by the demo's own PromQL engine, follow the trace's token columns row by row."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.commands.demo import DEMO_SIGNALS
from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import Settings
from adapter.signals.presets import resolve_rules
from adapter.signals.rules import QueryScope, render
from adapter.sources.demo.fleet import NAMESPACE, default_fleet
from adapter.sources.demo.source import DemoSource
from forecasting.traces import read_trace

START = 1_700_000_040.0
ROW_S = 60
#: Requests stay level (the fleet keeps up, nothing queues) while tokens per request swing.
ROWS = [(60, 6_000, 1_200), (60, 120_000, 600), (60, 30_000, 24_000), (60, 600, 60)]
#: The pools that compute prompts: deepseek's decode pool computes none.
PROMPT_SELECTORS = ("app=llama", "app=mistral", "app=deepseek,llm-d.ai/role=prefill")


@pytest.fixture
def source(tmp_path: Path) -> Iterator[DemoSource]:
    path = tmp_path / "tokens.csv"
    path.write_text("timestamp,requests,prompt_tokens,generation_tokens\n"
                    + "".join(f"{i * ROW_S},{r},{p},{g}\n" for i, (r, p, g) in enumerate(ROWS)), encoding="utf-8")
    end = START + ROW_S * len(ROWS)
    demo = DemoSource(default_fleet(start=START - 300, trace=read_trace(path), trace_origin=START), clock=lambda: end)
    demo.advance(end)
    asyncio.run(demo.start())
    yield demo
    asyncio.run(demo.close())


async def test_prompt_tokens_per_second_follow_the_traces_prompt_tokens(source: DemoSource) -> None:
    rule = resolve_rules(Settings(signals=DEMO_SIGNALS), source="test")["prompt_tokens_per_second"]
    for row, (_, prompt_tokens, _) in enumerate(ROWS):
        at = START + ROW_S * (row + 1)  # the one-minute window covers this row alone
        served = 0.0
        for selector in PROMPT_SELECTORS:
            [sample] = await source.instant(render(rule.query, rule, QueryScope(NAMESPACE, parse_selector(selector))), at=at)
            served += sample.value
        assert served == pytest.approx(prompt_tokens / ROW_S, rel=1e-6), row
