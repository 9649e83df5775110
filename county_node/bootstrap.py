"""Composition root of a county node process: builds the engine, the clock and the services from config.

Nothing connects at import time; ``build_county_node`` is called once by an entry point (HTTP server, CLI, the
quarantine replay through ``federation.nodes.build_node``), which closes the node when done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from county_node.approval.services import ApprovalService
from county_node.public.adapters import APPLICANT_CHANNEL, ApplicantNumbers
from county_node.public.appliers import public_appliers
from county_node.public.services import IntakeDesk, Publication
from county_node.standards_validation import bundle_validators
from county_node.supervision.notify import AddressResolver
from county_node.supervision.orders import ORDER_RECORD, CountyOrderApplier, CountyOrders
from county_node.supervision.runner import sms_hook
from county_node.supervision.services import SupervisionService
from county_node.unit_of_work import SqlCountyUnits
from county_node.video.adapters.files import DirectoryFiles
from county_node.video.domain import ClipMargin, RetentionPolicy
from county_node.video.services import VideoIndexService
from federation.config import Config
from federation.replication import Applier
from federation.replication.trust import LinkSecurity
from federation.storage.engine import engine_from_config
from federation.storage.scores_replica import SCORE_RECORD, ScoreApplier
from federation.storage.standards_replica import STANDARDS_RECORD, StandardsApplier
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier
from federation.timeutil import Clock, node_clock, utcnow
from security.accounts import Accounts, accounts_for
from security.keystore import keystore_for
from security.node import link_security
from security.revocations import REVOCATION_RECORD, RevocationApplier

__all__ = ["CountyNode", "assemble_county_node", "build_county_node", "replication_appliers", "video_service"]


@dataclass
class CountyNode:
    """A county node's services over its database and clock (``owns_engine``: :meth:`close` disposes it)."""

    config: Config
    engine: Engine
    clock: Clock
    approval: ApprovalService
    supervision: SupervisionService
    video: VideoIndexService
    orders: CountyOrders  # the 督办/催办 that came down, and the county's replies
    publication: Publication | None = None  # the public stream (371122-pub): only with an extranet node
    intake: IntakeDesk | None = None  # online applications and query codes: only with an extranet node
    owns_engine: bool = False

    def receiver_appliers(self) -> dict[str, Applier[Any]]:
        """What the county's receiver applies, with this node's hooks (``federation.nodes.Node``): with an extranet
        node, also what the public made on its portal (applications, complaints, ratings)."""
        appliers = replication_appliers(self.approval)
        if self.publication is not None:
            items = lambda: self.approval.standards.items  # noqa: E731 - the catalogue in force when applied
            appliers.update(
                public_appliers(self.approval.division, self.clock, items, self.supervision, self.publication)
            )
        return appliers

    def address_resolvers(self) -> dict[str, AddressResolver]:
        """The SMS dispatcher's resolvers: an applicant's number is read from ``case_contacts`` when sent."""
        return {APPLICANT_CHANNEL: ApplicantNumbers()}

    def sms_token(self) -> str | None:
        """The SMS gateway's bearer token, from the keyring (``notify.sms_token_key``; never from a file)."""
        key = self.config.notify.sms_token_key
        if not key:
            return None
        value = keystore_for(self.config).get(key)
        return value.decode() if value is not None else None

    def link_security(self, *, insecure_dev: bool = False) -> LinkSecurity | None:
        """mTLS and provenance for the node's links (``security.node``); None, with a warning, in development."""
        return link_security(self.config, self.engine, insecure_dev=insecure_dev)

    @cached_property
    def accounts(self) -> Accounts:
        """The people who may log in here (``security.accounts``); their audit entries replicate up with the
        county's records."""
        return accounts_for(self.engine, self.config.node.division)

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()


def build_county_node(config: Config, *, engine: Engine | None = None, clock: Clock | None = None) -> CountyNode:
    """The county node ``config`` describes; over ``engine`` / ``clock`` when given (the caller owns the engine)."""
    node = assemble_county_node(config, engine or engine_from_config(config), clock or node_clock(config.simulation))
    node.owns_engine = engine is None
    return node


def assemble_county_node(config: Config, engine: Engine, clock: Clock) -> CountyNode:
    """The services of a county node over ``engine`` and ``clock``: approval, and supervision observing it."""
    approval = ApprovalService(engine, config.node.division, clock, config.clock, validators=bundle_validators())
    units = SqlCountyUnits(engine, config.node.division)  # the county's repositories behind one unit of work
    supervision = SupervisionService(
        units,
        clock,
        lambda: approval.standards,
        notify=sms_hook(config.notify.recipients),
        default_policy=approval.default_policy,
    )
    approval.observe(supervision)
    publication = intake = None
    if config.extranet.enabled:  # a county without an extranet node publishes nothing and writes nothing extra
        publication = Publication(engine, approval, config.extranet.portal_url)
        approval.observe(publication)
        approval.observe_standards(publication)
        intake = IntakeDesk(engine, approval, publication)
    video = video_service(config, engine, clock)
    video.observe(supervision)  # an alarm or an unattended window raises its alert with the event (SUP-301/302)
    orders = CountyOrders(units, clock)
    return CountyNode(
        config=config,
        engine=engine,
        clock=clock,
        approval=approval,
        supervision=supervision,
        video=video,
        orders=orders,
        publication=publication,
        intake=intake,
    )


def video_service(config: Config, engine: Engine, clock: Clock) -> VideoIndexService:
    """The county's video index (视频索引) as ``[video]`` configures it."""
    v = config.video
    root = Path(v.storage_root) if v.storage_root else None
    if root is not None and not root.is_absolute():
        root = Path(config.node.data_dir) / root
    return VideoIndexService(
        SqlCountyUnits(engine, config.node.division),
        clock,
        max_segment=timedelta(seconds=v.max_segment_s),
        margin=ClipMargin.of_seconds(v.margin_before_s, v.margin_after_s),
        retention=RetentionPolicy(
            days=v.retention_days,
            hold_after_close=timedelta(days=v.hold_days),
            max_share=v.max_purge_share,
            min_ratio=v.min_index_ratio,
        ),
        files=DirectoryFiles(root.resolve()) if root is not None else None,
    )


def replication_appliers(approval: ApprovalService | None = None) -> dict[str, Applier[Any]]:
    """What a county's receiver applies: the standards the province sends down (relayed by the city). With the
    node's ``approval`` service, a changed calendar moves the open cases' due moments in the same transaction."""
    hook = approval.on_standards_replicated if approval is not None else None
    node = approval.division if approval is not None else None  # the county reports the standards it runs
    return {
        STANDARDS_RECORD: StandardsApplier(hook, validators=bundle_validators(), node=node),
        STATUS_RECORD: StandardsStatusApplier(),  # what the city and the province above report
        SCORE_RECORD: ScoreApplier(),  # the province's scores: every hall sees its rank
        REVOCATION_RECORD: RevocationApplier(utcnow),  # the province's revocation list: enforced at once
        **({ORDER_RECORD: CountyOrderApplier(approval.division, approval.now)} if approval is not None else {}),
    }
