"""The series a GPU inference fleet's exporters publish, rendered from the fleet's shape and values.

One renderer serves every simulated fleet: the demo's (:mod:`adapter.sources.demo.fleet`, a queueing model
with noise and daily demand) and the integration tests' exporter (values known in advance, exact
linear counters, and the awkward label layouts real clusters produce). What is written once here
is what the real exporters fix and what a simulator must not get wrong in two places:

* the fleet's shape: a :class:`PodLayout` per pod (namespace, name, app, role, model, the
  :class:`Gpu` it runs on, how dcgm-exporter attributes that GPU to it, which inference server
  serves it);
* the families, their kinds and label layouts: kube-state-metrics' ``kube_pod_labels``,
  dcgm-exporter's ``DCGM_FI_DEV_*`` under its three ways of naming the pod, and the inference
  server's own series (:mod:`adapter.sources.demo.servers`);
* how a histogram is exposed: cumulative ``_bucket`` series with ``le``, ``+Inf`` equal to
  ``_count``, and ``_sum`` where the exporter keeps one.

What is left to each simulator is its value model, because the two cannot share one: the demo
needs load that moves (queues, daily peaks, noise), the tests need values known in advance so that
their ground truth follows from the configuration. Each hands :func:`render_pod` a
:class:`PodSeries` of numpy arrays with one element per scrape: the demo a block of thousands of
steps at once, the tests' exporter one scrape as a block of one, or its whole backfilled history
as one block, so both go through the same code.

The renderer lives in the product, not in the tests, because the demo ships it and the product
never imports tests; the tests borrowing it means the layouts the demo serves are the ones the
integration tests check against a real Prometheus.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["GPU_MODEL_NAME", "ROLE_KSM_LABEL", "ROLE_LABEL", "Attribution", "Family", "Gpu", "Histogram",
           "InferenceServer", "PodLayout", "PodSeries", "Sample", "histogram_samples", "render_pod"]

GPU_MODEL_NAME = "NVIDIA H100 80GB HBM3"
ROLE_LABEL = "llm-d.ai/role"
"""llm-d's pod label for a disaggregated worker's role."""
ROLE_KSM_LABEL = "label_llm_d_ai_role"
"""The same label as kube-state-metrics exports it."""


@dataclass(frozen=True)
class Family:
    """A metric family as its exporter declares it (the text format's ``TYPE`` and ``HELP``)."""

    name: str
    kind: str
    """``counter``, ``gauge`` or ``histogram``."""
    help: str = ""


@dataclass(frozen=True)
class Sample:
    """One series of a family over a block of scrapes."""

    family: Family
    name: str
    """The sample's name: the family's, or with ``_total``, ``_bucket``, ``_sum`` or ``_count``."""
    labels: dict[str, str]
    values: np.ndarray


@dataclass(frozen=True)
class Histogram:
    """A histogram's cumulative counts over a block of scrapes."""

    bounds: tuple[float, ...]
    """The finite upper bounds; ``+Inf`` is the count."""
    buckets: np.ndarray
    """Cumulative counts, one row per scrape and one column per bound."""
    count: np.ndarray
    total: np.ndarray | None = None
    """The ``_sum`` series, None where the simulated exporter leaves it out."""


class Attribution(enum.Enum):
    """How a dcgm series names the pod that uses its GPU, as seen after a scrape."""

    POD = "pod"
    """dcgm-exporter with pod mapping: ``namespace``/``pod`` name the workload's pod."""
    EXPORTED = "exported"
    """Scraped without ``honor_labels``: ``namespace``/``pod`` name dcgm-exporter's own pod and
    the workload's pod moved to ``exported_namespace``/``exported_pod``."""
    LEGACY = "legacy"
    """Older dcgm-exporter releases: ``pod_name`` instead of ``pod``."""


@dataclass(frozen=True)
class Gpu:
    """One physical GPU; pods that share it refer to the same one."""

    uuid: str
    """dcgm-exporter's ``UUID`` label, ``GPU-`` and a UUID."""
    index: int
    hostname: str
    model_name: str = GPU_MODEL_NAME


@dataclass(frozen=True)
class PodSeries:
    """One pod's values over a block of scrapes, one element per scrape; counters count since
    their exporter started."""

    gpu_utilization: np.ndarray
    power_watts: np.ndarray
    energy_millijoules: np.ndarray
    requests: np.ndarray
    latency: Histogram
    waiting: np.ndarray
    running: np.ndarray
    prompt_tokens: np.ndarray
    generation_tokens: np.ndarray
    kv_cache_usage: np.ndarray
    """KV-cache fill, 0 to 1."""
    time_to_first_token: Histogram
    inter_token: Histogram
    time_per_output_token: Histogram | None = None
    """vLLM's older name for the inter-token histogram, where a server that exports both names
    fills it differently; None where it holds the same."""
    framebuffer_used_mib: np.ndarray | None = None
    """Where the simulator models GPU memory; dcgm's ``FB_USED`` is left out otherwise."""


class InferenceServer(Protocol):
    """An inference server's own series for a pod (vLLM, SGLang, Triton...)."""

    @property
    def name(self) -> str:
        """The server's name in the adapter's config (``signals.server``)."""
        ...

    def samples(self, pod: PodLayout, values: PodSeries) -> Iterator[Sample]:
        """Every series the server exports for ``pod``."""
        ...


@dataclass(frozen=True)
class PodLayout:
    """What names one pod in every exporter's labels."""

    namespace: str
    name: str
    uid: str
    app: str
    gpu: Gpu
    server: InferenceServer
    model_name: str
    """The served model as the server labels it (vLLM's ``model_name``)."""
    model_label: str | None = None
    """The pod's ``model`` label, where it has one."""
    role: str | None = None
    """``prefill`` or ``decode`` in a disaggregated workload (:data:`ROLE_LABEL`)."""
    attribution: Attribution = Attribution.POD
    container: str = "vllm"


KUBE_POD_LABELS = Family("kube_pod_labels", "gauge", "Kubernetes labels converted to Prometheus labels.")
GPU_UTIL = Family("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).")
POWER_USAGE = Family("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).")
# dcgm-exporter names this counter without the conventional `_total` suffix.
TOTAL_ENERGY = Family("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).")
FB_USED = Family("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).")


def render_pod(pod: PodLayout, values: PodSeries) -> Iterator[Sample]:
    """Every series kube-state-metrics, dcgm-exporter and the pod's inference server publish."""
    yield Sample(KUBE_POD_LABELS, KUBE_POD_LABELS.name, _kube_pod_labels(pod), np.ones(len(values.gpu_utilization)))
    dcgm = _dcgm_labels(pod)
    yield Sample(GPU_UTIL, GPU_UTIL.name, dcgm, values.gpu_utilization)
    yield Sample(POWER_USAGE, POWER_USAGE.name, dcgm, values.power_watts)
    yield Sample(TOTAL_ENERGY, TOTAL_ENERGY.name, dcgm, values.energy_millijoules)
    if values.framebuffer_used_mib is not None:
        yield Sample(FB_USED, FB_USED.name, dcgm, values.framebuffer_used_mib)
    yield from pod.server.samples(pod, values)


def _kube_pod_labels(pod: PodLayout) -> dict[str, str]:
    """kube-state-metrics' ``kube_pod_labels``: the pod's labels as ``label_*``."""
    labels = {"namespace": pod.namespace, "pod": pod.name, "uid": pod.uid, "label_app": pod.app}
    if pod.model_label is not None:
        labels["label_model"] = pod.model_label
    if pod.role is not None:
        labels[ROLE_KSM_LABEL] = pod.role
    return labels


def _dcgm_labels(pod: PodLayout) -> dict[str, str]:
    """dcgm-exporter's labels for the GPU of ``pod``, as its :class:`Attribution` names the pod."""
    gpu = pod.gpu
    labels = {
        "gpu": str(gpu.index),
        "UUID": gpu.uuid,
        "device": f"nvidia{gpu.index}",
        "modelName": gpu.model_name,
        "Hostname": gpu.hostname,
    }
    match pod.attribution:
        case Attribution.POD:
            labels |= {"container": pod.container, "namespace": pod.namespace, "pod": pod.name}
        case Attribution.EXPORTED:
            labels |= {
                "container": "nvidia-dcgm-exporter",
                "namespace": "gpu-operator",
                "pod": "dcgm-exporter-x1",
                "exported_container": pod.container,
                "exported_namespace": pod.namespace,
                "exported_pod": pod.name,
            }
        case Attribution.LEGACY:
            labels |= {"container": pod.container, "namespace": pod.namespace, "pod_name": pod.name}
    return labels


def histogram_samples(
    family: Family, labels: dict[str, str], histogram: Histogram, *, bound_scale: float = 1.0
) -> Iterator[Sample]:
    """A histogram's ``_bucket`` series (``+Inf`` is the count), ``_count`` and ``_sum`` where kept;
    ``bound_scale`` converts the bounds to the exporter's unit (Triton's milliseconds)."""
    bucket = f"{family.name}_bucket"
    for column, bound in enumerate(histogram.bounds):
        yield Sample(family, bucket, labels | {"le": _le(bound * bound_scale)}, histogram.buckets[:, column])
    yield Sample(family, bucket, labels | {"le": "+Inf"}, histogram.count)
    yield Sample(family, f"{family.name}_count", labels, histogram.count)
    if histogram.total is not None:
        yield Sample(family, f"{family.name}_sum", labels, histogram.total)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))
