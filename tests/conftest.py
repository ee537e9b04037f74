"""Suite-wide set-up.

Model fits in this process (the forecasting tests) get one BLAS/OpenMP thread each, as the
adapter's worker processes do: on a shared 2-core machine, oversubscribed threads made fits
ten times slower. Set before any test module imports numpy.
"""

from forecasting.threads import one_thread_per_process

one_thread_per_process()
