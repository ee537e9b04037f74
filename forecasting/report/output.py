"""Writing a report folder atomically: everything goes into a temporary folder beside the target,
renamed onto it at the end, so a reader finds the whole report or none (never half of one)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from forecasting.report.settings import ReportError


def check_output(path: Path) -> None:
    """Refuse an output folder that exists with files in it, or whose parent cannot take one."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ReportError(f"--out {path}: exists and is not an empty folder; a report never overwrites one")
    parent = path.parent
    if not parent.is_dir():
        raise ReportError(f"--out {path}: there is no folder {parent}")
    if not os.access(parent, os.W_OK):
        raise ReportError(f"--out {path}: the folder {parent} is not writable")


def write_folder(path: Path, files: Mapping[str, str]) -> None:
    """``files`` (name: text) as the folder ``path``, all at once."""
    check_output(path)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for name, text in files.items():
            (temporary / name).write_text(text, encoding="utf-8")
        temporary.chmod(0o755)
        os.replace(temporary, path)  # replaces an empty folder, refuses a full one
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
