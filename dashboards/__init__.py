"""Foresight's Grafana dashboards, built with Grafana's typed SDK (grafana-foundation-sdk), so a
field Grafana does not know fails here rather than at import. ``python -m dashboards`` writes the
JSON files beside this package, which are what users import; a test checks they are current.

A development tool: nothing in ``adapter`` or ``forecasting`` imports it, and the SDK is a test
dependency only.
"""
