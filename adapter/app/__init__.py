"""The running adapter assembled from its parts: the aiohttp application, its background work and the
resources each opens and closes, and config reloads.
"""
