"""Composition root of a county node process: builds the engine, the clock and the services from config.

Nothing connects at import time; ``build_county_node`` is called once by an entry point (HTTP server, CLI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine

from county_node.approval.services import ApprovalService
from county_node.standards_validation import bundle_validators
from county_node.supervision.orders import ORDER_RECORD, CountyOrderApplier
from county_node.supervision.runner import sms_hook
from county_node.supervision.services import SupervisionService
from county_node.unit_of_work import SqlCountyUnits
from county_node.video.adapters.files import DirectoryFiles
from county_node.video.domain import ClipMargin, RetentionPolicy
from county_node.video.services import VideoIndexService
from federation.config import Config
from federation.storage.engine import make_engine
from federation.storage.scores_replica import SCORE_RECORD, ScoreApplier
from federation.storage.standards_replica import STANDARDS_RECORD, StandardsApplier
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier
from federation.timeutil import SimulatedClock, utcnow
from sync_agent.appliers import Applier

__all__ = [
    "CountyNode",
    "assemble_county_node",
    "build_county_node",
    "receiver_appliers",
    "replication_appliers",
    "video_service",
]

log = structlog.get_logger(__name__)


@dataclass
class CountyNode:
    config: Config
    engine: Engine
    clock: Callable[[], datetime]
    approval: ApprovalService
    supervision: SupervisionService
    video: VideoIndexService

    def close(self) -> None:
        self.engine.dispose()


def build_county_node(config: Config, *, engine: Engine | None = None) -> CountyNode:
    engine = engine or make_engine(
        config.database_url, echo=config.database.echo, sqlite_synchronous=config.database.sqlite_synchronous
    )
    clock: Callable[[], datetime] = utcnow
    if config.simulation.enabled:
        start = config.simulation.start_moment() or utcnow()
        clock = SimulatedClock(start, config.simulation.speed)
        log.warning("clock.simulated", start=start.isoformat(), speed=config.simulation.speed)
    return assemble_county_node(config, engine, clock)


def assemble_county_node(config: Config, engine: Engine, clock: Callable[[], datetime]) -> CountyNode:
    """The services of a county node over ``engine`` and ``clock``: approval, and supervision observing it."""
    approval = ApprovalService(engine, config.node.division, clock, config.clock, validators=bundle_validators())
    supervision = SupervisionService(
        SqlCountyUnits(engine, config.node.division),
        clock,
        lambda: approval.standards,
        notify=sms_hook(config.notify.recipients),
        default_policy=approval.default_policy,
    )
    approval.observe(supervision)
    video = video_service(config, engine, clock)
    return CountyNode(
        config=config, engine=engine, clock=clock, approval=approval, supervision=supervision, video=video
    )


def video_service(config: Config, engine: Engine, clock: Callable[[], datetime]) -> VideoIndexService:
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
        **({ORDER_RECORD: CountyOrderApplier(approval.division, approval.now)} if approval is not None else {}),
    }


def receiver_appliers(config: Config, engine: Engine) -> dict[str, Applier[Any]]:
    """What the county's receiver applies, with the node's services over ``engine`` (``admin quarantine replay``
    uses it; ``county serve`` passes its running node's approval service to :func:`replication_appliers`)."""
    return replication_appliers(build_county_node(config, engine=engine).approval)
