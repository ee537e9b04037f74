"""Picks up a changed config file (a mounted ConfigMap changes under a running pod) without a
restart: a valid change is applied, anything else is logged and the config in force keeps serving.

Sections that shape the process itself (the Prometheus connection, query concurrency, the
forecast workers, step, history and signals, the upstream adapters) are fixed at start; a change to them is refused
with a log line that says a restart applies it, so a half-applied config never serves.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from adapter.kubernetes.errors import ConfigError
from adapter.runtime.supervision import Supervisor
from adapter.settings.config import (
    ForecastSettings,
    MetricRule,
    RefreshSettings,
    Settings,
    load_settings,
)
from adapter.signals.presets import resolve_rules

log = logging.getLogger(__name__)
RELOAD_CHECK_SECONDS = 10.0
WATCHER_STALL_SECONDS = 300.0
Apply = Callable[[Mapping[str, MetricRule], RefreshSettings, ForecastSettings], None]


class ConfigReloader:
    """Watches one config file by content (ConfigMap volumes swap a symlink, not the file)."""

    def __init__(self, path: Path, settings: Settings, apply: Apply) -> None:
        self._path = path
        self.settings = settings
        self._apply = apply
        self._digest = self._read_digest()

    def check_now(self) -> bool:
        """Reload if the file changed; ``True`` when a new config now serves."""
        digest = self._read_digest()
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        try:
            settings = load_settings(self._path)
            rules = resolve_rules(settings, source=str(self._path))
        except ConfigError as error:
            log.error("config change rejected, the previous config keeps serving: %s", error)
            return False
        except Exception:  # noqa: BLE001 - a file no check foresaw must not end the watching
            log.exception("config change rejected, the previous config keeps serving: %s could not be read", self._path)
            return False
        fixed = _fixed_fields_changed(self.settings, settings)
        if fixed:
            log.error(
                "config change rejected, the previous config keeps serving: %s: %s only change on restart",
                self._path, ", ".join(fixed),
            )
            return False
        self._apply(rules, settings.refresh, settings.forecasts)
        self.settings = settings
        log.info("config reloaded from %s: %d metrics", self._path, len(rules))
        return True

    def watch(self, supervisor: Supervisor) -> None:
        """Check the file every ``RELOAD_CHECK_SECONDS`` among the server's background tasks."""

        async def check() -> None:
            self.check_now()

        supervisor.add(
            "config watcher", check, pause=lambda _: RELOAD_CHECK_SECONDS, stall_after=WATCHER_STALL_SECONDS,
            initial_delay=RELOAD_CHECK_SECONDS,
        )

    def _read_digest(self) -> bytes | None:
        try:
            return hashlib.sha256(self._path.read_bytes()).digest()
        except OSError as error:
            log.warning("cannot read %s to check for config changes: %s", self._path, error)
            return None


def _fixed_fields_changed(old: Settings, new: Settings) -> list[str]:
    fields = {
        "prometheus": (old.prometheus, new.prometheus),
        "refresh.concurrency": (old.refresh.concurrency, new.refresh.concurrency),
        "forecasts.workers": (old.forecasts.workers, new.forecasts.workers),
        "forecasts.step": (old.forecasts.step, new.forecasts.step),
        "forecasts.history": (old.forecasts.history, new.forecasts.history),
        "forecasts.signals": (old.forecasts.signals, new.forecasts.signals),
        "upstream": (old.upstream, new.upstream),
    }
    return [name for name, (before, after) in fields.items() if before != after]
