"""How a request for an OpenAPI document is answered, the way kube-openapi's handlers answer it.

- JSON whenever the ``Accept`` header allows it. kube-openapi also serves protobuf; Foresight does
  not, so a header that allows only protobuf gets 406. The aggregator asks for
  ``application/json`` and ``kubectl explain`` for JSON too.
- The document's ETag, and 304 to a matching ``If-None-Match``: the aggregator sends the ETag of
  its last download, so an unchanged document costs it no body.
- A v3 group-version document asked for by ``?hash=`` (the URL the v3 discovery lists): a 301 to
  the current URL when the hash is stale, else headers that let clients cache it for a year.

Pure: no server imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate

from adapter.kubernetes.errors import NotAcceptable
from adapter.serving.openapi import Document

YEAR_SECONDS = 365 * 24 * 3600
_JSON_MEDIA_RANGES = frozenset({("application", "json"), ("application", "*"), ("*", "*")})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


def answer(document: Document, *, accept: str, if_none_match: str, query_hash: str, now: float) -> Answer:
    """The answer to a GET of ``document``; ``query_hash`` is the ``hash`` query parameter ("" when
    absent) and ``now`` the Unix time."""
    if not accepts_json(accept):
        raise NotAcceptable(f"{document.path} is served as application/json only; the request accepts {accept!r}")
    headers = {"ETag": f'"{document.etag}"', "Vary": "Accept"}
    if document.by_hash and query_hash:
        if query_hash != document.etag:
            return Answer(301, {**headers, "Location": document.server_relative_url})
        headers["Cache-Control"] = "public, immutable"
        headers["Expires"] = formatdate(now + YEAR_SECONDS, usegmt=True)
    if matches_etag(if_none_match, document.etag):
        return Answer(304, headers)
    return Answer(200, {**headers, "Content-Type": "application/json"}, document.body)


def accepts_json(accept: str) -> bool:
    """Whether ``accept`` allows ``application/json``: a media range that covers it with a q above
    zero. No header means anything."""
    if not accept.strip():
        return True
    for clause in accept.split(","):
        media_range, *parameters = (part.strip() for part in clause.split(";"))
        main, _, sub = media_range.lower().partition("/")
        if (main, sub or "*") in _JSON_MEDIA_RANGES and _quality(parameters) > 0:
            return True
    return False


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0
    return 1.0


def matches_etag(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, as Go's
    ``http.ServeContent`` makes it) or is ``*``."""
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == f'"{etag}"':
            return True
    return False
