"""Composition root of a county's extranet node process (``371122-ext``): its engine, clock, portal and appliers.

Nothing connects at import time; :func:`build_extranet_node` is called once by an entry point (``sunshine extranet
serve``, ``sunshine agent run``, the quarantine replay through :func:`federation.nodes.build_node`, registered as
``sunshine.node:extranet``), which closes the node when done.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from county_node.extranet.adapters.appliers import extranet_appliers
from county_node.extranet.domain import PortalLimits
from county_node.extranet.services import PublicPortal
from county_node.extranet.unit_of_work import ExtranetUnits
from federation.config import Config
from federation.errors import ConfigError
from federation.identities import BoundaryKind, boundary_kind, county_of
from federation.replication import Applier
from federation.replication.trust import LinkSecurity
from federation.storage.engine import engine_from_config
from federation.timeutil import Clock, node_clock
from federation.toml_files import write_private_file
from security.node import link_security

__all__ = ["CLIENT_KEY_FILE", "ExtranetNode", "build_extranet_node"]

CLIENT_KEY_FILE = "portal-client.key"  # in the data directory: the key of the client addresses' digests


@dataclass
class ExtranetNode:
    """An extranet node's portal and appliers over its database and clock (``owns_engine``: :meth:`close`
    disposes it). ``client_key`` keys the digests of client addresses (never stored in the database)."""

    config: Config
    engine: Engine
    clock: Clock
    portal: PublicPortal
    client_key: bytes
    owns_engine: bool = False

    @property
    def county(self) -> str:
        return county_of(self.config.node.division)

    def receiver_appliers(self) -> dict[str, Applier[Any]]:
        """What the node's receiver applies: the county's public stream (``federation.nodes.Node``)."""
        return extranet_appliers(self.county)

    def link_security(self, *, insecure_dev: bool = False) -> LinkSecurity | None:
        """mTLS and provenance for the node's receiver and its link to the county (``security.node``)."""
        return link_security(self.config, self.engine, insecure_dev=insecure_dev)

    def limits(self, monotonic: Any = time.monotonic) -> PortalLimits:
        """The portal's rate limits as ``[extranet]`` sets them, on ``monotonic`` (seconds)."""
        ext = self.config.extranet
        return PortalLimits.per_config(
            client_per_minute=ext.client_per_minute,
            submissions_per_hour=ext.submissions_per_hour,
            case_per_minute=ext.case_per_minute,
            clock=monotonic,
        )

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()


def _client_key(config: Config) -> bytes:
    """The node's key for client digests: ``DATA_DIR/portal-client.key`` (0600), made on first use."""
    path = Path(config.node.data_dir).expanduser() / CLIENT_KEY_FILE
    try:
        if path.is_file():
            return bytes.fromhex(path.read_text(encoding="utf-8").strip())
        key = secrets.token_bytes(32)
        write_private_file(path, key.hex() + "\n")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"外网节点的访问者摘要密钥 {path} 无法读取或创建：{exc}", path=str(path)) from exc
    return key


def build_extranet_node(
    config: Config, *, engine: Engine | None = None, clock: Clock | None = None, client_key: bytes | None = None
) -> ExtranetNode:
    """The extranet node ``config`` describes (``node.division = "371122-ext"``); over ``engine`` / ``clock`` when
    given (the caller owns the engine)."""
    division = config.node.division
    if boundary_kind(division) is not BoundaryKind.EXTRANET:
        raise ConfigError(f"外网节点的 node.division 应为“县级代码-ext”（如 371122-ext），而不是 {division}")
    key = client_key if client_key is not None else _client_key(config)
    eng = engine or engine_from_config(config)
    now = clock or node_clock(config.simulation)
    portal = PublicPortal(ExtranetUnits(eng), county_of(division), now)
    return ExtranetNode(config, eng, now, portal, key, owns_engine=engine is None)
