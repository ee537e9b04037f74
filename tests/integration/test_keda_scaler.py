"""The KEDA external scaler as KEDA's operator calls it: a real gRPC client over real TLS with a
client certificate from the CA the scaler trusts, against the real test Prometheus and its
workloads of known values. Model fits run in real worker processes.

Activity is tested with signals whose values are known: a rule that falls to zero at a time ``T``
taken as the test starts. The store's queries run after ``T``, so its current value is zero; the
tracker runs two minutes behind on the test's clock, so the whole history it fits lies before ``T``
and its forecast is of demand still coming (see ``test_planned``)."""

from __future__ import annotations

import time

import grpc
import pytest

from adapter.keda import externalscaler_pb2 as pb
from adapter.keda.externalscaler_pb2_grpc import ExternalScalerStub
from adapter.tracking.tracker import ForecastKey

from .adapter_client import RunningAdapter, adapter_settings, running_adapter
from .keda_client import HANG_GUARD_S, ScalerCertificates, scaler_client, trigger, until
from .prometheus import PrometheusServer
from .test_planned import TRACKER_BEHIND_S, at_step, stepping_rule
from .workload_exporter import ground_truth

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificates() -> ScalerCertificates:
    return ScalerCertificates.make()


def port(adapter: RunningAdapter) -> int:
    assert adapter.scaler is not None and adapter.scaler.port is not None
    return adapter.scaler.port


async def metric(stub: ExternalScalerStub, ref: pb.ScaledObjectRef) -> float:
    request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=ref.scalerMetadata["metric"])
    response = await stub.GetMetrics(request, timeout=HANG_GUARD_S)
    [value] = response.metricValues
    assert value.metricName == ref.scalerMetadata["metric"]
    return float(value.metricValueFloat)


async def test_metric_spec_and_values_are_the_metrics_apis(
    prometheus: PrometheusServer, certificates: ScalerCertificates
) -> None:
    settings = adapter_settings(prometheus.url, {"forecasts": {"workers": 1}})
    truth = ground_truth("inference", "llama")
    async with (
        running_adapter(settings, exact_rates_from=prometheus, keda=certificates.listener()) as adapter,
        scaler_client(port(adapter), certificates, client=certificates.keda) as stub,
    ):
        spec = await stub.GetMetricSpec(trigger("queue_depth", target="2.5"), timeout=HANG_GUARD_S)
        assert [(s.metricName, s.targetSizeFloat, s.targetSize) for s in spec.metricSpecs] == [("queue_depth", 2.5, 3)]

        queue = trigger("queue_depth")
        assert await metric(stub, queue) == truth.queue_depth
        assert await metric(stub, trigger("requests_per_second")) == pytest.approx(truth.requests_per_second, rel=1e-6)
        http = await adapter.get_json(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/queue_depth?labelSelector=app%3Dllama"
        )
        assert http["items"][0]["value"] == f"{truth.queue_depth:g}"
        assert len(list(adapter.store.views())) == 2  # the HTTP API read the scaler's key

        forecast = trigger("requests_per_second_forecast")
        warming = await metric(stub, forecast)  # the current value until a forecast is ready
        assert warming == pytest.approx(truth.requests_per_second, rel=1e-6)
        assert adapter.tracker is not None
        await adapter.tracker.refresh_now()
        view = adapter.tracker.view(ForecastKey("requests_per_second", "inference", "app=llama"))
        assert view.state == "ready" and view.upper is not None, view.reason
        assert await metric(stub, forecast) == pytest.approx(view.upper)

        queries = adapter.sample("foresight_source_queries_total", kind="instant")
        await metric(stub, queue)  # tracked: read from the store, Prometheus is not asked
        assert adapter.sample("foresight_source_queries_total", kind="instant") == queries


async def test_a_client_without_a_certificate_from_the_ca_is_refused(
    prometheus: PrometheusServer, certificates: ScalerCertificates
) -> None:
    settings = adapter_settings(prometheus.url)
    async with running_adapter(settings, keda=certificates.listener()) as adapter:
        for client in (None, certificates.stranger):
            async with scaler_client(port(adapter), certificates, client=client) as stub:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.GetMetricSpec(trigger("queue_depth"), timeout=HANG_GUARD_S)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
        assert list(adapter.store.views()) == []


@pytest.mark.parametrize(
    ("ref", "field"),
    [
        (trigger("no_such_metric"), "'metric'"),
        (pb.ScaledObjectRef(namespace="inference", scalerMetadata={"target": "1"}), "'metric'"),
        (trigger("queue_depth", selector="app in (llama"), "'selector'"),
        (trigger("queue_depth", selector="app=llama,pool>3"), "'selector'"),
        (trigger("queue_depth", target="many"), "'target'"),
        (trigger("queue_depth", target="0"), "'target'"),
        (trigger("queue_depth", target="nan"), "'target'"),
        (trigger("queue_depth", target=""), "'target'"),
        (trigger("queue_depth", selectr="app=llama"), "'selectr'"),
        (trigger("queue_depth", namespace="Inference"), "ScaledObjectRef.namespace"),
        (trigger("queue_depth", namespace=""), "ScaledObjectRef.namespace"),
    ],
)
async def test_bad_metadata_is_invalid_argument_naming_the_field(
    prometheus: PrometheusServer, certificates: ScalerCertificates, ref: pb.ScaledObjectRef, field: str
) -> None:
    settings = adapter_settings(prometheus.url)
    async with (
        running_adapter(settings, keda=certificates.listener()) as adapter,
        scaler_client(port(adapter), certificates, client=certificates.keda) as stub,
    ):
        for call in (stub.IsActive, stub.GetMetricSpec):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(ref, timeout=HANG_GUARD_S)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in (refused.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=HANG_GUARD_S)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.StreamIsActive(ref, timeout=HANG_GUARD_S).read()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert list(adapter.store.views()) == []  # refused before it takes a tracked key


