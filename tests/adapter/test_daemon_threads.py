"""The Prometheus query pool: results and errors reach the caller, at most ``max_workers`` threads
run, and none of them holds the process open when it exits."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from adapter.runtime.daemon_threads import DaemonThreadPool


def test_results_and_errors_reach_the_caller() -> None:
    pool = DaemonThreadPool(2, thread_name_prefix="query")
    try:
        assert pool.submit(pow, 2, 10).result() == 1024
        with pytest.raises(ZeroDivisionError):
            pool.submit(divmod, 1, 0).result()
    finally:
        pool.shutdown()


def test_no_more_threads_than_max_workers_and_idle_ones_are_reused() -> None:
    pool = DaemonThreadPool(2, thread_name_prefix="bounded")
    release = threading.Event()
    try:
        futures = [pool.submit(release.wait) for _ in range(5)]
        running = [thread for thread in threading.enumerate() if thread.name.startswith("bounded_")]
        assert len(running) == 2 and all(thread.daemon for thread in running)
        release.set()
        assert all(future.result() for future in futures)
        pool.submit(int).result()
        assert len([thread for thread in threading.enumerate() if thread.name.startswith("bounded_")]) == 2
    finally:
        release.set()
        pool.shutdown()


def test_shutdown_cancels_queued_work_and_refuses_new_work() -> None:
    pool = DaemonThreadPool(1, thread_name_prefix="cancel")
    release = threading.Event()
    running = pool.submit(release.wait)
    queued = pool.submit(int)
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(int)
    release.set()
    assert running.result() is True


def test_a_query_that_never_answers_does_not_hold_the_process_open() -> None:
    """With ``ThreadPoolExecutor`` this interpreter would wait for the blocked thread at exit."""
    program = (
        "import threading\n"
        "from adapter.runtime.daemon_threads import DaemonThreadPool\n"
        "pool = DaemonThreadPool(1, thread_name_prefix='stuck')\n"
        "pool.submit(threading.Event().wait)\n"
        "pool.shutdown(wait=False)\n"
        "print('exiting', flush=True)\n"
    )
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0 and finished.stdout == "exiting\n", finished.stderr
