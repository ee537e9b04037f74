"""Tests for reading ``timestamp,requests`` traces: every error case, NaN handling, time forms."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from forecasting.traces import Trace, TraceError, read_trace

TRACES_DIR = Path(__file__).resolve().parents[1] / "data" / "traces"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def unix(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# --- valid files -------------------------------------------------------------------------------


def test_relative_integer_seconds(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n0,10\n3,16\n6,2\n", "moon_3s.csv"))
    assert trace.name == "moon_3s"
    assert trace.step_seconds == 3.0
    assert trace.start == 0.0
    assert trace.wall_clock is False
    assert len(trace) == 3
    assert trace.requests.tolist() == [10.0, 16.0, 2.0]
    assert trace.duration_seconds == 9.0
    np.testing.assert_allclose(trace.rate_per_second(), [10 / 3, 16 / 3, 2 / 3])


def test_relative_float_seconds(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n0.0,1\n0.1,2\n0.2,3\n0.30000000000000004,4\n"))
    assert trace.step_seconds == pytest.approx(0.1)
    assert trace.requests.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_unix_seconds_are_wall_clock(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n1700000000,5\n1700000060,6\n"))
    assert trace.wall_clock is True
    assert trace.start == 1700000000.0
    assert trace.step_seconds == 60.0


def test_iso_without_offset_is_utc(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n2023-11-16T18:17:03,1\n2023-11-16T18:17:04,7\n"))
    assert trace.wall_clock is True
    assert trace.start == datetime(2023, 11, 16, 18, 17, 3, tzinfo=timezone.utc).timestamp()
    assert trace.step_seconds == 1.0


def test_iso_with_offset(tmp_path: Path) -> None:
    text = "timestamp,requests\n1995-07-01T00:00:00-04:00,42\n1995-07-01T00:01:00-04:00,61\n"
    trace = read_trace(write(tmp_path, text))
    assert trace.start == unix("1995-07-01T04:00:00+00:00")
    assert trace.step_seconds == 60.0
    assert trace.wall_clock is True


def test_iso_offsets_may_change_within_a_file(tmp_path: Path) -> None:
    text = "timestamp,requests\n2024-01-01T00:00:00+00:00,1\n2024-01-01T02:01:00+02:00,2\n2024-01-01T00:02:00Z,3\n"
    trace = read_trace(write(tmp_path, text))
    assert trace.requests.tolist() == [1.0, 2.0, 3.0]


def test_empty_cell_is_nan_not_zero(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n0,4\n60,\n120,0\n"))
    assert trace.requests[0] == 4.0
    assert math.isnan(trace.requests[1])
    assert trace.requests[2] == 0.0
    assert math.isnan(trace.rate_per_second()[1])


def test_whole_step_gap_is_filled_with_nan(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n0,1\n60,2\n240,5\n300,6\n"))
    assert len(trace) == 6
    assert trace.duration_seconds == 360.0
    np.testing.assert_array_equal(trace.requests, [1.0, 2.0, np.nan, np.nan, 5.0, 6.0])


def test_iso_gap_is_filled_with_nan(tmp_path: Path) -> None:
    text = (
        "timestamp,requests\n"
        "1998-04-30T21:30:00+00:00,2\n1998-04-30T21:31:00+00:00,11\n1998-04-30T21:33:00+00:00,3\n"
    )
    trace = read_trace(write(tmp_path, text))
    np.testing.assert_array_equal(trace.requests, [2.0, 11.0, np.nan, 3.0])


def test_trailing_blank_line_and_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftimestamp,requests\r\n0,1\r\n1,2\r\n\r\n".encode())
    assert read_trace(path).requests.tolist() == [1.0, 2.0]


def test_requests_are_read_only(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n0,1\n1,2\n"))
    with pytest.raises(ValueError):
        trace.requests[0] = 5.0


def test_trace_copies_the_array_it_is_given() -> None:
    counts = np.array([1.0, 2.0])
    trace = Trace(name="x", step_seconds=1.0, start=0.0, wall_clock=False, requests=counts)
    counts[0] = 9.0
    assert trace.requests[0] == 1.0
    assert counts.flags.writeable


TOKENS = "timestamp,requests,prompt_tokens,generation_tokens\n"


def test_a_token_trace_gives_its_demand_in_requests_or_tokens(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, TOKENS + "0,2,3000,400\n60,1,1500,\n180,3,900,120\n"))
    assert trace.requests.tolist()[:2] == [2.0, 1.0] and math.isnan(trace.requests[2])
    assert trace.demand("requests") is trace
    prompts = trace.demand("prompt_tokens")
    assert prompts.requests[[0, 1, 3]].tolist() == [3000.0, 1500.0, 900.0] and math.isnan(prompts.requests[2])
    generated = trace.demand("generation_tokens")
    assert math.isnan(generated.requests[1]) and generated.requests[3] == 120.0  # empty cell: no record
    assert (generated.step_seconds, generated.start) == (60.0, 0.0)


def test_tokens_are_asked_of_a_trace_that_has_them(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp,requests\n0,1\n1,2\n", "plain.csv"))
    with pytest.raises(TraceError, match='plain: no generation_tokens column; a token trace has the header'):
        trace.demand("generation_tokens")
    with pytest.raises(TraceError, match="no demand 'tokens'"):
        trace.demand("tokens")


# --- errors: each names the file, the line and the field ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time,requests\n0,1\n1,2\n",
         r':1: header: expected "timestamp,requests" or "timestamp,requests,prompt_tokens,generation_tokens", '
         r'got "time,requests"'),
        ("0,1\n1,2\n", r':1: header: expected "timestamp,requests" or .*, got "0,1"'),
        ("", r":1: header: expected \"timestamp,requests\" or .*, got an empty file"),
        ("timestamp,requests\n0,1\n1,abc\n", r':3: requests: "abc" is not a number'),
        ("timestamp,requests\n0,1\n1,-3\n", r':3: requests: "-3" is negative'),
        ("timestamp,requests\n0,1\n1,nan\n", r':3: requests: "nan" is not a finite number'),
        ("timestamp,requests\n0,1\n1,inf\n", r':3: requests: "inf" is not a finite number'),
        ("timestamp,requests\n0,1\n", r":3: timestamp: at least 2 rows are needed to infer the step, found 1"),
        ("timestamp,requests\n", r":2: timestamp: at least 2 rows are needed to infer the step, found 0"),
        ("timestamp,requests\n0,1\n60,2\n60,3\n", r':4: timestamp: "60" repeats the previous row\'s time'),
        ("timestamp,requests\n0,1\n60,2\n120,3\n0,4\n", r':5: timestamp: "0" goes backwards'),
        ("timestamp,requests\n60,1\n0,2\n", r':3: timestamp: "0" goes backwards'),
        ("timestamp,requests\n60,1\n60,2\n", r':3: timestamp: "60" repeats the previous row\'s time'),
        ("timestamp,requests\n0,1\n60,2\n150,3\n", r':4: timestamp: "150" is off the 60 s grid'),
        ("timestamp,requests\n0,1\n60,2\nnoon,3\n", r':4: timestamp: "noon" is not a number of seconds'),
        (
            "timestamp,requests\n2024-01-01T00:00:00,1\n2024-01-01T00:01:00,2\n120,3\n",
            r':4: timestamp: "120" is not an ISO 8601 time',
        ),
        ("timestamp,requests\nnan,1\n1,2\n", r':2: timestamp: "nan" is not a number of seconds'),
        ("timestamp,requests\n0,1\n1,2,3\n", r":3: row: expected 2 fields \(timestamp,requests\), got 3"),
        ("timestamp,requests\n0,1\n1\n", r":3: row: expected 2 fields \(timestamp,requests\), got 1"),
        ("timestamp,requests\n0,1\n1,2\n99999999999,3\n", r':4: timestamp: "99999999999" is more than'),
        (TOKENS + "0,1,10,5\n1,2,x,5\n", r':3: prompt_tokens: "x" is not a number'),
        (TOKENS + "0,1,10,5\n1,2,20,-1\n", r':3: generation_tokens: "-1" is negative'),
        (TOKENS + "0,1,10,5\n1,2\n",
         r":3: row: expected 4 fields \(timestamp,requests,prompt_tokens,generation_tokens\), got 2"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(TraceError, match="^" + re.escape(str(path)) + expected):
        read_trace(path)


def test_trace_error_is_a_value_error() -> None:
    assert issubclass(TraceError, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(TraceError, match="^" + re.escape(str(path)) + ": cannot read: "):
        read_trace(path)


def test_directory_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=": cannot read: "):
        read_trace(tmp_path)


def test_binary_file_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"timestamp,requests\n0,\xff\xfe\n")
    with pytest.raises(TraceError, match=": cannot read: not UTF-8 text"):
        read_trace(path)


# --- real traces ------------------------------------------------------------------------------

REAL_TRACES = {
    # file: (step seconds, rows, first timestamp is wall clock, total requests)
    "azure_llm_2023_conv_1s.csv": (1.0, 3503, True, 19366),
    "servegen_reason_deepseek-r1_10min.csv": (600.0, 144, False, 1383669),
    "servegen_language_m-large_10min.csv": (600.0, 2016, False, 236892826),
}


@pytest.mark.parametrize("name", sorted(REAL_TRACES))
def test_real_traces_read_as_published(name: str) -> None:
    """Row counts and totals as published with the traces (tests/data/traces/README.md)."""
    trace = read_trace(TRACES_DIR / name)
    step, rows, wall_clock, total = REAL_TRACES[name]
    assert (trace.step_seconds, len(trace), trace.wall_clock) == (step, rows, wall_clock)
    assert int(np.nansum(trace.requests)) == total
    assert not np.isnan(trace.requests).any()
    assert trace.name == Path(name).stem


TOKEN_TRACES = {
    # file: (the request-only trace of the same requests, total prompt tokens, total generated tokens)
    "azure_llm_2023_conv_tokens_1s.csv": ("azure_llm_2023_conv_1s.csv", 22_361_870, 4_088_665),
    "mooncake_conversation_tokens_3s.csv": (None, 144_793_823, 4_122_048),
}


@pytest.mark.parametrize("name", sorted(TOKEN_TRACES))
def test_token_traces_read_as_converted(name: str) -> None:
    """Token totals as tests/data/traces/README.md states them; requests as the request-only trace."""
    trace = read_trace(TRACES_DIR / name)
    plain, prompt, generated = TOKEN_TRACES[name]
    assert int(trace.demand("prompt_tokens").requests.sum()) == prompt
    assert int(trace.demand("generation_tokens").requests.sum()) == generated
    if plain is not None:
        np.testing.assert_array_equal(trace.requests, read_trace(TRACES_DIR / plain).requests)
    else:
        assert int(trace.requests.sum()) == 12_031 and trace.step_seconds == 3.0
