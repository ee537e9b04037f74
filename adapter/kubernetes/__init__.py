"""Kubernetes' vocabulary, free of any server: ``Status`` errors, the metrics APIs' wire format, label
selectors, user identity and request attributes.
"""
