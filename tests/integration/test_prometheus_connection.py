"""Every connection option of ``prometheus:`` against a real Prometheus that enforces it.

The server is configured through Prometheus's own web configuration: TLS with a certificate from
a per-run CA, client certificates required and verified, basic auth with a bcrypt hash, and a
route prefix. Each failure test starts from the settings that work and breaks one option, so it
can only fail for that option; each checks the cause, so a different failure does not pass it.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
import trustme
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.exceptions import InsecureRequestWarning

from adapter.kubernetes.errors import SourceError
from adapter.settings.config import PrometheusSettings
from adapter.sources.prometheus import PrometheusSource
from adapter.sources.protocol import RangeSeries, Sample

from .local import free_port
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration

PREFIX = "/prom"
USERNAME = "foresight"
#: Start of a range query; any time works, as ``vector(1)`` needs no data.
RANGE_START = 1_700_000_000.0


@dataclass(frozen=True)
class SecurePrometheus:
    """Where the secured Prometheus listens, and the files a client needs to reach it."""

    url: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    password_file: Path
    password: str
    other_ca_file: Path
    other_cert_file: Path
    other_key_file: Path


def _write_leaf(cert: trustme.LeafCert, cert_path: Path, key_path: Path) -> None:
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key_path))


def _ready_probe(url: str, ca: trustme.CA, client: trustme.LeafCert, password: str) -> Callable[[], bool]:
    """``/-/ready`` over TLS with a client certificate and basic auth, as the server demands."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    client.configure_cert(context)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    token = base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
    request = urllib.request.Request(f"{url}{PREFIX}/-/ready", headers={"Authorization": f"Basic {token}"})

    def ready() -> bool:
        try:
            with opener.open(request, timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as error:
            with error:  # 503 until the TSDB is open
                return False

    return ready


@pytest.fixture(scope="module")
def secure_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurePrometheus]:
    """A second Prometheus with TLS, required client certificates, basic auth and a path prefix."""
    workdir = tmp_path_factory.mktemp("secure-prometheus")
    ca, other_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    other_ca.cert_pem.write_to_path(str(workdir / "other-ca.pem"))
    server_cert = ca.issue_cert("127.0.0.1")
    _write_leaf(server_cert, workdir / "server.pem", workdir / "server-key.pem")
    client_cert = ca.issue_cert("foresight-adapter")
    _write_leaf(client_cert, workdir / "client.pem", workdir / "client-key.pem")
    _write_leaf(other_ca.issue_cert("foresight-adapter"), workdir / "other.pem", workdir / "other-key.pem")

    password = secrets.token_urlsafe(16)
    # A trailing newline, as a mounted Secret often has; the adapter must strip it.
    (workdir / "password").write_text(password + "\n")
    web_config = {
        "tls_server_config": {
            "cert_file": str(workdir / "server.pem"),
            "key_file": str(workdir / "server-key.pem"),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(workdir / "ca.pem"),
        },
        # The lowest cost keeps each request's hash check cheap; the format is what matters.
        "basic_auth_users": {USERNAME: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()},
    }
    (workdir / "web.yml").write_text(json.dumps(web_config, indent=2))

    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = PrometheusServer(
        workdir,
        [],
        port=port,
        extra_args=[
            f"--web.config.file={workdir / 'web.yml'}",
            f"--web.route-prefix={PREFIX}",
            f"--web.external-url={url}{PREFIX}",
        ],
        ready_probe=_ready_probe(url, ca, client_cert, password),
    )
    with server:
        yield SecurePrometheus(
            url=url,
            ca_file=workdir / "ca.pem",
            cert_file=workdir / "client.pem",
            key_file=workdir / "client-key.pem",
            password_file=workdir / "password",
            password=password,
            other_ca_file=workdir / "other-ca.pem",
            other_cert_file=workdir / "other.pem",
            other_key_file=workdir / "other-key.pem",
        )


def _settings(secure: SecurePrometheus, **overrides: Any) -> PrometheusSettings:
    """The settings that work, with top-level keys replaced by ``overrides``."""
    data: dict[str, Any] = {
        "url": secure.url,
        "path_prefix": PREFIX,
        "timeout": "5s",
        "basic_auth": {"username": USERNAME, "password_file": str(secure.password_file)},
        "tls": {
            "ca_file": str(secure.ca_file),
            "cert_file": str(secure.cert_file),
            "key_file": str(secure.key_file),
        },
    }
    data.update(overrides)
    return PrometheusSettings.model_validate(data)


