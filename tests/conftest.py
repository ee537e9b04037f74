"""Suite-wide set-up.

Model fits in this process (the forecasting tests) get one BLAS/OpenMP thread each, as the
adapter's worker processes do: on a shared 2-core machine, oversubscribed threads made fits
ten times slower. Set before any test module imports numpy.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
