"""The one schema of every tier (SQLAlchemy Core tables).

A county fills the case tables with its own records; a city and the province fill the same tables with
replicas, so the same query serves every tier with a different division prefix. Columns prefixed ``idx_`` are
*derived* values kept only so that queries and sweeps can use an index (due moments, the moment a case turns
yellow); they are recomputed on every change of the case and on every calendar revision, and they never
replace the clock, which is always derived from budget + pause ledger + calendar.

Every table is defined on the one :data:`metadata` (``_metadata``), one module per context, and re-exported
here: ``_node`` (settings, counters), ``_standards`` (bundles, catalogue, calendar years), ``_cases``,
``_replication`` (outbox, batch log, marks, link acks, quarantine, batch receipts, signer chains),
``_supervision`` (alerts, complaints, ratings, notifications), ``_standards_status`` (each node's standards, clock
moves), ``_orders``, ``_scores``, ``_video``, ``_security`` (enrolment tokens, issued certificates, revocations,
key pins), ``_people`` (users, sessions, the audit log), ``_boundary`` (what the boundary policy refused),
``_extranet`` (an extranet node's public store), ``_public_intake`` (a county's online applications and contacts),
``_attestation`` (per origin and kind, what is held; the origins' statements and the verdicts on them).
They are imported in that order, which is the order the tables are added to :data:`metadata`.
"""

# the order the tables join the metadata (metadata.tables), as it was when they were one module
# isort: off
from federation.storage.tables._metadata import metadata
from federation.storage.tables._node import counters, node_settings
from federation.storage.tables._standards import calendar_years, catalogue_items, standards_bundles
from federation.storage.tables._cases import case_events, case_pauses, case_tasks, cases
from federation.storage.tables._replication import (
    batch_log,
    link_acks,
    outbox,
    quarantine,
    replication_marks,
)
from federation.storage.tables._supervision import alerts, complaints, notifications, ratings
from federation.storage.tables._standards_status import clock_moves, standards_status
from federation.storage.tables._orders import order_replies, orders
from federation.storage.tables._scores import scores, trend_months, trend_refreshes
from federation.storage.tables._video import (
    camera_bindings,
    cameras,
    video_events,
    video_purge_items,
    video_purges,
    video_segments,
)
from federation.storage.tables._replication import batch_receipts, signer_chains
from federation.storage.tables._security import (
    enrolment_tokens,
    issued_certificates,
    revocation_list,
    signing_key_pins,
)
from federation.storage.tables._people import audit_log, sessions, users
from federation.storage.tables._boundary import boundary_refusals
from federation.storage.tables._extranet import (
    ext_cases,
    ext_complaints,
    ext_disclosures,
    ext_items,
    ext_ratings,
    ext_submissions,
)
from federation.storage.tables._public_intake import case_contacts, public_submissions
from federation.storage.tables._attestation import attestations, stream_totals
# isort: on

__all__ = [
    "alerts",
    "attestations",
    "audit_log",
    "batch_log",
    "batch_receipts",
    "boundary_refusals",
    "calendar_years",
    "camera_bindings",
    "cameras",
    "case_contacts",
    "case_events",
    "case_pauses",
    "case_tasks",
    "cases",
    "catalogue_items",
    "clock_moves",
    "complaints",
    "counters",
    "enrolment_tokens",
    "ext_cases",
    "ext_complaints",
    "ext_disclosures",
    "ext_items",
    "ext_ratings",
    "ext_submissions",
    "issued_certificates",
    "link_acks",
    "metadata",
    "node_settings",
    "notifications",
    "order_replies",
    "orders",
    "outbox",
    "public_submissions",
    "quarantine",
    "ratings",
    "replication_marks",
    "revocation_list",
    "scores",
    "sessions",
    "signer_chains",
    "signing_key_pins",
    "standards_bundles",
    "standards_status",
    "stream_totals",
    "trend_months",
    "trend_refreshes",
    "users",
    "video_events",
    "video_purge_items",
    "video_purges",
    "video_segments",
]
