"""The rules that watch the hall's cameras (窗口视频): an NVR alarm (报警, SUP-301) and a window left unattended
(窗口无人, SUP-302) raise an alert about the event itself.

A :class:`VideoEvent` is what the video index recorded (its id, camera, window, kind, moment and details). Each
event is its own subject (``video_event``), so one event raises at most one alert per rule, and a re-sent event
raises nothing. Neither rule is time-driven: an event does not change after it is recorded, so its verdict never
clears by itself — the alert is closed by a person.

SUP-302 reads how long the window was unattended from the event's details (``duration_s``, seconds, as the NVR
reports it); it fires when that is at least ``unattended_minutes``. An event that reports no duration fires: the
NVR raised it by its own threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from county_node.supervision.domain.model import Verdict
from county_node.supervision.domain.parameters import SupervisionParameters
from federation.clock import Light

__all__ = [
    "ALARM",
    "UNATTENDED",
    "VideoEvent",
    "VideoEventFacts",
    "unattended_seconds",
    "video_alarm",
    "window_unattended",
]

ALARM = "alarm"
UNATTENDED = "window_unattended"


@dataclass(frozen=True, slots=True)
class VideoEvent:
    """One event of the video index (``video_events``), as the index recorded it."""

    event_id: str
    camera_id: str
    window: str | None
    kind: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VideoEventFacts:
    event: VideoEvent
    params: SupervisionParameters


def unattended_seconds(details: Mapping[str, Any]) -> float | None:
    """How long the window was unattended, as the NVR reported it (``duration_s``); None when not reported."""
    value = details.get("duration_s")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _event_details(e: VideoEvent) -> dict[str, Any]:
    return {"event_kind": e.kind, "camera_id": e.camera_id, "window": e.window, "at": e.at.isoformat()}


def video_alarm(f: VideoEventFacts) -> Verdict:
    """SUP-301 窗口视频报警: the NVR reported an alarm at a window's camera."""
    e = f.event
    if e.kind != ALARM:
        return Verdict(False)
    return Verdict(True, (e.event_id,), light=Light(f.params.video_alarm_light), details=_event_details(e))


def window_unattended(f: VideoEventFacts) -> Verdict:
    """SUP-302 窗口无人值守: a window unattended for at least ``unattended_minutes`` (or for as long as the NVR's
    own threshold, when it reports no duration)."""
    e = f.event
    if e.kind != UNATTENDED:
        return Verdict(False)
    seconds = unattended_seconds(e.details)
    if seconds is not None and seconds < f.params.unattended_minutes * 60:
        return Verdict(False)
    details = _event_details(e) | {"unattended_s": seconds}
    return Verdict(True, (e.event_id,), light=Light(f.params.unattended_light), details=details)
