"""How Foresight proves who it is to an upstream adapter, built from the config's files.

Every file is read when the server starts, so a missing or malformed one stops it with the
config field that names it. The bearer token is read again every minute off the event loop: a
projected service-account token rotates under a running pod.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from adapter.kubernetes.errors import ConfigError
from adapter.settings.config import UpstreamAdapter

TOKEN_REREAD_SECONDS = 60.0


def client_tls(settings: UpstreamAdapter, *, field: str, source: str) -> ssl.SSLContext:
    """Verifies the upstream's serving certificate with ``ca_file`` (else the system store) and
    presents ``cert_file`` where one is configured; ``field`` (``upstream.external``) names the
    section in errors."""
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(settings.ca_file))
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(source, [(f"{field}.ca_file", f"{settings.ca_file}: {_reason(error)}")]) from None
    if settings.cert_file is not None and settings.key_file is not None:
        try:
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
        except (OSError, ssl.SSLError) as error:
            problem = f"{settings.cert_file}, {settings.key_file}: {_reason(error)}"
            raise ConfigError(source, [(f"{field}.cert_file", problem)]) from None
    return context


class TokenFile:
    """A bearer token file, read at start and again once a minute when used."""

    def __init__(self, path: Path, *, field: str, source: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        try:
            self._token = self._read()
        except (OSError, ValueError) as error:
            raise ConfigError(source, [(f"{field}.bearer_token_file", f"{path}: {_reason(error)}")]) from None
        self._read_at = clock()

    async def token(self) -> str:
        """The token; a file that cannot be read now keeps the last one read."""
        if self._clock() - self._read_at >= TOKEN_REREAD_SECONDS:
            self._read_at = self._clock()
            try:
                self._token = await asyncio.to_thread(self._read)
            except (OSError, ValueError):
                pass
        return self._token

    def _read(self) -> str:
        token = self._path.read_text(encoding="utf-8").strip()
        if not token or any(character.isspace() for character in token):
            raise ValueError("holds no token (empty, or more than one word)")
        return token


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
