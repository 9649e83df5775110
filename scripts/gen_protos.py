"""Regenerate the committed Python code for every ``.proto`` under ``proto/`` (one command: ``make proto``).

Paths under ``proto/`` mirror the Python import path, so ``proto/federation/wire/v1/replication.proto``
generates ``federation/wire/v1/replication_pb2.py`` (+ ``_pb2_grpc.py`` and ``.pyi``) and the generated imports
need no patching. ``--check`` regenerates into a temporary directory and exits 1 if anything would change
(``tests/unit/test_wire_codegen.py`` runs it).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "proto"
_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generate(out: Path) -> list[Path]:
    sources = sorted(PROTO_ROOT.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p) for p in sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return [p.relative_to(PROTO_ROOT).with_suffix("") for p in sources]


def _outputs(root: Path, stems: list[Path]) -> list[Path]:
    return [root / stem.parent / f"{stem.name}{suffix}" for stem in stems for suffix in _SUFFIXES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is out of date")
    ns = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stems = _generate(Path(tmp))
        stale = [
            rel
            for generated in _outputs(Path(tmp), stems)
            if not (REPO / (rel := generated.relative_to(tmp))).exists()
            or not filecmp.cmp(generated, REPO / rel, shallow=False)
        ]
        if ns.check:
            for rel in stale:
                print(f"out of date: {rel} (run `make proto`)", file=sys.stderr)
            return 1 if stale else 0
        if not stale:
            return 0
        for rel in stale:
            (REPO / rel).write_bytes((Path(tmp) / rel).read_bytes())
            print(f"regenerated {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
