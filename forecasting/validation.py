"""Where a pydantic validation problem lies, written the way a reader finds it in the document:
``spec.metrics[0].target``. The adapter's settings and the HPA manifests report their problems so."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error's ``loc`` as a path: keys joined by dots, list indices in brackets, and
    ``(top level)`` for the document itself."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validation_problems(error: ValidationError, messages: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Every problem of ``error`` as ``(field path, message)``: a message of ``messages`` by the
    problem's type where it has one, else pydantic's without its ``Value error,`` prefix."""
    wording = messages or {}
    return [(field_path(tuple(item["loc"])), wording.get(item["type"]) or item["msg"].removeprefix("Value error, "))
            for item in error.errors()]
