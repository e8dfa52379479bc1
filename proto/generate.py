"""Regenerate the committed ``inferwatch.v1`` Python code from ``proto/inferwatch/v1/*.proto``.

Run it through ``make proto``. It uses the pinned grpcio-tools from the test extras, so the output is
byte-for-byte reproducible; ``tests/test_proto_generated.py`` fails when the committed code is stale.

Usage: ``python proto/generate.py [OUTPUT_DIR]`` (default: ``proto/``, in place).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent


def proto_sources() -> list[Path]:
    """The .proto files of the wire API, in a stable order."""
    return sorted((PROTO_ROOT / "inferwatch" / "v1").glob("*.proto"))


def generate(output_dir: Path) -> None:
    """Write ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` for every source under ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    # Paths relative to PROTO_ROOT keep absolute paths of this machine out of the generated code.
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={output_dir}",
        f"--pyi_out={output_dir}",
        f"--grpc_python_out={output_dir}",
        *(str(path.relative_to(PROTO_ROOT)) for path in proto_sources()),
    ]
    status = protoc.main(args)
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
