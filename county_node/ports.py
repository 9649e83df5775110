"""The repositories a county node's services reach through their unit of work (:mod:`county_node.unit_of_work`).

Each port is an abstract class (in :mod:`county_node.supervision.ports` and :mod:`county_node.video.ports`,
gathered here): the SQL adapters implement it (``county_node.*.adapters``), and the in-memory fakes
under ``tests/`` subclass it, so a service test can run with no database. A repository works inside one
transaction; every write of a record that replicates appends its outbox row in that same transaction.

==================  =============================================================  ==============================
``uow.``            what                                                           SQL adapter
==================  =============================================================  ==============================
``alerts``          alerts (预警) and their lifecycle                               ``supervision…store``
``complaints``      complaints (投诉)                                               ``supervision…feedback_store``
``ratings``         ratings (好差评)                                                ``supervision…feedback_store``
``orders``          orders (督办 / 催办) and the county's replies                   ``supervision…orders_store``
``cases``           the cases as supervision and the video index read them          ``supervision…cases``
``light_sweep``     the set-based raise of the light alerts, and its watermark      ``supervision…light_sweep``
``notifications``   the SMS queue (短信通知)                                        ``supervision…notices``
``cameras``         cameras and their bindings to windows                           ``video…store``
``segments``        recording segments                                              ``video…segments``
``video_events``    video events                                                    ``video…store``
``purges``          the retention purge log                                         ``video…store``
==================  =============================================================  ==============================
"""

from county_node.supervision.ports import (
    NO_KEY_FIELDS,
    AlertFilter,
    Alerts,
    CaseDesk,
    CaseMark,
    Cases,
    Complaints,
    KeyFields,
    LightRaise,
    LightSweep,
    Notifications,
    OrderFilter,
    Orders,
    Ratings,
)
from county_node.video.ports import Cameras, Purges, Segments, VideoEvents

__all__ = [
    "NO_KEY_FIELDS",
    "AlertFilter",
    "Alerts",
    "Cameras",
    "CaseDesk",
    "CaseMark",
    "Cases",
    "Complaints",
    "KeyFields",
    "LightRaise",
    "LightSweep",
    "Notifications",
    "OrderFilter",
    "Orders",
    "Purges",
    "Ratings",
    "Segments",
    "VideoEvents",
]
