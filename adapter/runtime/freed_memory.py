"""Memory a connection flood took goes back to the system once the connections close.

Each TLS connection's 256 KiB read buffer is freed when it closes, but glibc raises its mmap
threshold to the size of the largest block freed, so after the first such buffer every later one
comes from the heap, where a few live blocks keep the rest from being returned: the process stays
at its peak. A fixed threshold keeps blocks this size mmap'd, returned to the system on free. The
many small blocks of each connection's TLS state stay in the heap; once a flood has drained,
``trim`` hands their free pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's own default, now fixed: blocks of this size and larger are mmap'd and unmapped on free."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name is not None else None
    except OSError:
        return None


def trim() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    libc = _libc()
    malloc_trim = getattr(libc, "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        malloc_trim(0)


def return_large_blocks_on_free() -> bool:
    """Fix glibc's mmap threshold; ``False`` (and nothing changed) on a C library without it."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
