"""Composition root of a city node: its database, clock and division table, what its receiver applies, its
inspectors' API, orders and scoring — built once from the configuration by every entry point of the city (serve,
``order``, ``score``, the quarantine replay through ``federation.nodes.build_node``).

A city holds read-only replicas of its counties' cases and events and of their supervision records (alerts,
complaints, ratings) and video index, relays them up unchanged, and relays the province's standards down (it
applies them itself: its replicas' due moments are computed on the calendar in force). The province's root
(``province_center.bootstrap``) is this one with what the province adds and omits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.service import InspectionService
from city_aggregator.orders.service import OrderDesk, OrdersContext
from county_node.approval.adapters.reindex import reindex_replicas
from county_node.approval.adapters.replica import default_appliers
from county_node.approval.services import ApprovalService
from county_node.standards_validation import bundle_validators
from county_node.supervision.adapters.order_replicas import order_appliers
from county_node.supervision.adapters.replica import supervision_appliers
from county_node.video.adapters.replica import video_appliers
from county_node.video.domain import ClipMargin
from federation.config import Config
from federation.data import DIVISIONS_CSV
from federation.errors import ConfigError
from federation.identities import DivisionLevel, DivisionRegistry, level_of
from federation.replication import Applier
from federation.replication.trust import LinkSecurity
from federation.storage.audit_log import AUDIT_RECORD, AuditApplier
from federation.storage.engine import engine_from_config
from federation.storage.scores_replica import SCORE_RECORD, ScoreApplier
from federation.storage.standards_replica import STANDARDS_RECORD, StandardsApplier
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier
from federation.timeutil import Clock, node_clock, utcnow
from federation.wire.v1.replication_pb2_grpc import add_EnrolmentServicer_to_server
from security.accounts import Accounts, accounts_for
from security.enrolment import EnrolmentServicer
from security.node import NodeTrust, link_security, node_trust
from security.revocations import REVOCATION_RECORD, RevocationApplier
from sync_agent.server import ExtraService

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["CityNode", "build_city_node", "load_registry", "replication_appliers", "upper_node_parts"]

_LEVEL_NAMES = {DivisionLevel.CITY: "市级", DivisionLevel.PROVINCE: "省级", DivisionLevel.COUNTY: "县级"}


def load_registry(divisions: Path = DIVISIONS_CSV) -> DivisionRegistry:
    if not divisions.is_file():
        raise ConfigError(f"找不到行政区划表 {divisions}", path=str(divisions))
    return DivisionRegistry.from_csv(divisions)


@dataclass
class CityNode:
    """A city node (and, through :class:`province_center.bootstrap.ProvinceNode`, the province): its services
    over one engine and one clock. ``owns_engine``: :meth:`close` disposes the engine."""

    config: Config
    engine: Engine
    clock: Clock
    registry: DivisionRegistry
    owns_engine: bool = False

    @property
    def division(self) -> str:
        return self.config.node.division

    @cached_property
    def inspection(self) -> InspectionContext:
        """The inspectors' API's context (read-only services over the replicas)."""
        approval = ApprovalService(self.engine, self.division, self.clock, self.config.clock, read_only=True)
        margin = ClipMargin.of_seconds(self.config.video.margin_before_s, self.config.video.margin_after_s)
        service = InspectionService(self.engine, self.division, self.clock, self.registry, approval, clip_margin=margin)
        return InspectionContext(self.config, self.engine, self.clock, self.registry, service)

    def orders(self, scope: str = "") -> OrderDesk:
        """The orders (督办 / 催办) this node issues, seen within ``scope`` (``""``: its whole subtree)."""
        return OrderDesk(OrdersContext(self.engine, self.division, self.clock, scope))

    def receiver_appliers(self) -> dict[str, Applier[Any]]:
        """What the city's receiver applies (``federation.nodes.Node``)."""
        return replication_appliers(self.division)

    def http_app(self) -> FastAPI:
        """The node's HTTP API: the inspectors' API with the orders, its people logging in with the node's accounts,
        each within their account's subtree (imported only when a node serves it, so the ``sunshine`` CLI starts
        fast)."""
        from city_aggregator.inspection.http import create_inspector_app
        from city_aggregator.orders.http import orders_router

        def orders(ctx: InspectionContext) -> Any:  # 督办 / 催办, within the logged-in person's subtree
            return orders_router(OrdersContext(ctx.engine, ctx.division, ctx.clock))

        return create_inspector_app(self.inspection, self.accounts, routers=[orders])

    def link_security(self, *, insecure_dev: bool = False) -> LinkSecurity | None:
        """mTLS and provenance for the node's links (``security.node``); None, with a warning, in development."""
        if insecure_dev:
            return link_security(self.config, self.engine, insecure_dev=True)
        return self.trust.link_security()

    @cached_property
    def accounts(self) -> Accounts:
        """The people who may log in here: inspectors of this node's subtree, its admins (``security.accounts``)."""
        return accounts_for(self.engine, self.division)

    @cached_property
    def trust(self) -> NodeTrust:
        """The node's certificate, keys, trust store and CA (:mod:`security.node`)."""
        return node_trust(self.config, self.engine)

    def enrolment_services(self) -> list[ExtraService]:
        """The Enrolment service its children enrol and renew with, when this node holds a CA (it does once it
        has enrolled: a city receives its intermediate CA with its own certificate)."""
        authority = self.trust.authority()
        if authority is None:
            return []
        servicer = EnrolmentServicer(self.engine, authority, self.trust.trust, utcnow, self.config.pki.cert_days)
        return [lambda server: add_EnrolmentServicer_to_server(servicer, server)]

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()


