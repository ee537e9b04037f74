"""An ``autoscaling/v2`` HorizontalPodAutoscaler manifest (as loaded from YAML) validated and read
into an :class:`~forecasting.hpa.spec.HpaSpec`.

The models mirror the API's types (``k8s.io/api/autoscaling/v2/types.go``) under its field names,
with the apiserver's rules (``pkg/apis/autoscaling/validation``). Only what decides replica counts
is read: ``minReplicas``, ``maxReplicas``, ``metrics`` and ``behavior``; ``scaleTargetRef``,
``metadata`` and metric selectors name the workload, which a replay already knows, so they are
accepted unread. A field the API does not have is refused, as ``kubectl apply`` refuses it. What
``behavior`` leaves out stays None: :mod:`forecasting.hpa.behavior` fills in the apiserver's
defaults. Every problem is reported at once, one line each naming the file and the field, e.g.
``hpa.yaml: spec.metrics[0].external.target.averageValue: invalid quantity 'x': ...``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from forecasting.core import InputError
from forecasting.hpa.spec import (
    Behavior,
    HpaSpec,
    MetricSpec,
    MetricTarget,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    SourceType,
    TargetType,
    to_milli,
)
from forecasting.quantity import parse_quantity
from forecasting.validation import validation_problems

Quantity = Annotated[Decimal, PlainValidator(parse_quantity)]
"""A ``resource.Quantity``: ``"800m"``, ``"1.5k"``, or a YAML number."""
Name = Annotated[StrictStr, Field(min_length=1)]
"""A metric's or a resource's name, which the API requires."""

_TARGET_VALUES: dict[TargetType, str] = {"Value": "value", "AverageValue": "average_value",
                                         "Utilization": "average_utilization"}
_MESSAGES = {"missing": "required", "extra_forbidden": "unknown field", "model_type": "expected a mapping"}


class ManifestError(InputError):
    """The manifest is not an HPA this replay can run: one line per problem, each naming the field."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {path}: {problem}" for path, problem in problems))


class _Api(BaseModel):
    """An API type: its fields are named as in the API (camelCase), and a field it lacks is refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)


class _Target(_Api):
    """``MetricTarget``: the value its ``type`` names is set and positive, and no other value is."""

    type: TargetType
    value: Quantity | None = Field(default=None, validate_default=True)
    average_value: Quantity | None = Field(default=None, validate_default=True)
    average_utilization: StrictInt | None = Field(default=None, validate_default=True)

    @field_validator("value", "average_value", "average_utilization")
    @classmethod
    def _the_value_of_its_type(cls, value: Decimal | int | None, info: ValidationInfo) -> Decimal | int | None:
        kind: TargetType | None = info.data.get("type")
        if kind is None:  # the type is wrong, and reported
            return value
        if _TARGET_VALUES[kind] != info.field_name:
            if value is not None:
                raise ValueError(f"must be unset: the target's type is {kind}")
        elif value is None:
            raise ValueError("required")
        elif value <= 0:
            raise ValueError("must be positive")
        return value

    def read(self) -> MetricTarget:
        value = getattr(self, _TARGET_VALUES[self.type])
        return MetricTarget(self.type, value if self.type == "Utilization" else to_milli(value))


class _ExternalTarget(_Target):
    type: Literal["Value", "AverageValue"]


class _PodsTarget(_Target):
    type: Literal["AverageValue"]


class _ResourceTarget(_Target):
    type: Literal["Utilization", "AverageValue"]


class _MetricIdentifier(_Api):
    name: Name
    selector: Any = None
    """Selects the workload's series, which a replay already has."""


class _ExternalSource(_Api):
    metric: _MetricIdentifier
    target: _ExternalTarget

    def read(self) -> MetricSpec:
        return MetricSpec("External", self.metric.name, self.target.read())


class _PodsSource(_Api):
    metric: _MetricIdentifier
    target: _PodsTarget

    def read(self) -> MetricSpec:
        return MetricSpec("Pods", self.metric.name, self.target.read())


class _ResourceSource(_Api):
    name: Name
    target: _ResourceTarget

    def read(self) -> MetricSpec:
        return MetricSpec("Resource", self.name, self.target.read())


_Source = _ExternalSource | _PodsSource | _ResourceSource
_SOURCE_FIELDS: dict[SourceType, str] = {"External": "external", "Pods": "pods", "Resource": "resource"}


