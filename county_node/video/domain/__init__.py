"""The pure core of the video index: camera ids and bindings, segments, gaps, clips, retention decisions."""

from county_node.video.domain.cameras import (
    CAMERA_TYPES,
    NAME_LENGTH,
    WINDOW_LENGTH,
    Binding,
    CameraId,
    check_binding,
    check_camera_text,
    parse_camera_id,
)
from county_node.video.domain.retention import Hold, HoldIndex, RetentionPolicy, held, purge_limit, untrusted_reason
from county_node.video.domain.segments import (
    DEFAULT_MAX_SEGMENT,
    EVENT_ID_LENGTH,
    ClipMargin,
    EventKind,
    Gap,
    Segment,
    Timeline,
    canonical_uri,
    check_new_segments,
    find_gaps,
    show,
)

__all__ = [
    "CAMERA_TYPES",
    "DEFAULT_MAX_SEGMENT",
    "EVENT_ID_LENGTH",
    "NAME_LENGTH",
    "WINDOW_LENGTH",
    "Binding",
    "CameraId",
    "ClipMargin",
    "EventKind",
    "Gap",
    "Hold",
    "HoldIndex",
    "RetentionPolicy",
    "Segment",
    "Timeline",
    "canonical_uri",
    "check_binding",
    "check_camera_text",
    "check_new_segments",
    "find_gaps",
    "held",
    "parse_camera_id",
    "purge_limit",
    "show",
    "untrusted_reason",
]
