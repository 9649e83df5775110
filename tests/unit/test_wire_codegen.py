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