async def test_get_metrics_for_another_metric_name_is_invalid_argument(
    prometheus: PrometheusServer, certificates: ScalerCertificates
) -> None:
    settings = adapter_settings(prometheus.url)
    async with (
        running_adapter(settings, keda=certificates.listener()) as adapter,
        scaler_client(port(adapter), certificates, client=certificates.keda) as stub,
    ):
        request = pb.GetMetricsRequest(scaledObjectRef=trigger("queue_depth"), metricName="gpu_utilization")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetMetrics(request, timeout=HANG_GUARD_S)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "metricName" in (refused.value.details() or "")


@pytest.fixture
def outage_prometheus(restartable_prometheus: PrometheusServer) -> PrometheusServer:
    """The Prometheus this test may stop and start."""
    return restartable_prometheus


async def test_outage_serves_last_good_value_then_unavailable_then_recovers(
    outage_prometheus: PrometheusServer, certificates: ScalerCertificates
) -> None:
    settings = adapter_settings(outage_prometheus.url, {"refresh": {"staleness": "2m"}})
    queue = trigger("queue_depth")
    async with (
        running_adapter(settings, keda=certificates.listener()) as adapter,
        scaler_client(port(adapter), certificates, client=certificates.keda) as stub,
    ):
        good = await metric(stub, queue)
        outage_prometheus.stop()
        try:
            await adapter.store.refresh_now()  # fails: Prometheus is down
            adapter.clock.offset = 60  # within the staleness bound: the last good value
            assert await metric(stub, queue) == good
            assert (await stub.IsActive(queue, timeout=HANG_GUARD_S)).result

            adapter.clock.offset = 180  # past it: UNAVAILABLE, KEDA's cue for its fallback
            await adapter.store.refresh_now()
            for call in (lambda: metric(stub, queue), lambda: stub.IsActive(queue, timeout=HANG_GUARD_S)):
                with pytest.raises(grpc.aio.AioRpcError) as unavailable:
                    await call()
                assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "unreachable" in (unavailable.value.details() or "")
        finally:
            outage_prometheus.start()
        adapter.clock.offset = 0
        await adapter.store.refresh_now()
        assert await metric(stub, queue) == good


def falling_settings(prometheus: PrometheusServer) -> dict[str, object]:
    """``falling``: 10 until ``T`` (now), 0 from then on; ``constant_zero``: 0 throughout."""
    step_at = time.time()
    return {
        "metrics": [
            stepping_rule("falling", at_step("10 - 10 * after", step_at)),
            stepping_rule("constant_zero", "0"),
        ],
        "forecasts": {"signals": ["falling", "constant_zero"], "workers": 1},
    }


async def test_activity_comes_from_the_forecast_before_demand_returns(
    prometheus: PrometheusServer, certificates: ScalerCertificates
) -> None:
    settings = adapter_settings(prometheus.url, falling_settings(prometheus))
    falling, idle = trigger("falling", target="1"), trigger("constant_zero", target="1")
    async with (
        running_adapter(settings, keda=certificates.listener()) as adapter,
        scaler_client(port(adapter), certificates, client=certificates.keda) as stub,
    ):
        adapter.clock.offset = -TRACKER_BEHIND_S
        # no demand and no forecast yet: inactive, so KEDA may scale to zero
        assert not (await stub.IsActive(falling, timeout=HANG_GUARD_S)).result
        assert not (await stub.IsActive(idle, timeout=HANG_GUARD_S)).result
        assert adapter.tracker is not None
        await adapter.tracker.refresh_now()

        for signal, active in (("falling", True), ("constant_zero", False)):
            view = adapter.tracker.view(ForecastKey(signal, "inference", "app=llama"))
            assert view.state == "ready" and view.upper is not None, view.reason
            assert (view.upper > 0) is active
        assert await metric(stub, falling) == 0.0  # demand is still zero...
        assert (await stub.IsActive(falling, timeout=HANG_GUARD_S)).result  # ...but forecast: active
        assert await metric(stub, idle) == 0.0
        assert not (await stub.IsActive(idle, timeout=HANG_GUARD_S)).result


async def test_stream_is_active_sends_a_change_and_ends_when_the_server_stops(
    prometheus: PrometheusServer, certificates: ScalerCertificates
) -> None:
    settings = adapter_settings(prometheus.url, falling_settings(prometheus))
    falling = trigger("falling", target="1")
    async with running_adapter(settings, keda=certificates.listener()) as adapter:
        async with scaler_client(port(adapter), certificates, client=certificates.keda) as stub:
            adapter.clock.offset = -TRACKER_BEHIND_S
            stream = stub.StreamIsActive(falling, timeout=HANG_GUARD_S)
            assert (await stream.read()).result is False

            def hits() -> float:
                return adapter.sample("foresight_cache_lookups_total", result="hit")

            before = hits()
            await adapter.store.refresh_now()  # a pass that changes nothing...
            await until(lambda: hits() > before)  # ...is looked at, and sends nothing
            assert adapter.tracker is not None
            await adapter.tracker.refresh_now()  # the forecast is ready: active
            assert (await stream.read()).result is True

            await adapter.client.close()  # stops the server as SIGTERM does
            assert await stream.read() == grpc.aio.EOF
            assert await stream.code() == grpc.StatusCode.OK
