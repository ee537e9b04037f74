"""``foresight demo --secure-port``: the secure path without a cluster. A real process serves
HTTPS with a certificate it generated in memory and authenticates client certificates from
``--client-ca-file``; the real ``kubectl`` reads it with and without one."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml
from cryptography import x509

from .local import foresight_command, foresight_environment, free_port, kubectl, stop

pytestmark = pytest.mark.integration
METRIC = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests_per_second?labelSelector=app%3Dllama"


class SecureDemo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.clients = trustme.CA()
        self.clients.cert_pem.write_to_path(str(workdir / "clients.pem"))
        self.port = free_port()
        self.log_path = workdir / "demo.log"
        self._log = self.log_path.open("w")
        environment = {key: value for key, value in os.environ.items() if key != "KUBERNETES_SERVICE_HOST"}
        self.process = subprocess.Popen(
            foresight_command("demo", "--speed", "10", "--secure-port", str(self.port),
                              "--client-ca-file", str(workdir / "clients.pem"), "--authentication-skip-lookup"),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=foresight_environment(environment),
        )
        try:
            self.served_pem = self._wait_serving()
        except BaseException:
            self.process.kill()
            self.process.wait()
            self._log.close()
            raise
        (workdir / "served.pem").write_text(self.served_pem)

    def _wait_serving(self) -> str:
        deadline = time.monotonic() + 300  # guards against a hang; start-up takes seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log_path.read_text())
            try:
                return ssl.get_server_certificate(("127.0.0.1", self.port), timeout=2)
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(self.log_path.read_text())

    def kubectl(self, *args: str, user: dict[str, str]) -> subprocess.CompletedProcess[str]:
        config = self.workdir / "kubeconfig"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "demo",
            "clusters": [{"name": "demo", "cluster": {"server": f"https://127.0.0.1:{self.port}",
                                                        "certificate-authority": str(self.workdir / "served.pem")}}],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "user"}}],
        }))
        environment = {**os.environ, "KUBECONFIG": str(config)}
        return subprocess.run([kubectl(), *args], capture_output=True, text=True, timeout=60, env=environment, check=False)

    def close(self) -> None:
        try:
            stop(self.process, grace_s=60, what="foresight demo")
        finally:
            self._log.close()


@pytest.fixture(scope="module")
def secure_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureDemo]:
    demo = SecureDemo(tmp_path_factory.mktemp("secure-demo"))
    try:
        yield demo
    finally:
        demo.close()


def test_generated_certificate_names_the_loopback_address(secure_demo: SecureDemo) -> None:
    certificate = x509.load_pem_x509_certificate(secure_demo.served_pem.encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(address) for address in names.get_values_for_type(x509.IPAddress)}
    assert "self-signed certificate generated in memory" in secure_demo.log_path.read_text()


def test_kubectl_with_a_client_certificate_reads_metrics(secure_demo: SecureDemo) -> None:
    leaf = secure_demo.clients.issue_cert("operator.test", common_name="operator")
    leaf.cert_chain_pems[0].write_to_path(str(secure_demo.workdir / "operator.crt"))
    leaf.private_key_pem.write_to_path(str(secure_demo.workdir / "operator.key"))
    user = {"client-certificate": str(secure_demo.workdir / "operator.crt"),
            "client-key": str(secure_demo.workdir / "operator.key")}
    result = secure_demo.kubectl("get", "--raw", METRIC, user=user)
    assert result.returncode == 0, result.stderr
    assert '"ExternalMetricValueList"' in result.stdout


def test_kubectl_without_a_certificate_is_unauthorized(secure_demo: SecureDemo) -> None:
    """No cluster to review tokens: a token is not an identity here."""
    result = secure_demo.kubectl("get", "--raw", METRIC, user={"token": "anything"})
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr
