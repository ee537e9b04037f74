"""The one place that turns how a command ended into its exit code.

0: done. 1: a failure the command reports in one line on standard error, without a traceback: a
bad input file, an unreachable Prometheus, a worker process killed. 2: a usage error. 130:
interrupted. Only the project's own errors that mean bad input are failures; any other exception
is a bug, and its traceback shows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import BrokenExecutor

from adapter.access.authentication_source import AuthenticationConfigError
from adapter.access.serving_tls import ServingCertificateError
from adapter.commands.command_options import UsageError
from adapter.kubernetes.errors import AdapterError, ConfigError
from forecasting import ForecastError, InputError

OK, FAILURE, USAGE, INTERRUPTED = 0, 1, 2, 130


class CommandFailed(Exception):
    """A failure a command words itself (exit code 1)."""


FAILURES: tuple[type[Exception], ...] = (
    CommandFailed,
    OSError,  # a file that cannot be read or written, an address already in use
    AdapterError,  # Prometheus unreachable or refusing, a selector refused
    InputError,  # a trace, HPA manifest, history, plot or output folder the forecasting library cannot use
    ForecastError,  # too little data for any model
    AuthenticationConfigError,  # a client CA file or the cluster's authentication ConfigMap
    ServingCertificateError,  # a serving certificate without its key
)
"""What a command reports as a failure; a ``ConfigError`` is one too, printed as it is."""


def exit_code(command: str, work: Callable[[], int], *,
              killed: str = "a worker process was killed (out of memory?)") -> int:
    """``work``'s own exit code, or the code of how it failed, with its one line on standard
    error (``killed`` where a worker process died); ``command`` begins each line."""
    try:
        return work()
    except UsageError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return USAGE
    except ConfigError as error:
        print(error, file=sys.stderr)  # it names the file, and every field at fault on a line of its own
        return FAILURE
    except FAILURES as error:
        print(f"{command}: {error}", file=sys.stderr)
        return FAILURE
    except BrokenExecutor:
        print(f"{command}: {killed}", file=sys.stderr)
        return FAILURE
    except KeyboardInterrupt:
        return INTERRUPTED
