"""What each signal means in PromQL: the presets per inference server, the LLM signals, rendering a
rule for a request, and units.
"""
