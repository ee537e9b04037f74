"""The HTTP API the kube-apiserver proxies to: the metrics APIs, discovery and OpenAPI, the status
page, the forecast series on /metrics, and the hardened listener.
"""