class _Metric(_Api):
    """``MetricSpec``: the source its ``type`` names is set, and no other. ``Object`` and
    ``ContainerResource`` metrics are API fields, but not simulated."""

    type: SourceType
    external: _ExternalSource | None = Field(default=None, validate_default=True)
    pods: _PodsSource | None = Field(default=None, validate_default=True)
    resource: _ResourceSource | None = Field(default=None, validate_default=True)
    object_source: Any = Field(default=None, validate_default=True, alias="object")
    container_resource: Any = Field(default=None, validate_default=True)

    @field_validator("external", "pods", "resource", "object_source", "container_resource")
    @classmethod
    def _the_source_of_its_type(cls, source: object, info: ValidationInfo) -> object:
        kind: SourceType | None = info.data.get("type")
        if kind is not None and (_SOURCE_FIELDS[kind] == info.field_name) != (source is not None):
            raise ValueError("required" if source is None else f"must be unset: the metric's type is {kind}")
        return source

    def read(self) -> MetricSpec:
        sources: tuple[_Source | None, ...] = (self.external, self.pods, self.resource)
        [source] = [source for source in sources if source is not None]
        return source.read()


class _Policy(_Api):
    """``HPAScalingPolicy``."""

    type: PolicyType
    value: StrictInt = Field(gt=0)
    period_seconds: StrictInt = Field(gt=0, le=1800)

    def read(self) -> ScalingPolicy:
        return ScalingPolicy(self.type, self.value, self.period_seconds)


class _Rules(_Api):
    """``HPAScalingRules``: what is left out stays None, for the defaults to fill in."""

    stabilization_window_seconds: StrictInt | None = Field(default=None, ge=0, le=3600)
    select_policy: SelectPolicy | None = None
    policies: list[_Policy] | None = Field(default=None, min_length=1)
    tolerance: Quantity | None = None

    @field_validator("tolerance")
    @classmethod
    def _non_negative(cls, tolerance: Decimal | None) -> Decimal | None:
        if tolerance is not None and not 0 <= float(tolerance) < math.inf:
            raise ValueError("must be a non-negative number")
        return tolerance

    def read(self) -> ScalingRules:
        return ScalingRules(
            stabilization_window_seconds=self.stabilization_window_seconds,
            select_policy=self.select_policy,
            policies=None if self.policies is None else tuple(policy.read() for policy in self.policies),
            tolerance=None if self.tolerance is None else float(self.tolerance),
        )


class _Behavior(_Api):
    """``HorizontalPodAutoscalerBehavior``."""

    scale_up: _Rules | None = None
    scale_down: _Rules | None = None

    def read(self) -> Behavior:
        return Behavior(scale_up=None if self.scale_up is None else self.scale_up.read(),
                        scale_down=None if self.scale_down is None else self.scale_down.read())


class _Spec(_Api):
    """``HorizontalPodAutoscalerSpec``."""

    scale_target_ref: Any = None
    """Names the workload, which a replay already knows."""
    min_replicas: StrictInt = Field(default=1, ge=0)
    """0 is scale to zero (the ``HPAScaleToZero`` gate), with an External metric."""
    max_replicas: StrictInt = Field(ge=1)
    metrics: list[_Metric] = Field(default=[], validate_default=True)
    behavior: _Behavior | None = None

    @field_validator("max_replicas")
    @classmethod
    def _at_least_min_replicas(cls, max_replicas: int, info: ValidationInfo) -> int:
        min_replicas = info.data.get("min_replicas")
        if min_replicas is not None and max_replicas < min_replicas:
            raise ValueError(f"must be at least minReplicas ({min_replicas})")
        return max_replicas

    @field_validator("metrics")
    @classmethod
    def _simulated(cls, metrics: list[_Metric], info: ValidationInfo) -> list[_Metric]:
        if not metrics:
            raise ValueError("required: the API's default, 80% CPU utilization, is not simulated")
        if info.data.get("min_replicas") == 0 and all(metric.type != "External" for metric in metrics):
            raise ValueError("minReplicas 0 needs at least one External metric")
        return metrics

    def read(self) -> HpaSpec:
        return HpaSpec(max_replicas=self.max_replicas, metrics=tuple(metric.read() for metric in self.metrics),
                       min_replicas=self.min_replicas, behavior=None if self.behavior is None else self.behavior.read())


class _Manifest(_Api):
    """``HorizontalPodAutoscaler``."""

    kind: Literal["HorizontalPodAutoscaler"]
    api_version: Literal["autoscaling/v2"]
    metadata: Any = None
    spec: _Spec
    status: Any = None


def hpa_from_manifest(document: object, *, source: str = "hpa") -> HpaSpec:
    """The HPA of ``document``; raises ManifestError listing every problem with its field."""
    try:
        return _Manifest.model_validate(document).spec.read()
    except ValidationError as error:
        raise ManifestError(source, validation_problems(error, _MESSAGES)) from None
    except ValueError as error:  # a rule of the simulator's own types the models above let through
        raise ManifestError(source, [("spec", str(error))]) from None
