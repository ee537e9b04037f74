"""Fixtures of the adapter's tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from .demo_adapter import DemoAdapter, demo_adapter


@pytest.fixture
async def demo() -> AsyncIterator[DemoAdapter]:
    async with demo_adapter() as adapter:
        yield adapter


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Give back the root logger's handlers and level that a command's ``configure_logging`` replaced."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
