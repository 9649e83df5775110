"""The committed generated wire code is exactly what ``scripts/gen_protos.py`` produces from ``proto/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"generated code drifted from proto/ — run `make proto`:\n{result.stderr}"


def test_proto_paths_mirror_the_python_package() -> None:
    from federation.wire.v1 import replication_pb2

    assert replication_pb2.DESCRIPTOR.package == "federation.wire.v1"
    assert replication_pb2.DESCRIPTOR.name == "federation/wire/v1/replication.proto"


def _locked_version(package: str) -> str:
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"{package} is not pinned in requirements.lock")


def test_generated_code_names_the_locked_generator() -> None:
    """The generator that ``make proto`` runs is the one the lock pins, and the committed code says so: a fresh
    clone (which installs the lock) regenerates it byte for byte."""
    from importlib.metadata import version

    from federation.wire.v1 import replication_pb2_grpc

    locked = _locked_version("grpcio-tools")
    assert version("grpcio-tools") == locked, "the environment is not the lock's: run `make` (or `make clean test`)"
    assert locked == replication_pb2_grpc.GRPC_GENERATED_VERSION, "regenerate with the locked generator: make proto"
