"""The options Prometheus itself cannot check, verified on the ``requests.Session`` it builds.

Prometheus ignores a bearer token and extra headers such as ``X-Scope-OrgID``; only the proxies
and multi-tenant stores in front of it (Thanos, Mimir, an OAuth proxy) act on them. So a real
Prometheus cannot tell whether they were sent: these tests read them off the session and off a
request prepared from it, which is exactly what goes on the wire. The TLS and basic-auth fields
are checked here too, for the mapping from settings; ``tests/integration`` shows that a real
Prometheus accepts them.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import requests

from adapter.kubernetes.errors import SourceError
from adapter.settings.config import PrometheusSettings
from adapter.sources.prometheus import PrometheusSource, _session

URL = "https://prometheus.example:9090"


def _settings(**fields: Any) -> PrometheusSettings:
    return PrometheusSettings.model_validate({"url": URL, **fields})


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """Placeholder TLS files: the session only names them; start-up checks they can be read."""
    files = {name: tmp_path / f"{name}.pem" for name in ("ca_file", "cert_file", "key_file")}
    for path in files.values():
        path.write_text("-----BEGIN PLACEHOLDER-----\n")
    return files


def _sent_headers(session: requests.Session) -> requests.structures.CaseInsensitiveDict[str | bytes]:
    """The headers of a query as the session would send it."""
    prepared = session.prepare_request(requests.Request("GET", f"{URL}/api/v1/query"))
    return prepared.headers


def test_bearer_token_is_read_from_its_file_and_stripped(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  eyJ.token.sig\n")  # a mounted Secret often ends with a newline
    with _session(_settings(bearer_token_file=str(token_file))) as session:
        assert _sent_headers(session)["Authorization"] == "Bearer eyJ.token.sig"


def test_extra_headers_are_sent_beside_the_defaults() -> None:
    settings = _settings(headers={"X-Scope-OrgID": "tenant-a", "X-Team": "inference"})
    with _session(settings) as session:
        headers = _sent_headers(session)
    assert headers["X-Scope-OrgID"] == "tenant-a"
    assert headers["X-Team"] == "inference"
    assert str(headers["User-Agent"]).startswith("python-requests/"), "defaults are kept, not replaced"
    assert "Authorization" not in headers


def test_bearer_token_and_extra_headers_together(tmp_path: Path) -> None:
    """A Mimir tenant behind an authenticating proxy needs both on every query."""
    token_file = tmp_path / "token"
    token_file.write_text("abc\n")
    settings = _settings(bearer_token_file=str(token_file), headers={"X-Scope-OrgID": "tenant-a"})
    with _session(settings) as session:
        headers = _sent_headers(session)
    assert headers["Authorization"] == "Bearer abc"
    assert headers["X-Scope-OrgID"] == "tenant-a"


def test_basic_auth_password_is_read_from_its_file_and_stripped(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("s3cret\n")
    settings = _settings(basic_auth={"username": "foresight", "password_file": str(password_file)})
    with _session(settings) as session:
        assert session.auth == ("foresight", "s3cret")
        expected = base64.b64encode(b"foresight:s3cret").decode()
        assert _sent_headers(session)["Authorization"] == f"Basic {expected}"


def test_verify_uses_the_ca_file(tls_files: dict[str, Path]) -> None:
    with _session(_settings(tls={"ca_file": str(tls_files["ca_file"])})) as session:
        assert session.verify == str(tls_files["ca_file"])


def test_verify_uses_the_system_store_by_default() -> None:
    with _session(_settings()) as session:
        assert session.verify is True
        assert session.cert is None


def test_insecure_skip_verify_turns_verification_off_even_with_a_ca(tls_files: dict[str, Path]) -> None:
    settings = _settings(tls={"ca_file": str(tls_files["ca_file"]), "insecure_skip_verify": True})
    with _session(settings) as session:
        assert session.verify is False


def test_client_certificate_and_key_are_paired(tls_files: dict[str, Path]) -> None:
    settings = _settings(tls={"cert_file": str(tls_files["cert_file"]), "key_file": str(tls_files["key_file"])})
    with _session(settings) as session:
        assert session.cert == (str(tls_files["cert_file"]), str(tls_files["key_file"]))


def test_missing_token_file_fails_start_up_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    with pytest.raises(SourceError) as caught:
        PrometheusSource.open(_settings(bearer_token_file=str(missing)), max_concurrency=1)
    assert str(missing) in caught.value.message
    assert caught.value.message.startswith("cannot read Prometheus credentials")


def test_missing_password_file_fails_start_up_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-password"
    settings = _settings(basic_auth={"username": "foresight", "password_file": str(missing)})
    with pytest.raises(SourceError) as caught:
        PrometheusSource.open(settings, max_concurrency=1)
    assert str(missing) in caught.value.message


@pytest.mark.parametrize("missing", ["ca_file", "cert_file", "key_file"])
def test_missing_tls_file_fails_start_up_naming_the_file(missing: str, tls_files: dict[str, Path]) -> None:
    """requests would only notice at the first query, and with a bare ``OSError``."""
    tls_files[missing].unlink()
    with pytest.raises(SourceError) as caught:
        PrometheusSource.open(_settings(tls={name: str(path) for name, path in tls_files.items()}), max_concurrency=1)
    assert str(tls_files[missing]) in caught.value.message
