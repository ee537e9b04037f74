"""The README's examples work from a fresh clone: every trace a command names is in the
repository, and every config snippet validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from adapter.settings.config import settings_from_mapping

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def test_every_trace_a_command_names_is_in_the_clone() -> None:
    traces = [match for block in blocks("sh") for match in re.findall(r"--trace\s+(\S+)", block)]
    assert traces, "the README shows commands on traces"
    assert [trace for trace in traces if not (ROOT / trace).is_file()] == []


@pytest.mark.parametrize("snippet", blocks("yaml"), ids=lambda snippet: snippet.split(":")[0])
def test_every_config_snippet_validates(snippet: str) -> None:
    settings_from_mapping(yaml.safe_load(snippet), source="README.md")
