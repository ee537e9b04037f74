"""A pydantic error's location as the path a reader looks for in the document."""

from __future__ import annotations

import pytest

from forecasting.validation import field_path


@pytest.mark.parametrize(("loc", "path"), [
    ((), "(top level)"),
    (("spec",), "spec"),
    (("spec", "metrics", 0, "external", "target"), "spec.metrics[0].external.target"),
    (("metrics", 2, 0), "metrics[2][0]"),
])
def test_keys_are_dotted_and_indices_bracketed(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path
