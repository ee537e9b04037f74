"""Foresight: a Kubernetes external/custom metrics adapter for GPU inference workloads."""

__version__ = "0.1.0"
