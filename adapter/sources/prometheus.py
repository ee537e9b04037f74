"""The one Prometheus client module: the Prometheus HTTP API as a :class:`~adapter.sources.protocol.Source`.

prometheus-api-client is synchronous, so every call runs in a small pool of daemon threads of our
own: the event loop never waits on the network, and a query still waiting when the server stops
does not hold the process open. Every third-party failure is wrapped in ``SourceError``
with a message fit for an API user; the cause is logged here, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from adapter.kubernetes.errors import SourceError
from adapter.runtime.daemon_threads import DaemonThreadPool
from adapter.settings.config import PrometheusSettings
from adapter.sources.protocol import RangeSeries, Sample

log = logging.getLogger(__name__)
T = TypeVar("T")


def _session(settings: PrometheusSettings) -> requests.Session:
    """A requests session carrying the TLS, auth and header options of ``settings``."""
    session = requests.Session()
    tls = settings.tls
    session.verify = False if tls.insecure_skip_verify else (str(tls.ca_file) if tls.ca_file else True)
    if tls.cert_file is not None and tls.key_file is not None:
        session.cert = (str(tls.cert_file), str(tls.key_file))
    for tls_file in (tls.ca_file, tls.cert_file, tls.key_file):
        if tls_file is not None:
            tls_file.read_bytes()  # requests only opens them at the first query, with a bare OSError
    if settings.basic_auth is not None:
        password = settings.basic_auth.password_file.read_text(encoding="utf-8").strip()
        session.auth = (settings.basic_auth.username, password)
    session.headers.update(settings.headers)
    if settings.bearer_token_file is not None:
        token = settings.bearer_token_file.read_text(encoding="utf-8").strip()
        session.headers["Authorization"] = f"Bearer {token}"
    return session


class MalformedAnswer(ValueError):
    """An answer that parsed as JSON but is not the shape the Prometheus HTTP API documents."""


def _labels(item: Any) -> dict[str, str]:
    labels = item.get("metric", {})
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise MalformedAnswer(f"labels are not a string map: {labels!r:.80}")
    return labels


def _point(point: Any) -> tuple[float, float]:
    """A ``[unix seconds, "value"]`` pair; Prometheus writes values as strings, NaN and Inf included."""
    if not isinstance(point, list | tuple) or len(point) != 2 or not isinstance(point[1], str):
        raise MalformedAnswer(f"a sample is not a [time, \"value\"] pair: {point!r:.80}")
    timestamp = point[0]
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise MalformedAnswer(f"a sample's time is not a number: {timestamp!r:.80}")
    return float(timestamp), float(point[1])


def _items(result: Any) -> list[dict[str, Any]]:
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise MalformedAnswer(f"the result is not a list of series: {result!r:.80}")
    return result


def _samples(result: Any) -> list[Sample]:
    """An instant-query ``result`` (vector or scalar) as samples; NaN/Inf kept as floats.

    The client hands over ``data.result`` without its ``resultType``, so the shape is checked
    here: a scalar is one ``[time, "value"]`` pair, a vector a list of ``{metric, value}``."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return [Sample(labels={}, value=_point(result)[1])]
    return [Sample(labels=_labels(item), value=_point(item.get("value"))[1]) for item in _items(result)]


def _series(result: Any) -> list[RangeSeries]:
    series = []
    for item in _items(result):
        points = item.get("values")
        if not isinstance(points, list):
            raise MalformedAnswer(f"a range series has no list of values: {points!r:.80}")
        pairs = [_point(point) for point in points]
        series.append(
            RangeSeries(
                labels=_labels(item),
                timestamps=tuple(timestamp for timestamp, _ in pairs),
                values=tuple(value for _, value in pairs),
            )
        )
    return series


class PrometheusSource:
    """Prometheus, Thanos Query or Mimir over their shared HTTP API."""

    def __init__(self, client: PrometheusConnect, *, max_concurrency: int, timeout: float) -> None:
        self._client = client
        self._max_concurrency = max_concurrency
        self._timeout = timeout
        self._executor: DaemonThreadPool | None = None

    @classmethod
    def open(cls, settings: PrometheusSettings, *, max_concurrency: int) -> PrometheusSource:
        """Connect-on-demand client; credentials are read now, so a bad file fails start-up. Its
        query threads start with :meth:`start`."""
        try:
            session = _session(settings)
        except OSError as error:
            raise SourceError(f"cannot read Prometheus credentials: {error}") from error
        client = PrometheusConnect(
            url=settings.base_url,
            session=session,
            # The refresher retries on its own schedule. read=False re-raises a read timeout as
            # itself, where Retry(total=0) alone turns it into a ConnectionError ("unreachable").
            retry=Retry(total=0, read=False),
            timeout=settings.timeout,
        )
        # one pooled connection per query thread (requests keeps ten by default)
        session.mount(settings.base_url, HTTPAdapter(max_retries=Retry(total=0, read=False), pool_maxsize=max_concurrency))
        return cls(client, max_concurrency=max_concurrency, timeout=settings.timeout)

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        params = {} if at is None else {"time": f"{at:.3f}"}
        return await self._call(lambda: _samples(self._client.custom_query(query, params=params)))

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return await self._call(
            lambda: _series(
                self._client.custom_query_range(
                    query,
                    start_time=datetime.fromtimestamp(start, UTC),
                    end_time=datetime.fromtimestamp(end, UTC),
                    step=f"{step:g}",
                )
            )
        )

    async def start(self) -> None:
        """The query threads (one per concurrent query, started as queries arrive)."""
        self._executor = DaemonThreadPool(self._max_concurrency, thread_name_prefix="prometheus")

    async def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    async def _call(self, call: Callable[[], T]) -> T:
        assert self._executor is not None, "a query before start()"
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except requests.Timeout as error:
            log.warning("Prometheus query timed out: %s", error)
            raise SourceError(f"Prometheus did not answer within {self._timeout:g}s") from error
        except requests.exceptions.SSLError as error:
            log.warning("TLS with Prometheus failed: %s", error)
            raise SourceError("the TLS handshake with Prometheus failed (certificate or CA)") from error
        except requests.ConnectionError as error:
            log.warning("Prometheus unreachable: %s", error)
            raise SourceError("Prometheus is unreachable") from error
        except PrometheusApiClientException as error:
            log.warning("Prometheus refused a query: %s", error)
            raise SourceError("Prometheus refused the query") from error
        except requests.RequestException as error:  # an OSError too, so before the next clause
            log.warning("unreadable answer from Prometheus: %r", error)
            raise SourceError("Prometheus gave an unreadable answer") from error
        except OSError as error:  # requests re-reads the TLS files for new connections
            log.warning("Prometheus TLS files unreadable: %s", error)
            raise SourceError("cannot read the Prometheus TLS files") from error
        except Exception as error:  # noqa: BLE001 - any other failure is an answer we cannot use
            # JSON that is not the documented shape and whatever the client library raises on it:
            # each must reach the refresher as a source error, never kill it.
            log.warning("unreadable answer from Prometheus: %r", error)
            raise SourceError("Prometheus gave an unreadable answer") from error
