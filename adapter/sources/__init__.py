"""Where time series come from: the :class:``Source`` protocol, Prometheus, and the embedded demo
fleet.
"""
