"""Foresight's NVML exporter: dcgm-exporter's GPU series, read through NVML, attributed to pods.

``devices`` wraps the NVML calls (the only module that imports ``pynvml``), ``attribution`` maps
GPU processes to pods through their cgroups, ``sampling`` sweeps the GPUs into a snapshot,
``collector`` renders it under dcgm-exporter's names and ``server`` serves it.
"""

from adapter.nvml.devices import NvmlError, NvmlLayer, NvmlUnavailable, open_nvml
from adapter.nvml.server import ExporterSettings, create_exporter_app, run_exporter
from adapter.nvml.snapshot import GpuSnapshot, MigSnapshot, NodeSnapshot, PodRef

__all__ = [
    "ExporterSettings",
    "GpuSnapshot",
    "MigSnapshot",
    "NodeSnapshot",
    "NvmlError",
    "NvmlLayer",
    "NvmlUnavailable",
    "PodRef",
    "create_exporter_app",
    "open_nvml",
    "run_exporter",
]
