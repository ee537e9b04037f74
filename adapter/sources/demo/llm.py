"""The demo fleet's LLM values: token counters, TTFT and inter-token histograms and KV-cache fill,
per pod and per scrape step (:mod:`adapter.sources.demo.exporters` renders them under vLLM's names).

The model, given what a pod served in a step, its pool's utilisation ρ and the queue's wait:

* prompt and output lengths: each step's mean is the workload's mean × a log-normal factor (a
  mix of short and long requests, as in the Azure LLM and Mooncake traces), or, when a token
  trace plays, the lengths that trace recorded for the step's requests; a prefill pool
  generates one token per request and a decode pool computes no prompt (the prefill pool did);
* TTFT median = prefill time of the mean prompt × (1 + 0.8 ρ²) + the queue's wait, so a pool
  whose cache is full queues prompts and TTFT climbs; a decode pool's first token is one decode
  step after the KV cache arrives;
* ITL median = 20 ms × (1 + 1.5 ρ) (bigger decode batches are slower), one gap per generated
  token;
* KV-cache fill = 0.85 × ρ (sequences resident at capacity) plus the rest as the queue builds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from adapter.sources.demo.demand import TokenLengths, hash_normal, stream_key
from adapter.sources.demo.exporters import Histogram
from adapter.sources.demo.series_math import accumulate, lognormal_cdf

TTFT_BUCKETS = (0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 20.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
TTFT_SIGMA = 0.5
ITL_SIGMA = 0.3
PREFILL_TOKENS_PER_SECOND = 10_000.0
"""Prompt tokens one GPU prefills per second at light load."""
ITL_SECONDS = 0.02
KV_AT_CAPACITY = 0.85
LENGTH_SIGMA = 0.25
"""Step-to-step spread of the mean prompt and output lengths."""


@dataclass(frozen=True)
class TokenMix:
    """A workload's mean prompt and output lengths in tokens, and its role when disaggregated."""

    prompt_mean: float
    output_mean: float
    role: str | None = None
    """``prefill``, ``decode``, or None for a pool that does both."""


@dataclass(frozen=True)
class PoolStep:
    """A pool's load in each step of a block: utilisation, queue wait and KV pressure."""

    utilisation: np.ndarray
    queue_wait_seconds: np.ndarray
    backlog: np.ndarray
    """Queue over one step's capacity: 0 idle, 1 a full step waiting."""


@dataclass(frozen=True)
class TokenSeries:
    """A pod's LLM values over a block of steps."""

    prompt_tokens: np.ndarray
    generation_tokens: np.ndarray
    kv_cache_usage: np.ndarray
    time_to_first_token: Histogram
    inter_token: Histogram


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    buckets: np.ndarray
    total: float = 0.0
    count: float = 0.0

    def advance(self, observed: np.ndarray, median: np.ndarray, sigma: float) -> Histogram:
        """Add ``observed`` values per step, log-normal around ``median``."""
        buckets = accumulate(self.buckets, observed[:, None] * lognormal_cdf(self.bounds, median, sigma))
        count = accumulate(self.count, observed)
        total = accumulate(self.total, observed * (median * math.exp(sigma**2 / 2)))
        self.buckets, self.count, self.total = buckets[-1].copy(), float(count[-1]), float(total[-1])
        return Histogram(self.bounds, buckets, count, total)


@dataclass
class PodTokens:
    """One pod's LLM counters, carried from block to block."""

    mix: TokenMix
    noise_key: int
    prompt: float = 0.0
    generation: float = 0.0
    ttft: _Histogram = field(default_factory=lambda: _Histogram(TTFT_BUCKETS, np.zeros(len(TTFT_BUCKETS))))
    itl: _Histogram = field(default_factory=lambda: _Histogram(ITL_BUCKETS, np.zeros(len(ITL_BUCKETS))))

    def advance(
        self, served: np.ndarray, pool: PoolStep, weight: float, steps: np.ndarray, lengths: TokenLengths | None = None
    ) -> TokenSeries:
        """The LLM values of the pod over ``steps``; ``lengths``, where the demand counts tokens,
        are the mean prompt and output lengths of each step's requests."""
        mix, rho = self.mix, pool.utilisation
        if lengths is None:
            lengths = (mix.prompt_mean * _mix_factor(self.noise_key, 4, steps),
                       mix.output_mean * _mix_factor(self.noise_key, 5, steps))
        prompt_len, output_len = lengths
        prompts = np.zeros_like(served) if mix.role == "decode" else served * prompt_len
        generated = served if mix.role == "prefill" else served * output_len
        slowdown = 1.0 + 0.8 * rho**2
        first_token = ITL_SECONDS if mix.role == "decode" else prompt_len / PREFILL_TOKENS_PER_SECOND
        ttft = first_token * slowdown + pool.queue_wait_seconds
        itl = ITL_SECONDS * (1.0 + 1.5 * rho)
        gaps = np.zeros_like(served) if mix.role == "prefill" else np.maximum(generated - served, 0.0)
        self.prompt = float((prompt := accumulate(self.prompt, prompts))[-1])
        self.generation = float((generation := accumulate(self.generation, generated))[-1])
        kv = KV_AT_CAPACITY * np.minimum(rho * weight, 1.0) + (1.0 - KV_AT_CAPACITY) * (1.0 - np.exp(-pool.backlog))
        first_tokens = self.ttft.advance(served, ttft, TTFT_SIGMA)
        token_gaps = self.itl.advance(gaps, itl, ITL_SIGMA)
        return TokenSeries(prompt, generation, np.clip(kv, 0.0, 1.0), first_tokens, token_gaps)


def _mix_factor(key: int, stream: int, steps: np.ndarray) -> np.ndarray:
    """A mean-one log-normal factor per step: the step's requests were longer or shorter."""
    factor: np.ndarray = np.exp(LENGTH_SIGMA * hash_normal(stream_key(key, stream), steps) - LENGTH_SIGMA**2 / 2)
    return factor