def _tls(secure: SecurePrometheus, **overrides: Any) -> dict[str, Any]:
    """The TLS section that works, with ``overrides``; ``None`` drops a key."""
    tls: dict[str, Any] = {
        "ca_file": str(secure.ca_file),
        "cert_file": str(secure.cert_file),
        "key_file": str(secure.key_file),
    }
    tls.update(overrides)
    return {key: value for key, value in tls.items() if value is not None}


async def _instant(settings: PrometheusSettings, query: str = "vector(1)", at: float | None = None) -> list[Sample]:
    source = PrometheusSource.open(settings, max_concurrency=1)
    try:
        await source.start()
        return await source.instant(query, at=at)
    finally:
        await source.close()


async def _failure(
    settings: PrometheusSettings, caplog: pytest.LogCaptureFixture, password: str | None = None
) -> SourceError:
    """The ``SourceError`` of a ``vector(1)`` query, after checking it is fit for an API user.

    ``pytest.raises(SourceError)`` lets any other exception type through, failing the test.
    """
    with caplog.at_level(logging.WARNING, logger="adapter.sources.prometheus"), pytest.raises(SourceError) as caught:
        await _instant(settings)
    message = caught.value.message
    assert message == str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert "requests" not in message and "urllib3" not in message and "Pool" not in message
    if password is not None:
        assert password not in message
        assert password not in caplog.text, "the logged cause must not carry the password either"
    return caught.value


# --- everything right -------------------------------------------------------------------------


async def test_all_options_right_answers_an_instant_query(secure_prometheus: SecurePrometheus) -> None:
    assert await _instant(_settings(secure_prometheus)) == [Sample(labels={}, value=1.0)]


async def test_all_options_right_answers_a_scalar_at_a_given_time(secure_prometheus: SecurePrometheus) -> None:
    """``time()`` is a scalar and echoes the evaluation time, so ``at`` reaches Prometheus."""
    samples = await _instant(_settings(secure_prometheus), "time()", at=RANGE_START)
    assert samples == [Sample(labels={}, value=RANGE_START)]


async def test_all_options_right_answers_a_range_query(secure_prometheus: SecurePrometheus) -> None:
    source = PrometheusSource.open(_settings(secure_prometheus), max_concurrency=1)
    try:
        await source.start()
        series = await source.range("vector(1)", start=RANGE_START, end=RANGE_START + 60, step=15)
    finally:
        await source.close()
    assert series == [
        RangeSeries(
            labels={},
            timestamps=tuple(RANGE_START + offset for offset in (0, 15, 30, 45, 60)),
            values=(1.0,) * 5,
        )
    ]


async def test_insecure_skip_verify_without_ca_answers(secure_prometheus: SecurePrometheus) -> None:
    """Skipping verification is for tests only, so urllib3's warning is expected, not hidden."""
    settings = _settings(secure_prometheus, tls=_tls(secure_prometheus, ca_file=None, insecure_skip_verify=True))
    with pytest.warns(InsecureRequestWarning):
        assert await _instant(settings) == [Sample(labels={}, value=1.0)]


# --- one option wrong -------------------------------------------------------------------------


