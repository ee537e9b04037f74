"""Progress of long commands: a bar with the time left on a terminal, and log lines at a bounded
rate otherwise; time is a clock the test moves, never a sleep."""

from __future__ import annotations

import io
import logging

import pytest

from adapter.commands.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "adapter.commands.progress"]


def test_off_a_terminal_a_line_for_each_tenth_of_the_work_with_the_time_left(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock, stream = Clock(), io.StringIO()
    progress = Progress("backtest nasa", stream=stream, clock=clock)
    for done in range(1, 1001):
        clock.now += 0.01  # 10 s of work in all: the tenths come before 30 s pass
        progress(done, 1000)
    progress.close()
    lines = progress_lines(caplog)
    assert len(lines) == 10
    assert lines[0] == "backtest nasa: 100/1000 (10%), about 9s left"
    assert lines[4] == "backtest nasa: 500/1000 (50%), about 5s left"
    assert lines[-1] == "backtest nasa: 1000/1000 (100%), done in 10s"
    assert stream.getvalue() == ""


def test_off_a_terminal_slow_work_logs_every_30_seconds(caplog: pytest.LogCaptureFixture) -> None:
    """A 16-minute backtest of 2,000 origins says it is alive every 30 s, not only each tenth."""
    caplog.set_level(logging.INFO)
    clock = Clock()
    progress = Progress("backtest slow", stream=io.StringIO(), clock=clock)
    for done in range(1, 2001):
        clock.now += 0.48
        progress(done, 2000)
    lines = progress_lines(caplog)
    assert 960 / 30 <= len(lines) <= 960 / 30 + 10
    assert lines[0] == "backtest slow: 63/2000 (3%), about 15m30s left"
    assert lines[-1] == "backtest slow: 2000/2000 (100%), done in 16m00s"


def test_off_a_terminal_many_quick_calls_log_nothing_between_marks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    progress = Progress("replay", stream=io.StringIO(), clock=clock)
    for done in range(0, 99):
        progress(done, 1000)
    assert progress_lines(caplog) == []
    clock.now += 3 * 3600
    progress(99, 1000)
    assert progress_lines(caplog) == ["replay: 99/1000 (9%), about 27h18m left"]


def test_on_a_terminal_one_redrawn_line_with_the_time_left(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock, terminal = Clock(), Terminal()
    progress = Progress("replay nasa", stream=terminal, clock=clock, width=10)
    clock.now += 90
    progress(1, 4)
    progress(2, 4)  # within the redraw interval: not drawn
    clock.now += 30
    progress(3, 4)
    clock.now += 0.01
    progress(4, 4)  # the end is always drawn
    progress.close()
    frames = terminal.getvalue().split("\r")[1:]
    assert [frame.rstrip() for frame in frames] == [
        "replay nasa [##--------] 1/4 25% about 4m30s left",
        "replay nasa [########--] 3/4 75% about 40s left",
        "replay nasa [##########] 4/4 100% done in 2m00s",
    ]
    assert frames[-1].endswith("\n") and progress_lines(caplog) == []


def test_a_shorter_line_wipes_the_longer_one_before_it() -> None:
    clock, terminal = Clock(), Terminal()
    progress = Progress("x", stream=terminal, clock=clock, width=2)
    clock.now += 4000
    progress(1, 2)
    clock.now += 1
    progress(2, 2)
    first, second = terminal.getvalue().split("\r")[1:]
    assert len(second) >= len(first)
