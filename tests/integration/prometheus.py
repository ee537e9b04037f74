"""A real Prometheus server run as a child process, so integration tests exercise real PromQL.

The server scrapes fixed targets every second from a private data directory. It can be stopped and
started again on the same port and data directory, which is how tests simulate an outage of the
metrics source without losing the history scraped before it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .local import free_port

# Local servers only: never route through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_POLL_INTERVAL_S = 0.2
_REQUEST_TIMEOUT_S = 2.0



def _http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET; connection failures raise ``OSError``."""
    try:
        with _OPENER.open(url, timeout=_REQUEST_TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


class PrometheusError(RuntimeError):
    """Prometheus is missing, failed to start, or answered a query with an error."""


def _binary(name: str) -> str:
    """The path of a binary from Debian's ``prometheus`` package."""
    path = shutil.which(name)
    if path is None:
        raise PrometheusError(
            f"`{name}` is not on PATH; install Debian's package with `apt-get install prometheus` "
            "to run the integration tests"
        )
    return path


class PrometheusServer:
    """A ``prometheus`` child process on ``127.0.0.1`` scraping ``targets`` every second.

    ``ready_queries`` are PromQL expressions that must all return a non-empty result before
    :meth:`start` returns, e.g. ``rate(some_counter[1m])``; :meth:`start` also waits for one
    scrape by the new process. ``backfill`` is OpenMetrics text with timestamps, loaded as history
    before the first start. The server's log goes to :attr:`log_path`, not to the test output.

    ``rule_files`` are Prometheus rule files it loads and evaluates every second.

    ``extra_args`` are appended to the command line, e.g. ``--web.config.file`` for TLS and basic
    auth; ``port`` then lets them name the port in advance. Such a server no longer answers the
    plain-HTTP readiness checks, so ``ready_probe`` replaces all of them (and ``ready_queries``):
    :meth:`start` returns once it returns true. :attr:`url` is then only host and port over HTTP.
    """

    def __init__(
        self,
        workdir: Path,
        targets: Sequence[str],
        *,
        job: str = "workload",
        ready_queries: Sequence[str] = (),
        backfill: str = "",
        startup_timeout_s: float = 30.0,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        ready_probe: Callable[[], bool] | None = None,
        rule_files: Sequence[Path] = (),
    ) -> None:
        if ready_probe is not None and ready_queries:
            raise ValueError("ready_queries need the plain-HTTP checks that ready_probe replaces")
        self._binary = _binary("prometheus")
        self.job = job
        self.port = free_port() if port is None else port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        self._data_dir = workdir / "data"
        self._config_path = workdir / "prometheus.yml"
        self._ready_queries = tuple(ready_queries)
        self._startup_timeout_s = startup_timeout_s
        self._extra_args = tuple(extra_args)
        self._ready_probe = ready_probe
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    # Keep the namespace/pod labels exactly as the exporter states them.
                    "honor_labels": True,
                    "static_configs": [{"targets": list(targets)}],
                }
            ],
        }
        # JSON is valid YAML, so no YAML writer is needed.
        self._config_path.write_text(json.dumps(config, indent=2))
        if backfill:
            self._backfill(backfill, workdir / "backfill.om")

    def _backfill(self, openmetrics: str, path: Path) -> None:
        """Write ``openmetrics`` samples as TSDB blocks into the data directory before any start.

        The text file is kept only when promtool rejects it, to debug it.
        """
        path.write_text(openmetrics)
        with self.log_path.open("ab") as log:
            result = subprocess.run(
                [
                    _binary("promtool"),
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    str(path),
                    str(self._data_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise PrometheusError(f"promtool could not backfill {path}; log tail:\n{self.log_tail()}")
        path.unlink()

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it is ready and ``ready_queries`` return data."""
        if self.running:
            raise PrometheusError("Prometheus is already running")
        started_at = time.time()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                self._binary,
                f"--config.file={self._config_path}",
                f"--storage.tsdb.path={self._data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *self._extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self._data_dir.parent,
        )
        try:
            self._wait_until_ready(started_at)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s); a no-op when stopped."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """The result of an instant query at ``at`` (Unix seconds), by default the current time.

        Raises ``OSError`` when the server cannot be reached and :class:`PrometheusError` when it
        rejects the query.
        """
        parameters = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
        status, body = _http_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode(parameters)}")
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if status != 200 or answer.get("status") != "success":
            raise PrometheusError(f"query {promql!r} failed with HTTP {status}: {body[:500]!r}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def whole_window_time(self, series: str, window_s: int, *, timeout_s: float = 120.0) -> float:
        """The newest time at which ``series`` has a sample and had one exactly ``window_s`` earlier,
        waiting until there is one.

        A ``rate(...[window_s])`` evaluated then starts and ends on a scrape, so Prometheus
        extrapolates nothing, and a counter that is a linear function of its samples' timestamps
        gives its slope exactly. At "now" the window may instead start in a gap (a restart, the
        start-up between the backfilled history and the first scrape, scrapes that timed out on a
        loaded machine): Prometheus then extrapolates only half an interval into the gap, and a 10 s
        gap made rates 15 % low. Needs a target that stamps its samples on a whole-second grid, as
        :class:`~.workload_exporter.WorkloadExporter` does; every series of one target shares the
        timestamps of its scrapes, so any one of them will do.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            stamps = {
                round(float(timestamp))
                for result in self.query(f"{series}[{2 * window_s}s]")
                for timestamp, _ in result["values"]
            }
            whole = [stamp for stamp in stamps if stamp - window_s in stamps]
            if whole:
                return float(max(whole))
            if time.monotonic() >= deadline:
                raise PrometheusError(
                    f"no two samples of {series} {window_s} s apart in the last {2 * window_s} s "
                    f"after waiting {timeout_s:g} s; log tail:\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log written)"

    def _wait_until_ready(self, started_at: float) -> None:
        if self._ready_probe is not None:
            self._poll("readiness", self._ready_probe)
            return
        self._poll("/-/ready", lambda: _http_get(f"{self.url}/-/ready")[0] == 200)
        # After a restart the data directory still holds old samples; wait for a fresh scrape so
        # that rates are not extrapolated from before the outage.
        fresh = f'timestamp(up{{job="{self.job}"}}) >= {started_at:.3f}'
        self._poll("a scrape by this process", lambda: bool(self.query(fresh)))
        for promql in self._ready_queries:
            self._poll(f"data for {promql}", lambda: bool(self.query(promql)))

    def _poll(self, what: str, check: Callable[[], bool]) -> None:
        """Retry ``check`` until it returns true; fail with the log tail on timeout or exit."""
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            if not self.running:
                raise PrometheusError(
                    f"Prometheus exited while waiting for {what}; log tail:\n{self.log_tail()}"
                )
            try:
                if check():
                    return
            except (OSError, PrometheusError):
                pass
            if time.monotonic() >= deadline:
                raise PrometheusError(
                    f"timed out waiting for {what} from Prometheus at {self.url}; "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
