"""Exit codes, decided in one place: bad input is one line and exit 1, usage 2, and a bug is
neither: its traceback shows."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
import yaml

import forecasting
from adapter.commands import cli
from adapter.commands.command_options import UsageError
from adapter.commands.exit_codes import FAILURE, USAGE, CommandFailed, exit_code
from adapter.kubernetes.errors import ConfigError, SourceError
from forecasting import InputError

pytestmark = pytest.mark.usefixtures("restore_logging")
TRACE = Path(__file__).resolve().parents[1] / "data" / "traces" / "servegen_reason_deepseek-r1_10min.csv"


class Bug(ValueError):
    """What a mistake in the code raises: a ValueError that is none of the project's own."""


def fails_with(error: BaseException) -> int:
    raise error


@pytest.mark.parametrize("error", [
    InputError("trace.csv:3: requests: \"x\" is not a number"),
    SourceError("Prometheus is unreachable"),
    FileNotFoundError("absent.csv"),
    CommandFailed("NVML is not available"),
])
def test_bad_input_is_one_line_and_exit_1(error: Exception, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code("foresight x", lambda: fails_with(error)) == FAILURE
    assert capsys.readouterr().err == f"foresight x: {error}\n"


def test_a_usage_error_is_exit_2_and_a_config_error_names_its_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code("foresight x", lambda: fails_with(UsageError("--lead: soon is not a duration"))) == USAGE
    assert capsys.readouterr().err == "foresight x: --lead: soon is not a duration\n"
    problem = ConfigError("c.yaml", [("refresh.interval", "expected a duration")])
    assert exit_code("foresight x", lambda: fails_with(problem)) == FAILURE
    assert capsys.readouterr().err == f"{problem}\n"


def test_a_killed_worker_is_the_commands_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    killed = BrokenProcessPool("A process in the process pool was terminated abruptly")
    assert exit_code("foresight x", lambda: fails_with(killed), killed="a worker died; nothing was written") == 1
    assert capsys.readouterr().err == "foresight x: a worker died; nothing was written\n"


def test_an_unexpected_exception_is_not_turned_into_a_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Bug):
        exit_code("foresight x", lambda: fails_with(Bug("index out of step")))
    assert capsys.readouterr().err == ""


def test_a_bug_in_a_command_shows_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command's path to the forecasting library and the settings: a ValueError raised there
    that is not bad input propagates out of ``main``, so the traceback shows."""

    def bug(*args: object, **kwargs: object) -> None:
        raise Bug("a mistake, not bad input")

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"prometheus": {"url": "http://127.0.0.1:1"}}))
    monkeypatch.setattr(cli, "resolve_rules", bug)
    monkeypatch.setattr(forecasting, "run_backtest", bug)
    monkeypatch.setattr(forecasting, "run_replay", bug)
    monkeypatch.setattr(forecasting, "check_output", bug)
    commands = [
        ["check-config", str(config)],
        ["backtest", "--trace", str(TRACE), "--workers", "1"],
        ["replay", "--trace", str(TRACE), "--workers", "1", "--capacity-per-replica", "4", "--startup", "3m"],
        ["report", "--trace", str(TRACE), "--capacity-per-replica", "4", "--out", str(tmp_path / "out")],
    ]
    for argv in commands:
        with pytest.raises(Bug):
            cli.main(argv)
