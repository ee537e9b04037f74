"""Flags win over the extension-apiserver-authentication ConfigMap, and a bad file or key is
reported by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from adapter.access.authentication_source import (
    AuthenticationConfigError,
    AuthenticationOptions,
    load_authentication,
)

FRONT_PROXY, CLIENTS = trustme.CA(), trustme.CA()


class ConfigMaps:
    def __init__(self, data: dict[str, str] | None) -> None:
        self.data = data
        self.reads = 0

    async def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        assert (namespace, name) == ("kube-system", "extension-apiserver-authentication")
        self.reads += 1
        return self.data


def kubeadm_data() -> dict[str, str]:
    return {
        "client-ca-file": CLIENTS.cert_pem.bytes().decode(),
        "requestheader-client-ca-file": FRONT_PROXY.cert_pem.bytes().decode(),
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        "requestheader-uid-headers": '["X-Remote-Uid"]',
    }


async def test_config_map_supplies_both_cas_and_the_header_names() -> None:
    settings = await load_authentication(AuthenticationOptions(), ConfigMaps(kubeadm_data()))
    assert settings.client_ca is not None and settings.request_header is not None
    assert settings.request_header.allowed_names == ("front-proxy-client",)
    assert settings.request_header.uid_headers == ("X-Remote-Uid",)
    assert settings.request_header.authorities.pem.strip() == FRONT_PROXY.cert_pem.bytes().decode().strip()


async def test_requestheader_flag_wins_over_the_config_map(tmp_path: Path) -> None:
    own = trustme.CA()
    own.cert_pem.write_to_path(str(tmp_path / "front-proxy.pem"))
    options = AuthenticationOptions(
        requestheader_client_ca_file=tmp_path / "front-proxy.pem", requestheader_allowed_names=("aggregator",),
        requestheader_username_headers=("X-User",),
    )
    settings = await load_authentication(options, ConfigMaps(kubeadm_data()))
    assert settings.request_header is not None
    assert settings.request_header.authorities.pem == own.cert_pem.bytes().decode()
    assert (settings.request_header.allowed_names, settings.request_header.username_headers) == (("aggregator",), ("X-User",))
    assert settings.client_ca is not None  # still from the ConfigMap


async def test_skip_lookup_never_reads_the_config_map() -> None:
    config_maps = ConfigMaps(kubeadm_data())
    settings = await load_authentication(AuthenticationOptions(skip_lookup=True), config_maps)
    assert config_maps.reads == 0 and settings.client_ca is None and settings.request_header is None


async def test_a_missing_config_map_leaves_only_tokens() -> None:
    settings = await load_authentication(AuthenticationOptions(), ConfigMaps(None))
    assert settings.client_ca is None and settings.request_header is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("requestheader-allowed-names", "front-proxy-client", "not a JSON list"),
        ("requestheader-group-headers", '{"a": 1}', "JSON list of strings"),
        ("requestheader-client-ca-file", "not a certificate", "PEM"),
    ],
)
async def test_a_bad_config_map_key_is_named(key: str, value: str, message: str) -> None:
    data = {**kubeadm_data(), key: value}
    with pytest.raises(AuthenticationConfigError, match=message) as raised:
        await load_authentication(AuthenticationOptions(), ConfigMaps(data))
    assert key in str(raised.value) and "extension-apiserver-authentication" in str(raised.value)


async def test_an_unreadable_ca_file_names_the_flag(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("garbage")
    with pytest.raises(AuthenticationConfigError, match="--client-ca-file .*ca.pem"):
        await load_authentication(AuthenticationOptions(client_ca_file=tmp_path / "ca.pem", skip_lookup=True), None)
