"""Where a pydantic validation problem lies, written the way a reader finds it in the document:
``spec.metrics[0].target``. The adapter's settings and the HPA manifests report their problems so."""

from __future__ import annotations


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error's ``loc`` as a path: keys joined by dots, list indices in brackets, and
    ``(top level)`` for the document itself."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"
