"""Fixtures of the adapter's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .demo_adapter import DemoAdapter, demo_adapter


@pytest.fixture
async def demo() -> AsyncIterator[DemoAdapter]:
    async with demo_adapter() as adapter:
        yield adapter
