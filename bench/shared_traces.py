"""What the trace benchmarks share: where the traces are, and when a trace counts as having
daily or weekly structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

STRUCTURE_AUTOCORRELATION = 0.3
"""Autocorrelation at one day (or week) from which a trace counts as structured."""


def traces_folder() -> Path:
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "traces"
    if not folder.is_dir():
        raise SystemExit(f"no traces: {folder} is not a folder (the benchmark reads ../shared/traces)")
    return folder


def autocorrelation(rates: np.ndarray, lag: int) -> float | None:
    """Correlation of the rate with itself ``lag`` steps later over pairs of known values; None
    when the trace is shorter than two lags."""
    if rates.shape[0] < 2 * lag:
        return None
    now, later = rates[:-lag], rates[lag:]
    known = np.isfinite(now) & np.isfinite(later)
    return float(np.corrcoef(now[known], later[known])[0, 1])
