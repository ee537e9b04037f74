"""The adapter on the demo fleet, as ``foresight demo`` assembles it, for benchmarks that serve it
from a process of their own."""

from __future__ import annotations

import socket
import time

from adapter.app.assembly import Adapter


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_adapter(*, history_seconds: float = 3600.0) -> Adapter:
    """The demo fleet with ``history_seconds`` of generated past, refreshed in the background."""
    from adapter.app.assembly import assemble
    from adapter.commands.demo import DEMO_SIGNALS
    from adapter.settings.config import RefreshSettings, Settings
    from adapter.signals.presets import resolve_rules
    from adapter.sources.demo.fleet import default_fleet
    from adapter.sources.demo.source import DemoSource

    now = time.time()
    fleet = default_fleet(start=now - history_seconds)
    source = DemoSource(fleet, clock=time.time)
    source.advance(now)
    rules = resolve_rules(Settings(signals=DEMO_SIGNALS), source="bench")
    return assemble(rules=rules, source=source, refresh=RefreshSettings())
