"""A ferry receiver in a process of its own, for the tests that kill it: ``python -m tests.integration
.ferry_intake_process CITY_TOML IN_DIR ACK_DIR`` takes the city's ferry spool until killed, as ``sunshine city
serve`` does with ``replication.ferry_in`` (the node's trust loaded from its data directory and keyring)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from bench.pki_material import PASSPHRASE
from federation.config import load_config
from federation.logging import configure_logging
from federation.storage.engine import make_engine
from security.node import node_trust
from sync_agent.ferry_intake import FerryIntake
from sync_agent.runtime import receiver_policy
from sync_agent.store import SqlBatchSink


def main(city_toml: str, db_url: str, in_dir: str, ack_dir: str) -> None:
    configure_logging(level="warning")
    cfg = load_config(Path(city_toml), environ={"SUNSHINE_KEYRING_PASSPHRASE": PASSPHRASE})
    engine = make_engine(db_url)
    security = node_trust(cfg, engine).link_security()
    division = cfg.node.division
    policy = receiver_policy(division)
    sink = SqlBatchSink(engine, division, {}, relay=True, allow=policy)
    intake = FerryIntake(sink, Path(in_dir), Path(ack_dir), allowed=policy, trust=security.receiver, settle=0.0)
    print("ready", flush=True)
    intake.run_forever(threading.Event())


if __name__ == "__main__":
    main(*sys.argv[1:5])
