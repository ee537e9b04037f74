"""forecasting's public face: every name it promises is the object its module defines, the names
type-checkers see are the names it serves, and the server's names load no model library."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import forecasting

INIT = Path(forecasting.__file__)


def _type_checking_imports() -> dict[str, tuple[str, str]]:
    tree = ast.parse(INIT.read_text())
    [block] = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    found: dict[str, tuple[str, str]] = {}
    for statement in block.body:
        assert isinstance(statement, ast.ImportFrom) and statement.module
        for alias in statement.names:
            found[alias.asname or alias.name] = (statement.module, alias.name)
    return found


def test_every_public_name_is_the_object_its_module_defines() -> None:
    assert sorted(forecasting.__all__) == sorted(forecasting._EXPORTS)
    for name, (module, attribute) in forecasting._EXPORTS.items():
        assert getattr(forecasting, name) is getattr(importlib.import_module(module), attribute), name


def test_type_checkers_see_the_names_served_at_run_time() -> None:
    assert _type_checking_imports() == forecasting._EXPORTS


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        forecasting.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("an unknown name resolved")


def test_the_servers_names_load_no_model_library() -> None:
    """The adapter's server process reads series, plans and jobs; the model libraries stay in the
    worker processes."""
    probe = (
        "import sys\n"
        "from forecasting import Job, Plan, Schedule, Series, StepOutcome, format_quantity\n"
        "heavy = [m for m in ('statsmodels', 'sklearn', 'forecasting.pipeline', 'forecasting.models.arima') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == ""
