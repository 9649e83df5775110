"""Cameras: GB/T 28181 device ids and the bindings of a camera to a hall window over time (pure)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from federation.errors import Conflict, ValidationError
from federation.timeutil import CST

__all__ = [
    "CAMERA_TYPES",
    "NAME_LENGTH",
    "WINDOW_LENGTH",
    "Binding",
    "CameraId",
    "check_binding",
    "check_camera_text",
    "parse_camera_id",
]

CAMERA_TYPES = {"131": "摄像机", "132": "网络摄像机"}
"""GB/T 28181 device types a hall camera may carry (front-end peripherals: camera, IP camera)."""


NAME_LENGTH = 100
"""The longest camera name or hall name (``cameras.name`` / ``cameras.hall``)."""
WINDOW_LENGTH = 16
"""The longest window number (``camera_bindings.window``, as on cases)."""


def check_camera_text(
    camera_id: str, *, name: str | None = None, hall: str | None = None, window: str | None = None
) -> None:
    """Refuse an empty, over-long or non-printable name, hall or window — with the field and its limit — before the
    database would (PostgreSQL refuses an over-long value with an internal error; SQLite would store it)."""
    fields = (("摄像机名称", name, NAME_LENGTH), ("所在大厅", hall, NAME_LENGTH), ("窗口编号", window, WINDOW_LENGTH))
    for label, value, limit in fields:
        if value is None:
            continue
        if not value.strip():
            raise ValidationError(f"请填写{label}", camera_id=camera_id)
        if len(value) > limit:
            raise ValidationError(
                f"{label}“{value[:20]}…”过长：至多 {limit} 个字符（当前 {len(value)} 个）", camera_id=camera_id
            )
        if _invisible(value):
            raise ValidationError(f"{label}“{value[:20]}”含不可见字符", camera_id=camera_id)


def _invisible(value: str) -> bool:
    """Control, format, line and paragraph separator or unassigned characters; spaces (an ideographic space
    in "政务服务中心　一楼") are text."""
    return any(unicodedata.category(ch) in _INVISIBLE for ch in value)


_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class CameraId:
    """A GB/T 28181 20-digit id: centre code (8: division + 2), industry (2), type (3), network (1), serial (6)."""

    centre: str
    industry: str
    type: str
    network: str
    serial: str

    def __str__(self) -> str:
        return f"{self.centre}{self.industry}{self.type}{self.network}{self.serial}"


def parse_camera_id(raw: str, division: str) -> CameraId:
    """Validate a camera id for the county ``division``; the error names the bad part."""
    value = (raw or "").strip()
    if len(value) != 20 or not value.isascii() or not value.isdigit():
        raise ValidationError(
            f"摄像机编号“{value}”无效：GB/T 28181 编号应为 20 位数字（当前 {len(value)} 位）", camera_id=value
        )
    cid = CameraId(value[:8], value[8:10], value[10:13], value[13], value[14:])
    if not cid.centre.startswith(division):
        raise ValidationError(
            f"摄像机编号“{value}”的中心编码 {cid.centre} 不属于本县（应以行政区划代码 {division} 开头）",
            camera_id=value,
            part="centre",
        )
    if cid.type not in CAMERA_TYPES:
        allowed = "、".join(f"{k} {v}" for k, v in CAMERA_TYPES.items())
        raise ValidationError(
            f"摄像机编号“{value}”的类型编码 {cid.type} 不是摄像机（应为 {allowed}）", camera_id=value, part="type"
        )
    if cid.network == "9":
        raise ValidationError(f"摄像机编号“{value}”的网络标识 9 为保留值（应为 0–8）", camera_id=value, part="network")
    if cid.serial == "000000":
        raise ValidationError(f"摄像机编号“{value}”的序号不能为 000000", camera_id=value, part="serial")
    return cid


@dataclass(frozen=True, slots=True)
class Binding:
    """Camera ``camera_id`` watches ``window`` during ``[valid_from, valid_to)`` (``valid_to`` None: until now)."""

    camera_id: str
    window: str
    valid_from: datetime
    valid_to: datetime | None = None

    def covers(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        return (end is None or self.valid_from < end) and (self.valid_to is None or start < self.valid_to)


def check_binding(new: Binding, camera_bindings: Sequence[Binding], window_bindings: Sequence[Binding]) -> None:
    """Refuse ``new`` when it overlaps another binding of the same camera, or another camera on the same window.

    ``camera_bindings`` are the camera's other bindings *after* any move has closed the open one."""
    if new.valid_to is not None and new.valid_to <= new.valid_from:
        raise ValidationError("绑定的结束时间必须晚于开始时间", camera_id=new.camera_id, window=new.window)
    for b in camera_bindings:
        if b.overlaps(new.valid_from, new.valid_to):
            raise Conflict(
                f"摄像机 {new.camera_id} 在该时段已绑定窗口 {b.window}（自 {_show(b.valid_from)} 起），时段不能重叠",
                camera_id=new.camera_id,
                window=b.window,
            )
    for b in window_bindings:
        if b.camera_id != new.camera_id and b.overlaps(new.valid_from, new.valid_to):
            raise Conflict(
                f"窗口 {new.window} 在该时段已有摄像机 {b.camera_id}（自 {_show(b.valid_from)} 起），"
                "一个窗口同一时间只能绑定一台摄像机",
                camera_id=new.camera_id,
                window=new.window,
            )


def _show(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")
