"""The adapter's error tree. Each error carries the Kubernetes ``Status`` reason and HTTP code.

    AdapterError                   (never raised itself)
    ├── BadRequest      400        malformed selector, path or parameter
    ├── Unauthorized    401
    ├── Forbidden       403
    ├── NotFound        404        unknown metric, or no series match the selector
    ├── MethodNotAllowed 405       every resource here is read-only
    ├── NotAcceptable   406        an Accept header that allows no form we serve
    ├── TooManyRequests 429        tracked-key cap reached
    ├── ServiceUnavailable 503     no fresh data (source down, stale, NaN policy says error)
    │   └── SourceError            the data source failed; wraps the third-party cause
    └── InternalError   500

One middleware in ``adapter.serving.server`` turns them into ``Status`` bodies; messages are written for the
API's user and never include tracebacks or the text of third-party exceptions.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every error the adapter answers with a Kubernetes ``Status``."""

    reason: str = "InternalError"
    code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AdapterError):
    reason, code = "BadRequest", 400


class Unauthorized(AdapterError):
    reason, code = "Unauthorized", 401


class Forbidden(AdapterError):
    reason, code = "Forbidden", 403


class NotFound(AdapterError):
    reason, code = "NotFound", 404


class MethodNotAllowed(AdapterError):
    reason, code = "MethodNotAllowed", 405


class NotAcceptable(AdapterError):
    reason, code = "NotAcceptable", 406


class TooManyRequests(AdapterError):
    reason, code = "TooManyRequests", 429


class ServiceUnavailable(AdapterError):
    reason, code = "ServiceUnavailable", 503


class SourceError(ServiceUnavailable):
    """The data source could not answer (unreachable, timed out, rejected the query)."""


class InternalError(AdapterError):
    reason, code = "InternalError", 500


class ConfigError(Exception):
    """A configuration file is invalid. ``problems`` lists every ``(path, reason)`` found."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {source}: {path}: {reason}" for path, reason in problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")
