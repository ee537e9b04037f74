"""Regenerates the Python stubs of ``externalscaler.proto`` with grpcio-tools (a test dependency).

The stubs are committed rather than generated at install time, so a fresh clone, an editable
install and the container image need no code generator; ``tests/adapter/keda/test_stubs.py``
regenerates them and fails when they differ from the proto. Run ``python -m adapter.keda.generate``
after changing the proto or the pinned grpcio-tools.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = Path("adapter/keda/externalscaler.proto")
"""Relative to the root, so the generated modules import each other as ``adapter.keda.*``."""
STUBS = ("externalscaler_pb2.py", "externalscaler_pb2.pyi", "externalscaler_pb2_grpc.py")


def generate(out: Path) -> list[Path]:
    """Write the stubs under ``out`` (as ``out/adapter/keda/...``) and return their paths."""
    from grpc_tools import protoc  # only where stubs are made, never at run time

    out.mkdir(parents=True, exist_ok=True)
    status = protoc.main([
        "grpc_tools.protoc", f"-I{ROOT}", f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}",
        str(ROOT / PROTO),
    ])
    if status != 0:
        raise RuntimeError(f"protoc failed on {PROTO} with status {status}")
    return [out / PROTO.parent / name for name in STUBS]


def main() -> int:
    for path in generate(ROOT):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
