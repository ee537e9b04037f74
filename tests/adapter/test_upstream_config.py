"""The ``upstream:`` section: each mistake is reported with the file and the field, whether the
model finds it or reading the credential files at start-up does."""

from pathlib import Path

import pytest
import trustme

from adapter.commands.cli import main
from adapter.kubernetes.errors import ConfigError
from adapter.settings.config import settings_from_mapping
from adapter.upstream.upstreams import Upstreams

URL = "https://prometheus-adapter.monitoring.svc"


def problems_of(upstream: object) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"upstream": upstream}, source="test.yaml")
    return dict(caught.value.problems)


def test_the_url_must_be_https() -> None:
    problems = problems_of({"external": {"url": "http://adapter.svc", "bearer_token_file": "/token"}})
    assert "must be an absolute https URL" in problems["upstream.external.url"]


def test_credentials_are_required_and_a_certificate_needs_its_key() -> None:
    assert "give cert_file and key_file" in problems_of({"custom": {"url": URL}})["upstream.custom"]
    assert "together" in problems_of({"external": {"url": URL, "cert_file": "/tls.crt"}})["upstream.external"]


def test_the_timeout_stays_under_the_proxy_timeout_and_unknown_fields_are_refused() -> None:
    problems = problems_of({"external": {"url": URL, "bearer_token_file": "/t", "timeout": "2m", "token": "x"}})
    assert "at most 50s" in problems["upstream.external.timeout"]
    assert "upstream.external.token" in problems


def _upstreams(tmp_path: Path, **section: str) -> Upstreams:
    settings = settings_from_mapping({"upstream": {"external": {"url": URL, **section}}}, source="test.yaml")
    return Upstreams.from_settings(settings.upstream, source="test.yaml")


def test_credential_files_that_cannot_be_read_name_their_field(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("")
    cases = {
        "upstream.external.ca_file": {"ca_file": str(tmp_path / "missing.pem"), "bearer_token_file": str(tmp_path / "t")},
        "upstream.external.bearer_token_file": {"bearer_token_file": str(token)},
        "upstream.external.cert_file": {"cert_file": str(token), "key_file": str(token)},
    }
    (tmp_path / "t").write_text("a-token")
    for field, section in cases.items():
        with pytest.raises(ConfigError) as caught:
            _upstreams(tmp_path, **section)
        [(where, _)] = caught.value.problems
        assert where == field


def test_readable_credentials_make_an_upstream_that_forwards_identity_only_with_a_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    client = ca.issue_cert("foresight.test")
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    client.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    (tmp_path / "token").write_text("a-token\n")
    certified = _upstreams(tmp_path, cert_file=str(tmp_path / "tls.crt"), key_file=str(tmp_path / "tls.key"))
    assert certified.external is not None and certified.external.forwards_identity
    token_only = _upstreams(tmp_path, bearer_token_file=str(tmp_path / "token"))
    assert token_only.external is not None and not token_only.external.forwards_identity
    assert token_only.custom is None


def test_check_config_says_where_each_group_version_is_forwarded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "token").write_text("a-token\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"prometheus: {{url: 'http://prometheus:9090'}}\n"
        f"upstream: {{external: {{url: '{URL}', bearer_token_file: '{tmp_path / 'token'}'}}}}\n"
    )
    assert main(["check-config", str(config)]) == 0
    assert f"upstream external.metrics.k8s.io/v1beta1: {URL} (as Foresight)" in capsys.readouterr().out
    (tmp_path / "token").write_text("")
    assert main(["check-config", str(config)]) == 1
    assert f"{config}: upstream.external.bearer_token_file" in capsys.readouterr().err


def test_serve_refuses_to_start_on_an_unreadable_credential(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"prometheus: {{url: 'http://prometheus:9090'}}\n"
        f"upstream: {{custom: {{url: '{URL}', bearer_token_file: '{tmp_path / 'absent'}'}}}}\n"
    )
    assert main(["serve", "--config", str(config)]) == 1
    assert f"{config}: upstream.custom.bearer_token_file: {tmp_path / 'absent'}: No such file or directory" in capsys.readouterr().err
