"""One BLAS/OpenMP thread per process that fits models.

Fits run in worker processes, one per core. A numerical library that also starts a thread per core
in each of them makes threads contend: on a busy 2-core machine one gradient-boosting fit took
30-40 s instead of 0.3 s. The libraries read these variables when they load, so this runs before
numpy, scikit-learn or statsmodels is imported (it imports nothing of them itself).
"""

from __future__ import annotations

import os

SINGLE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread_per_process() -> None:
    """Set each thread variable to 1 unless the environment already chose a value."""
    for variable in SINGLE_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
