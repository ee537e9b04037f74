"""``python -m dashboards``: writes every dashboard's JSON beside this package."""

from __future__ import annotations

from .catalogue import write_all

if __name__ == "__main__":
    for path in write_all():
        print(path)
