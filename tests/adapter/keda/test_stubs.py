"""The committed gRPC stubs are what the pinned grpcio-tools makes of the vendored proto, and the
service they describe is KEDA's, at the paths KEDA calls."""

from __future__ import annotations

from pathlib import Path

from adapter.keda import externalscaler_pb2
from adapter.keda.generate import PROTO, ROOT, generate


def test_committed_stubs_are_generated_from_the_proto(tmp_path: Path) -> None:
    for generated in generate(tmp_path):
        committed = ROOT / PROTO.parent / generated.name
        assert committed.read_bytes() == generated.read_bytes(), (
            f"{committed.relative_to(ROOT)} differs from the proto: run python -m adapter.keda.generate"
        )


def test_the_service_is_keda_external_scaler() -> None:
    service = externalscaler_pb2.DESCRIPTOR.services_by_name["ExternalScaler"]
    assert service.full_name == "externalscaler.ExternalScaler"
    streaming = {method.name: method.server_streaming for method in service.methods}
    assert streaming == {
        "IsActive": False, "StreamIsActive": True, "GetMetricSpec": False, "GetMetrics": False,
        "StreamMetricSpec": True,
    }
