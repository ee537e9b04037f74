"""Memory a connection flood took goes back to the system once the connections close.

Each TLS connection's 256 KiB read buffer is freed when it closes, but glibc raises its mmap
threshold to the size of the largest block freed, so after the first such buffer every later one
comes from the heap, where a few live blocks keep the rest from being returned: the process stays
at its peak. A fixed threshold keeps blocks this size mmap'd, returned to the system on free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's own default, now fixed: blocks of this size and larger are mmap'd and unmapped on free."""


def return_large_blocks_on_free() -> bool:
    """Fix glibc's mmap threshold; ``False`` (and nothing changed) on a C library without it."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
