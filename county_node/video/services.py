"""The county video index service (视频索引): cameras, segments, events, clips for cases/alerts/complaints, purge.

Every change that replicates — a camera with its bindings (``camera``), a segment (``video_segment``), an event
(``video_event``), and the removal of a purged segment — writes its outbox row in the same transaction, after
taking the county's writer lock first, as every county writer does.

The service is one class per concept over a shared core (:mod:`county_node.video.core`), each in its module; they
reach the database only through the county's unit of work (:mod:`county_node.unit_of_work`):

==============================  ===============================================================
:mod:`.camera_service`          cameras and their bindings to windows
:mod:`.segment_service`         segments and events, the range query
:mod:`.clip_service`            the clip of a case step, an alert, a complaint
:mod:`.retention_service`       the retention purge
==============================  ===============================================================
"""

from __future__ import annotations

from county_node.video.adapters.segments import segment_record_id
from county_node.video.camera_service import CameraUseCases
from county_node.video.clip_service import Clip, ClipUseCases
from county_node.video.domain import EVENT_ID_LENGTH
from county_node.video.retention_service import PurgeReport, RetentionUseCases
from county_node.video.segment_service import SegmentUseCases

__all__ = ["EVENT_ID_LENGTH", "Clip", "PurgeReport", "VideoIndexService", "segment_record_id"]


class VideoIndexService(CameraUseCases, SegmentUseCases, ClipUseCases, RetentionUseCases):
    """The video index of one county node (``units.division``); on a city or the province, the replica of a
    county's index, read with the county's own clip logic."""
