"""The NVR recording-list poller (录像机录像列表轮询): asks an NVR over HTTP which recordings a camera has.

The wire contract, for whoever fronts the NVR::

    GET <base_url>/api/recordings?camera=<20-digit id>&start=<ISO 8601>&end=<ISO 8601>&page=<N>&page_size=<M>
    200 {"total": 200, "page": 1, "page_size": 100,
         "items": [{"start": "2026-03-02T08:00:00+08:00", "end": "2026-03-02T08:05:00+08:00",
                    "uri": "rtsp://nvr/playback/…", "size": 73400320, "checksum": "9f…" | null}, …]}

Pages count from 1. ``page_size`` in the answer is the size the NVR really used (it may cap ours); without it ours
is assumed. A time without an offset is local time (Asia/Shanghai). An item may carry ``"camera"``; when it does
it must be the camera asked for. Items are taken when they overlap the asked range.

Nothing the NVR does makes :meth:`NvrPoller.poll` fail: a timeout, a refused connection, 429 or 5xx is retried a
few times with a short doubling pause; a page that still fails (or answers with something that is not the JSON
above) is left out and the next page is asked for; a malformed item is skipped with its reason; a total that
changes between pages is noted. The result is what arrived with an :class:`IngestReport` saying "N of M
received" (``已接收 N / M 条``; ``?`` when the NVR never answered). Only a bad request of the caller's own — a
camera id that is not 20 digits, naive moments, an empty range — is refused
(:class:`~federation.errors.ValidationError`). httpx errors are translated here and nowhere else.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
import structlog

from county_node.video.adapters.ingest_model import (
    FoundSegment,
    IngestReport,
    IngestResult,
    SegmentSink,
    Skipped,
    looks_like_camera_id,
)
from federation.errors import ValidationError
from federation.http_client import http_client
from federation.timeutil import CST

__all__ = ["RECORDINGS_PATH", "NvrPoller"]

log = structlog.get_logger(__name__)

RECORDINGS_PATH = "/api/recordings"
_ANSWER_MAX = 120


class _PageFailed(Exception):
    """A page that could not be had (after retries); ``reason`` in Chinese."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NvrPoller:
    """Polls one NVR at ``base_url``.

    ``client``: an :class:`httpx.Client` to use (shared pools, a test's transport) — then left open on
    :meth:`close`. ``timeout`` seconds per request; ``retries`` more tries per page after a timeout, a transport
    error, 429, 5xx or an unreadable answer, pausing ``retry_delay`` seconds (jittered, doubling, at most 2 s);
    ``page_size`` items asked per page; ``max_pages`` a guard against an NVR that never stops."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        retry_delay: float = 0.2,
        page_size: int = 500,
        max_pages: int = 10_000,
        path: str = RECORDINGS_PATH,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0 or page_size < 1 or max_pages < 1 or timeout <= 0:
            raise ValueError("retries must be >= 0, page_size and max_pages >= 1, timeout > 0")
        self.url = base_url.rstrip("/") + path
        self._timeout = timeout
        self._retries = retries
        self._retry_delay = retry_delay
        self._page_size = page_size
        self._max_pages = max_pages
        self._sleep = sleep
        self._owns_client = client is None
        self._client = client if client is not None else http_client(timeout=timeout)

    def poll(self, camera_id: str, start: datetime, end: datetime, *, sink: SegmentSink | None = None) -> IngestResult:
        """The recordings of ``camera_id`` overlapping [``start``, ``end``), in start order.

        With ``sink`` the segments are passed to it once, as one list, and the result's ``segments`` is empty."""
        start, end = _check_request(camera_id, start, end)
        params = {
            "camera": camera_id,
            "start": start.astimezone(CST).isoformat(),
            "end": end.astimezone(CST).isoformat(),
            "page_size": str(self._page_size),
        }
        run = _Collected(camera_id, start, end)
        per_page = self._page_size
        page = 1
        while page <= self._max_pages:
            try:
                total, per_page, items = self._page(params, page)
            except _PageFailed as exc:
                run.problems.append(f"第 {page} 页获取失败：{exc.reason}")
                if run.expected is None or page >= _pages(run.expected, per_page):
                    break  # nothing known about the rest, or nothing left: stop here
                page += 1
                continue
            run.take(page, total, items)
            if not items or page >= _pages(total, per_page):
                break
            page += 1
        else:
            run.problems.append(f"已达到最多 {self._max_pages} 页的上限，其余未获取")
        report = run.report()
        log.info(
            "video.nvr_poll",
            url=self.url,
            camera=camera_id,
            received=report.received,
            expected=report.expected,
            accepted=report.accepted,
            problems=len(report.problems),
        )
        ordered = sorted(run.segments.values(), key=lambda s: (s.start, s.end, s.uri))
        if sink is not None:
            if ordered:
                sink(ordered)
            return IngestResult(segments=(), report=report)
        return IngestResult(segments=tuple(ordered), report=report)

    def _page(self, params: dict[str, str], page: int) -> tuple[int, int, list[Any]]:
        """(total, page size used, items) of one page, trying again on a passing failure; else :class:`_PageFailed`."""
        reason = ""
        for attempt in range(self._retries + 1):
            if attempt:
                pause = random.uniform(0.5, 1.0) * min(2.0, self._retry_delay * 2.0 ** (attempt - 1))
                log.info("video.nvr_retry", url=self.url, page=page, attempt=attempt + 1, error=reason)
                self._sleep(pause)
            try:
                response = self._client.get(self.url, params={**params, "page": str(page)}, timeout=self._timeout)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise _PageFailed(f"录像机地址无效：{self.url}（{exc}）") from exc
            except httpx.TimeoutException:
                reason = f"录像机超时：{self._timeout:g} 秒内未应答"
                continue
            except httpx.TransportError as exc:
                reason = f"无法连接录像机 {self.url}：{exc or type(exc).__name__}"
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                reason = f"录像机暂时不可用：HTTP {status} {_answer(response)}".rstrip()
                continue
            if status != 200:
                raise _PageFailed(f"录像机拒绝请求：HTTP {status} {_answer(response)}".rstrip())
            body = _body(response)
            if isinstance(body, str):
                reason = body
                continue
            return body
        if self._retries:
            reason += f"（已重试 {self._retries} 次）"
        raise _PageFailed(reason)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> NvrPoller:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_request(camera_id: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if not looks_like_camera_id(camera_id):
        raise ValidationError(f"摄像机编号“{camera_id}”不是 20 位数字", camera_id=camera_id)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError("查询时段必须带时区", camera_id=camera_id)
    if end <= start:
        raise ValidationError("查询时段的结束时间必须晚于开始时间", camera_id=camera_id)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class _Collected:
    """What one poll has gathered so far."""

    camera_id: str
    start: datetime
    end: datetime
    expected: int | None = None
    received: int = 0
    found: int = 0
    problems: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    segments: dict[tuple[datetime, datetime, str], FoundSegment] = field(default_factory=dict)
    seen: set[tuple[datetime, datetime, str]] = field(default_factory=set)

    def take(self, page: int, total: int, items: list[Any]) -> None:
        if self.expected is not None and total != self.expected:
            self.problems.append(f"录像总数在获取过程中由 {self.expected} 变为 {total}")
        self.expected = total
        self.found += len(items)
        for index, raw in enumerate(items, start=1):
            item = _item(raw, self.camera_id)
            where = f"第 {page} 页第 {index} 条"
            if isinstance(item, str):
                self.received += 1
                self.skipped.append(Skipped(where, item))
                continue
            key = (item.start, item.end, item.uri)
            if key in self.seen:
                self.skipped.append(Skipped(where, "重复记录（已在前面收到）"))
                continue
            self.seen.add(key)
            self.received += 1
            if item.end <= self.start or item.start >= self.end:
                self.skipped.append(Skipped(where, "不在查询时段内"))
                continue
            self.segments[key] = item

    def report(self) -> IngestReport:
        problems = list(self.problems)
        if self.expected is not None and self.received < self.expected and not problems:
            problems.append(f"录像机少给了 {self.expected - self.received} 条记录")
        return IngestReport(
            found=self.found,
            accepted=len(self.segments),
            skipped=tuple(self.skipped),
            received=self.received,
            expected=self.expected,
            problems=tuple(problems),
        )


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


def _answer(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= _ANSWER_MAX else text[:_ANSWER_MAX] + "…"


def _body(response: httpx.Response) -> tuple[int, int, list[Any]] | str:
    """The (total, page size, items) of an answer, or the Chinese reason it cannot be read."""
    try:
        body: Any = response.json()
    except ValueError:
        return "录像机的应答不是 JSON"
    if not isinstance(body, dict):
        return "录像机的应答不是 JSON 对象"
    total, items, size = body.get("total"), body.get("items"), body.get("page_size")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        return "录像机的应答缺少有效的 total"
    if not isinstance(items, list):
        return "录像机的应答缺少 items 列表"
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        size = None
    return total, size or max(len(items), 1), items


def _item(raw: Any, camera_id: str) -> FoundSegment | str:
    """One item as a :class:`FoundSegment`, or the Chinese reason it is malformed."""
    if not isinstance(raw, dict):
        return "记录不是 JSON 对象"
    camera = raw.get("camera", camera_id)
    if camera != camera_id:
        return f"记录属于摄像机 {camera}，不是所查询的 {camera_id}"
    start, end = _moment(raw.get("start")), _moment(raw.get("end"))
    if start is None or end is None:
        return "开始或结束时间缺失或无效"
    if end <= start:
        return "结束时间不晚于开始时间"
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        return "缺少录像地址 uri"
    size = raw.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "文件大小 size 缺失或无效"
    checksum = raw.get("checksum")
    if checksum is not None and (not isinstance(checksum, str) or not checksum.strip()):
        return "校验值 checksum 无效"
    return FoundSegment(camera_id, start, end, uri.strip(), size, checksum.strip().lower() if checksum else None)


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    return moment.astimezone(UTC)