def _assert_certificate_not_verified(error: SourceError) -> None:
    assert error.message == "the TLS handshake with Prometheus failed (certificate or CA)"
    assert isinstance(error.__cause__, requests.exceptions.SSLError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(error.__cause__)


async def test_no_ca_fails_verification(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    """Without ``ca_file`` the system store is used, which does not know the per-run CA."""
    settings = _settings(secure_prometheus, tls=_tls(secure_prometheus, ca_file=None))
    _assert_certificate_not_verified(await _failure(settings, caplog, secure_prometheus.password))


async def test_wrong_ca_fails_verification(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(secure_prometheus, tls=_tls(secure_prometheus, ca_file=str(secure_prometheus.other_ca_file)))
    _assert_certificate_not_verified(await _failure(settings, caplog, secure_prometheus.password))


def _assert_client_certificate_rejected(error: SourceError) -> None:
    """Prometheus ends the handshake with a TLS alert about our certificate.

    The alert does not say why (Prometheus's log does); that the same settings with the right
    certificate answer is what ties the alert to the certificate.
    """
    assert error.message == "the TLS handshake with Prometheus failed (certificate or CA)"
    assert isinstance(error.__cause__, requests.exceptions.SSLError)
    cause = str(error.__cause__).lower()
    assert "bad certificate" in cause or "certificate required" in cause
    assert "certificate_verify_failed" not in cause, "the server's certificate was fine"


async def test_no_client_certificate_is_rejected(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(secure_prometheus, tls=_tls(secure_prometheus, cert_file=None, key_file=None))
    _assert_client_certificate_rejected(await _failure(settings, caplog, secure_prometheus.password))


async def test_client_certificate_from_another_ca_is_rejected(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(
        secure_prometheus,
        tls=_tls(
            secure_prometheus,
            cert_file=str(secure_prometheus.other_cert_file),
            key_file=str(secure_prometheus.other_key_file),
        ),
    )
    _assert_client_certificate_rejected(await _failure(settings, caplog, secure_prometheus.password))


def _assert_http_status(error: SourceError, status: int) -> None:
    assert error.message == "Prometheus refused the query"
    assert isinstance(error.__cause__, PrometheusApiClientException)
    assert f"HTTP Status Code {status} " in str(error.__cause__)


async def test_wrong_password_is_unauthorized(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-" + secure_prometheus.password)
    settings = _settings(secure_prometheus, basic_auth={"username": USERNAME, "password_file": str(wrong)})
    _assert_http_status(await _failure(settings, caplog, secure_prometheus.password), 401)


async def test_no_basic_auth_is_unauthorized(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(secure_prometheus, basic_auth=None)
    _assert_http_status(await _failure(settings, caplog, secure_prometheus.password), 401)


async def test_missing_path_prefix_is_not_found(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(secure_prometheus, path_prefix="")
    _assert_http_status(await _failure(settings, caplog, secure_prometheus.password), 404)


async def test_plain_http_against_the_tls_port_is_refused(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    """Go's TLS listener answers a plain HTTP request with 400, before any auth or routing."""
    settings = _settings(secure_prometheus, url=secure_prometheus.url.replace("https://", "http://"))
    error = await _failure(settings, caplog, secure_prometheus.password)
    _assert_http_status(error, 400)
    assert "HTTPS server" in str(error.__cause__)


async def test_tls_file_gone_after_start_is_a_source_error(
    secure_prometheus: SecurePrometheus, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """requests re-reads the TLS files for each new connection, e.g. after a Secret rotation."""
    ca_copy = tmp_path / "ca.pem"
    ca_copy.write_bytes(secure_prometheus.ca_file.read_bytes())
    source = PrometheusSource.open(
        _settings(secure_prometheus, tls=_tls(secure_prometheus, ca_file=str(ca_copy))), max_concurrency=1
    )
    try:
        await source.start()
        ca_copy.unlink()
        with caplog.at_level(logging.WARNING, logger="adapter.sources.prometheus"), pytest.raises(SourceError) as caught:
            await source.instant("vector(1)")
    finally:
        await source.close()
    assert caught.value.message == "cannot read the Prometheus TLS files"
    assert str(ca_copy) in caplog.text, "the log names the file for the operator"


# --- no usable server -------------------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections are accepted by the kernel (listen backlog) but never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


async def test_query_slower_than_the_timeout_times_out(
    silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A sub-second timeout also shows it reaches requests unrounded."""
    settings = PrometheusSettings.model_validate({"url": f"http://127.0.0.1:{silent_port}", "timeout": "500ms"})
    error = await _failure(settings, caplog)
    assert error.message == "Prometheus did not answer within 0.5s"
    assert isinstance(error.__cause__, requests.exceptions.ReadTimeout)
    assert "read timeout=0.5)" in str(error.__cause__)


async def test_nothing_listening_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    settings = PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", timeout=5.0)
    error = await _failure(settings, caplog)
    assert error.message == "Prometheus is unreachable"
    assert isinstance(error.__cause__, requests.exceptions.ConnectionError)
    assert not isinstance(error.__cause__, requests.exceptions.Timeout)
    assert "Connection refused" in str(error.__cause__)
