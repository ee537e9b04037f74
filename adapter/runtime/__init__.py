"""Process plumbing: supervised background tasks, daemon thread pools and memory returned after a
connection flood.
"""