def replication_appliers(division: str | None = None) -> dict[str, Applier[Any]]:
    """What a city's receiver applies: standards first (a batch may carry a calendar its cases' due moments
    need), then cases and their events, then the supervision records and the video index, the orders on their way
    down and the counties' replies, the province's scores on their way down. With the city's ``division``, it
    reports the standards it applies."""
    return {
        STANDARDS_RECORD: StandardsApplier(reindex_replicas, validators=bundle_validators(), node=division),
        STATUS_RECORD: StandardsStatusApplier(),
        **default_appliers(),
        **supervision_appliers(),
        **video_appliers(),  # the counties' video index (cameras, segments, events), never the video
        **order_appliers(),  # the province's orders on their way down, the counties' replies
        SCORE_RECORD: ScoreApplier(),  # the province's scores on their way down
        REVOCATION_RECORD: RevocationApplier(utcnow),  # the province's revocation list, enforced here and relayed
        AUDIT_RECORD: AuditApplier(),  # the counties' audit chains, kept and verified here
    }


def upper_node_parts(
    config: Config, level: DivisionLevel, engine: Engine | None, clock: Clock | None, divisions: Path
) -> tuple[Engine, Clock, DivisionRegistry]:
    """What a city or province root is built over, from ``config`` unless given; refuses a configuration of
    another level (the wrong data directory given to the wrong command)."""
    division = config.node.division
    if level_of(division) is not level:
        raise ConfigError(f"配置中的区划 {division} 不是{_LEVEL_NAMES[level]}节点", division=division)
    registry = load_registry(divisions)
    return engine or engine_from_config(config), clock or node_clock(config.simulation), registry


def build_city_node(
    config: Config, *, engine: Engine | None = None, clock: Clock | None = None, divisions: Path = DIVISIONS_CSV
) -> CityNode:
    """The city node ``config`` describes; over ``engine`` and ``clock`` when given (the caller owns the engine)."""
    eng, clk, registry = upper_node_parts(config, DivisionLevel.CITY, engine, clock, divisions)
    return CityNode(config, eng, clk, registry, owns_engine=engine is None)
