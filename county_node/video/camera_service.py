"""Cameras (GB/T 28181 ids) and their bindings to windows over time: registration, (re)binding, lookups.

Every change of a camera or its bindings appends the camera's ``camera`` outbox record — its name, hall and whole
set of bindings — after the county's writer lock, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from county_node.video.core import VideoIndexCore
from county_node.video.domain import Binding, check_binding, check_camera_text, parse_camera_id
from county_node.video.ports import Cameras
from federation.errors import NotFound, ValidationError
from federation.timeutil import check_moment

__all__ = ["CameraUseCases"]


def _bind(cameras: Cameras, camera_id: str, window: str, start: datetime, end: datetime | None) -> None:
    window = window.strip()
    check_camera_text(camera_id, window=window)
    if start.tzinfo is None:
        raise ValidationError("绑定开始时间必须带时区", camera_id=camera_id)
    mine = cameras.bindings_of_camera(camera_id)
    opened = [b for b in mine if b.valid_to is None and b.valid_from < start]
    others = [b for b in mine if b not in opened]
    moved = [Binding(b.camera_id, b.window, b.valid_from, start) for b in opened]
    new = Binding(camera_id, window, start, end)
    check_binding(new, others + moved, cameras.bindings_of_window(window))
    # a move for a period (valid_to given) is temporary: the camera returns to where it was at its end —
    # otherwise its old window would have no camera from then on, and its video would not be held
    returning = [Binding(b.camera_id, b.window, end, None) for b in opened] if end is not None else []
    for back in returning:
        closed = {(m.camera_id, m.valid_from): m for m in moved}
        at_window = [closed.get((w.camera_id, w.valid_from), w) for w in cameras.bindings_of_window(back.window)]
        check_binding(back, [*others, *moved, new], at_window)
    for b in opened:
        cameras.close_binding(b, start)
    cameras.add_binding(new)
    for back in returning:
        cameras.add_binding(back)


class CameraUseCases(VideoIndexCore):
    def register_camera(
        self, camera_id: str, *, name: str, hall: str, window: str | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        """Register (or rename) a camera; with ``window``, bind it there from ``since`` (default now)."""
        cid = str(parse_camera_id(camera_id, self.division))
        check_camera_text(cid, name=name.strip(), hall=hall.strip())
        if since is not None:
            check_moment(since, "绑定开始时间")
        now = self._now()
        with self._units() as uow:
            uow.lock()
            existing = uow.cameras.get(cid)
            row: dict[str, Any] = {
                "camera_id": cid,
                "origin": self.division,
                "name": name.strip(),
                "hall": hall.strip(),
            }
            row |= {"created_at": existing["created_at"] if existing else now, "updated_at": now}
            uow.cameras.save(row, new=existing is None)
            if window is not None:
                _bind(uow.cameras, cid, window, since or now, None)
            uow.cameras.publish(row, now)
            uow.commit()
        return row

    def bind(self, camera_id: str, window: str, valid_from: datetime, valid_to: datetime | None = None) -> None:
        """Bind a camera to ``window`` for ``[valid_from, valid_to)``; an open binding elsewhere is closed at
        ``valid_from`` (the camera was moved). Overlaps for the camera or a second camera on the window: refused."""
        check_moment(valid_from, "绑定开始时间")
        if valid_to is not None:
            check_moment(valid_to, "绑定结束时间")
        now = self._now()
        with self._units() as uow:
            uow.lock()
            camera = uow.cameras.get(camera_id)
            if camera is None:
                raise NotFound(f"摄像机 {camera_id} 未登记", camera_id=camera_id)
            _bind(uow.cameras, camera_id, window, valid_from, valid_to)
            uow.cameras.publish(camera, now)
            uow.commit()

    def bindings(self, camera_id: str) -> list[Binding]:
        with self._units(readonly=True) as uow:
            return uow.cameras.bindings_of_camera(camera_id)

    def camera_at(self, window: str, at: datetime) -> str | None:
        with self._units(readonly=True) as uow:
            return uow.cameras.camera_at(window, at)

    def camera(self, camera_id: str) -> tuple[dict[str, Any], list[Binding]]:
        """A registered camera and its bindings (oldest first); :class:`NotFound` when it is not registered."""
        with self._units(readonly=True) as uow:
            row = uow.cameras.get(camera_id)
            if row is None:
                raise NotFound(f"摄像机 {camera_id} 未登记", camera_id=camera_id)
            return row, uow.cameras.bindings_of_camera(camera_id)

    def cameras(self) -> list[tuple[dict[str, Any], list[Binding]]]:
        """Every camera of this county's index with its bindings, by camera id."""
        with self._units(readonly=True) as uow:
            return uow.cameras.with_bindings()

    def registered(self, camera_ids: Iterable[str]) -> set[str]:
        """Those of ``camera_ids`` registered in this county's index."""
        with self._units(readonly=True) as uow:
            return uow.cameras.registered(camera_ids)
