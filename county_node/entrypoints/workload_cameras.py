"""The hall's window cameras for the demo workload: registered, then their recordings indexed as the node's clock
advances (录像索引).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx

from county_node.entrypoints.workload_plan import STAFF
from federation.timeutil import CST

__all__ = ["HallCameras"]

_CAMERA_WINDOWS = sorted({"W" + staff[2:4] for staff in STAFF})  # the windows the simulated staff work at
_SEGMENT = timedelta(minutes=15)  # an NVR writes one file per camera every quarter of an hour


class HallCameras:
    """The hall's window cameras and their recordings (录像索引), for the demo: one camera per staffed window,
    registered with a GB/T 28181 id of the county, and — as the node's clock advances — the quarter-hour recording
    segments every camera wrote, plus now and then a "window unattended" event, indexed through the API."""

    def __init__(self, client: httpx.Client, *, seed: int = 7) -> None:
        self._client = client
        self._rng = random.Random(f"{seed}:video")
        self._cameras: list[tuple[str, str]] = []  # (camera id, window)
        self._until: datetime | None = None  # recordings are indexed up to here
        self.stats: Counter[str] = Counter()

    @staticmethod
    def camera_id(division: str, n: int) -> str:
        """Centre code (division + 00), industry 00, type 131 (camera), network 1, serial n."""
        return f"{division}00" + "00" + "131" + "1" + f"{n:06d}"

    def install(self, division: str, now: datetime) -> None:
        for n, window in enumerate(_CAMERA_WINDOWS, start=1):
            camera = self.camera_id(division, n)
            body = {"camera_id": camera, "name": f"{window} 窗口上方", "hall": "政务服务中心一楼", "window": window}
            resp = self._client.post("/api/v1/cameras", json={**body, "since": now.isoformat()})
            if resp.status_code not in (200, 201):
                raise RuntimeError(f"摄像机登记失败：{resp.text[:200]}")
            self._cameras.append((camera, window))
        start = now.astimezone(CST)
        self._until = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
        self.stats["cameras"] += len(self._cameras)

    def record(self, now: datetime) -> None:
        if self._until is None:
            return
        segments: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        while self._until + _SEGMENT <= now:
            start, end = self._until, self._until + _SEGMENT
            for camera, window in self._cameras:
                name = f"{camera}_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}.mp4"
                segments.append(
                    {
                        "camera_id": camera,
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "uri": f"file:///srv/nvr/{camera}/{start:%Y%m%d}/{name}",
                        "size": self._rng.randrange(180_000_000, 260_000_000),
                        "checksum": f"{self._rng.getrandbits(256):064x}",
                    }
                )
                if 9 <= start.hour < 17 and self._rng.random() < 0.01:
                    at = start + timedelta(minutes=self._rng.randrange(15))
                    events.append(
                        {"camera_id": camera, "window": window, "kind": "window_unattended", "at": at.isoformat()}
                    )
            self._until = end
        if segments:
            resp = self._client.post("/api/v1/video/segments", json=segments)
            self.stats["segments" if resp.status_code in (200, 201) else "errors"] += len(segments)
        if events:
            resp = self._client.post("/api/v1/video/events", json=events)
            self.stats["video_events" if resp.status_code in (200, 201) else "errors"] += len(events)
