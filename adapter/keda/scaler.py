"""KEDA's external scaler service (``externalscaler.proto``), answered from the metrics the HTTP
API serves, through the same :class:`~adapter.tracking.metric_values.MetricValues`.

``GetMetrics`` reads the store, as an HPA's request does: the first call for a key registers it,
later ones never wait for the data source, and a value past the staleness bound is ``UNAVAILABLE``,
which KEDA answers with the ScaledObject's ``fallback``. ``IsActive`` looks ahead: a workload whose
signal has forecasts is active while its demand *or* its forecast over [now+L, now+L+H] is above
zero, so KEDA brings a scaled-to-zero workload back a pod start-up before demand arrives.
``StreamIsActive`` (trigger type ``external-push``) sends the activity at once and then whenever
it changes, looking again as each refresh pass ends; it ends cleanly when the server stops.
``StreamMetricSpec`` is left unimplemented, as the protocol allows: a trigger's target is fixed by
its metadata, so there is no change to push.

The caller is KEDA's operator, authenticated by its client certificate; its keys count against
the total and per-namespace caps, as the HPA controller's do.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable
from typing import Any, NoReturn, TypeVar

import grpc

from adapter.keda import externalscaler_pb2 as pb
from adapter.keda.externalscaler_pb2_grpc import ExternalScalerServicer
from adapter.keda.trigger import Trigger, parse_trigger
from adapter.kubernetes.errors import (
    AdapterError,
    BadRequest,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from adapter.tracking.metric_values import MetricRequest, MetricValues, check_namespace

log = logging.getLogger(__name__)
T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]
"""A call's context; the four calls' request and response types are in their signatures."""
INT64_MAX = 2**63 - 1
CODES: dict[type[AdapterError], grpc.StatusCode] = {
    BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    TooManyRequests: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_code(error: AdapterError) -> grpc.StatusCode:
    """The gRPC code of one of our errors: the code of its nearest class in :data:`CODES`."""
    for kind in type(error).__mro__:
        if kind in CODES:
            return CODES[kind]
    return grpc.StatusCode.INTERNAL


class ExternalScaler(ExternalScalerServicer):
    """The scaler's four calls; every error is translated in :meth:`_answer`, the one place."""

    def __init__(self, values: MetricValues) -> None:
        self._values = values
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End every ``StreamIsActive`` cleanly, as the server begins to stop."""
        self._stopping.set()

    async def IsActive(self, request: pb.ScaledObjectRef, context: Context) -> pb.IsActiveResponse:
        trigger = await self._answer(context, self._trigger(request))
        return pb.IsActiveResponse(result=await self._answer(context, self._active(trigger)))

    async def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> AsyncIterator[pb.IsActiveResponse]:
        trigger = await self._answer(context, self._trigger(request))
        sent: bool | None = None
        while not self._stopping.is_set():
            passed = self._values.passes.next()
            active = await self._answer(context, self._active(trigger))
            if active != sent:
                yield pb.IsActiveResponse(result=active)
                sent = active
            await self._next_pass(passed)

    async def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> pb.GetMetricSpecResponse:
        trigger = await self._answer(context, self._trigger(request))
        spec = pb.MetricSpec(metricName=trigger.metric, targetSize=_whole(trigger.target),
                             targetSizeFloat=trigger.target)
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    async def GetMetrics(self, request: pb.GetMetricsRequest, context: Context) -> pb.GetMetricsResponse:
        trigger = await self._answer(context, self._trigger(request.scaledObjectRef))
        if request.metricName not in ("", trigger.metric):
            await _abort(context, BadRequest(
                f"metricName {request.metricName!r} is not the trigger's metric {trigger.metric!r}"
            ))
        value = await self._answer(context, self._value(trigger))
        metric = pb.MetricValue(metricName=trigger.metric, metricValue=_whole(value), metricValueFloat=value)
        return pb.GetMetricsResponse(metricValues=[metric])

    async def _trigger(self, request: pb.ScaledObjectRef) -> Trigger:
        """The trigger, checked as far as the metrics API checks a request."""
        trigger = parse_trigger(request.namespace, dict(request.scalerMetadata))
        self._request(trigger)
        return trigger

    def _request(self, trigger: Trigger) -> MetricRequest:
        """The metrics API's request for the trigger; an error names the field to fix."""
        try:
            check_namespace(trigger.namespace)
        except BadRequest as error:
            raise BadRequest(f"ScaledObjectRef.namespace: {error.message}") from None
        try:
            return self._values.request(
                "external", namespace=trigger.namespace, name=trigger.metric, selector=trigger.selector
            )
        except NotFound as error:
            raise BadRequest(f"trigger metadata 'metric': {error.message}") from None
        except BadRequest as error:
            raise BadRequest(f"trigger metadata 'selector': {error.message}") from None

    async def _value(self, trigger: Trigger) -> float:
        return await self._values.value(self._request(trigger), user=None)

    async def _active(self, trigger: Trigger) -> bool:
        """Whether the workload has demand now or forecast over the lead window."""
        return await self._values.value(self._values.planned(self._request(trigger)), user=None) > 0

    async def _next_pass(self, passed: asyncio.Event) -> None:
        """Until ``passed`` is set or the server stops."""
        waits = [asyncio.ensure_future(passed.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    @staticmethod
    async def _answer(context: Context, work: Awaitable[T]) -> T:
        """``work``'s result, or the call ended with the status of its error; never a traceback."""
        try:
            return await work
        except AdapterError as error:
            await _abort(context, error)
        except Exception:
            log.exception("unexpected error serving a KEDA scaler call")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the adapter's log")
        raise AssertionError("unreachable: abort raises")


def _whole(value: float) -> int:
    """The integer field beside a float one, which KEDA releases before 2.17 read instead: rounded
    up, as the HTTP API rounds to milli-units, so demand is never under-reported nor a target 0."""
    return min(math.ceil(value), INT64_MAX)


async def _abort(context: Context, error: AdapterError) -> NoReturn:
    await context.abort(status_code(error), error.message)
    raise AssertionError("unreachable: abort raises")
