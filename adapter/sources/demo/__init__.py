"""Embedded demo source: a simulated GPU inference fleet behind the Source protocol."""
