"""Arithmetic the demo fleet's series share: counters that carry on across blocks, and Φ."""

from __future__ import annotations

import math

import numpy as np


def accumulate(carry: float | np.ndarray, increments: np.ndarray) -> np.ndarray:
    """Running total continuing from ``carry``; one sequential sum, so chunking cannot change it."""
    first = np.asarray(carry, dtype=np.float64)[None, ...]
    return np.cumsum(np.concatenate((first, increments)), axis=0)[1:]


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Φ(z) via Abramowitz & Stegun 7.1.26 (error < 1.5e-7); numpy has no vectorised erf."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    cdf: np.ndarray = 0.5 * (1.0 + np.sign(z) * erf)
    return cdf


def lognormal_cdf(bounds: tuple[float, ...], median: np.ndarray, sigma: float) -> np.ndarray:
    """Share of log-normal observations at or under each bound, per step (steps × bounds)."""
    return normal_cdf((np.log(bounds)[None, :] - np.log(median)[:, None]) / sigma)
