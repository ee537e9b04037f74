"""The tracking core: the keys the HPAs ask for, refreshed from the source; the forecast of each
tracked series in worker processes; and reading served values from both.
"""
