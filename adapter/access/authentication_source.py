"""Where the client CAs and the requestheader settings come from: the flags' files, or the
``kube-system/extension-apiserver-authentication`` ConfigMap the kube-apiserver publishes.

As in the Kubernetes generic apiserver, a flag wins over the ConfigMap (``--client-ca-file`` for
client certificates, ``--requestheader-client-ca-file`` for the front proxy with its header
flags), ``--authentication-skip-lookup`` leaves the ConfigMap alone, and both files and
ConfigMap are read again periodically, so a rotated front-proxy CA is trusted without a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from adapter.access.authentication import AuthenticationSettings, RequestHeaderSettings
from adapter.access.client_certs import CertificateAuthorities, InvalidBundle

AUTHENTICATION_CONFIG_MAP = ("kube-system", "extension-apiserver-authentication")
DEFAULT_USERNAME_HEADERS = ("X-Remote-User",)
DEFAULT_GROUP_HEADERS = ("X-Remote-Group",)
DEFAULT_EXTRA_HEADERS_PREFIXES = ("X-Remote-Extra-",)
DEFAULT_UID_HEADERS = ("X-Remote-Uid",)


class AuthenticationConfigError(ValueError):
    """A CA file or ConfigMap key that cannot be used; the message names which and why."""


class ConfigMapReader(Protocol):
    async def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """The ConfigMap's data, ``None`` when it does not exist."""


@dataclass(frozen=True)
class AuthenticationOptions:
    """The authentication flags, named as the generic apiserver names them."""

    client_ca_file: Path | None = None
    requestheader_client_ca_file: Path | None = None
    requestheader_allowed_names: tuple[str, ...] = ()
    requestheader_username_headers: tuple[str, ...] = DEFAULT_USERNAME_HEADERS
    requestheader_group_headers: tuple[str, ...] = DEFAULT_GROUP_HEADERS
    requestheader_extra_headers_prefix: tuple[str, ...] = DEFAULT_EXTRA_HEADERS_PREFIXES
    skip_lookup: bool = False

    def needs_config_map(self) -> bool:
        return not self.skip_lookup and (self.client_ca_file is None or self.requestheader_client_ca_file is None)


async def load_authentication(options: AuthenticationOptions, config_maps: ConfigMapReader | None) -> AuthenticationSettings:
    """The current settings; :class:`AuthenticationConfigError` names the file or key at fault.
    Errors reaching the kube-apiserver propagate as they are."""
    data: dict[str, str] | None = None
    if options.needs_config_map() and config_maps is not None:
        data = await config_maps.config_map(*AUTHENTICATION_CONFIG_MAP)
    client_ca = _file_bundle(options.client_ca_file, "--client-ca-file")
    if client_ca is None and data is not None:
        client_ca = _config_map_bundle(data, "client-ca-file")
    request_header: RequestHeaderSettings | None = None
    front_proxy_ca = _file_bundle(options.requestheader_client_ca_file, "--requestheader-client-ca-file")
    if front_proxy_ca is not None:
        request_header = RequestHeaderSettings(
            authorities=front_proxy_ca,
            allowed_names=options.requestheader_allowed_names,
            username_headers=options.requestheader_username_headers,
            group_headers=options.requestheader_group_headers,
            extra_headers_prefixes=options.requestheader_extra_headers_prefix,
            uid_headers=DEFAULT_UID_HEADERS,
        )
    elif data is not None:
        request_header = _config_map_request_header(data)
    return AuthenticationSettings(client_ca=client_ca, request_header=request_header)


def _file_bundle(path: Path | None, flag: str) -> CertificateAuthorities | None:
    if path is None:
        return None
    try:
        return CertificateAuthorities(path.read_text())
    except (OSError, UnicodeDecodeError, InvalidBundle) as error:
        raise AuthenticationConfigError(f"{flag} {path}: {error}") from None


def _config_map_bundle(data: dict[str, str], key: str) -> CertificateAuthorities | None:
    pem = data.get(key, "").strip()
    if not pem:
        return None
    try:
        return CertificateAuthorities(pem + "\n")
    except InvalidBundle as error:
        raise AuthenticationConfigError(f"{_where(key)}: {error}") from None


def _config_map_request_header(data: dict[str, str]) -> RequestHeaderSettings | None:
    authorities = _config_map_bundle(data, "requestheader-client-ca-file")
    if authorities is None:
        return None
    return RequestHeaderSettings(
        authorities=authorities,
        allowed_names=_string_list(data, "requestheader-allowed-names", ()),
        username_headers=_string_list(data, "requestheader-username-headers", DEFAULT_USERNAME_HEADERS),
        group_headers=_string_list(data, "requestheader-group-headers", DEFAULT_GROUP_HEADERS),
        extra_headers_prefixes=_string_list(data, "requestheader-extra-headers-prefix", DEFAULT_EXTRA_HEADERS_PREFIXES),
        uid_headers=_string_list(data, "requestheader-uid-headers", DEFAULT_UID_HEADERS),
    )


def _string_list(data: dict[str, str], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A ConfigMap value holding a JSON list of strings, as the kube-apiserver writes them."""
    text = data.get(key)
    if text is None or not text.strip():
        return default
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise AuthenticationConfigError(f"{_where(key)}: not a JSON list: {error.msg}") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthenticationConfigError(f"{_where(key)}: must be a JSON list of strings")
    return tuple(value) or default


def _where(key: str) -> str:
    namespace, name = AUTHENTICATION_CONFIG_MAP
    return f"ConfigMap {namespace}/{name}, key {key}"
