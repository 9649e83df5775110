"""The NVR recording-list poller against a real NVR stand-in: a Starlette app under uvicorn on 127.0.0.1 port 0
in a thread (one server for the module, its script reset for each test). The stand-in serves the contract of
:mod:`county_node.video.adapters.ingest_nvr` from a list of recordings and a per-test script: pages answering
500 a few times or always, a slow page, a non-JSON page, malformed items, a total that changes, a capped page
size. "Down" is a socket bound to a port but not listening, so the connection is refused."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from county_node.video.adapters.ingest_model import FoundSegment
from county_node.video.adapters.ingest_nvr import NvrPoller
from federation.errors import ValidationError
from federation.timeutil import CST
from tests.conftest import ProxyTrap

CAM = "37112200001320000001"
OTHER = "37112200001320000002"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=CST)
STEP = timedelta(minutes=5)


def recording(i: int) -> dict[str, Any]:
    start = T0 + i * STEP
    return {
        "start": start.isoformat(),
        "end": (start + STEP).isoformat(),
        "uri": f"rtsp://nvr.local/playback/{CAM}/{i}",
        "size": 1000 + i,
        "checksum": f"ABC{i:03d}",
    }


@dataclass
class Script:
    """What the stand-in answers; reset before each test."""

    recordings: list[Any] = field(default_factory=lambda: [recording(i) for i in range(10)])
    fail: dict[int, int] = field(default_factory=dict)  # page -> answers of 500 before a good one (-1: always)
    status: dict[int, int] = field(default_factory=dict)  # page -> a fixed status (e.g. 404)
    not_json: dict[int, int] = field(default_factory=dict)  # page -> answers that are not JSON first
    delay: dict[int, float] = field(default_factory=dict)  # page -> seconds before answering
    items: dict[int, list[Any]] = field(default_factory=dict)  # page -> items served instead
    grow_after: dict[int, list[Any]] = field(default_factory=dict)  # page -> recordings added once it is served
    cap: int | None = None  # largest page size the NVR serves
    requests: list[dict[str, str]] = field(default_factory=list)


class Nvr:
    def __init__(self) -> None:
        self.script = Script()
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/api/recordings", self.recordings)])

    async def recordings(self, request: Request) -> Response:
        query = dict(request.query_params)
        page = int(query["page"])
        with self.lock:
            s = self.script
            s.requests.append(query)
            delay = s.delay.get(page, 0.0)
            if page in s.status:
                return JSONResponse({"error": "no such camera"}, status_code=s.status[page])
            if s.fail.get(page):
                s.fail[page] -= 1 if s.fail[page] > 0 else 0
                return JSONResponse({"error": "disk busy"}, status_code=500)
            if s.not_json.get(page):
                s.not_json[page] -= 1
                return Response("<html>oops</html>", media_type="text/html")
            size = min(int(query["page_size"]), s.cap or 10**9)
            total = len(s.recordings)
            items = s.items.get(page, s.recordings[(page - 1) * size : page * size])
            s.recordings.extend(s.grow_after.pop(page, []))
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse({"total": total, "page": page, "page_size": size, "items": items})


class ServerThread:
    """A real uvicorn server on 127.0.0.1 port 0 in a thread (as in test_inspection)."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn exited"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Nvr, str]]:
    nvr = Nvr()
    with ServerThread(nvr.app) as url:
        yield nvr, url


@pytest.fixture
def nvr(served: tuple[Nvr, str]) -> Nvr:
    served[0].script = Script()
    return served[0]


@pytest.fixture
def poller(served: tuple[Nvr, str]) -> Iterator[NvrPoller]:
    with NvrPoller(served[1], page_size=4, retries=2, retry_delay=0.01, timeout=2.0) as p:
        yield p


def poll(p: NvrPoller, start: datetime = T0, end: datetime = T0 + 10 * STEP) -> Any:
    return p.poll(CAM, start, end)


def indexes(segments: tuple[FoundSegment, ...]) -> list[int]:
    return [int(s.uri.rsplit("/", 1)[1]) for s in segments]


def pages(nvr: Nvr) -> list[int]:
    return [int(r["page"]) for r in nvr.script.requests]


def test_all_pages_are_followed_and_segments_come_in_order(nvr: Nvr, poller: NvrPoller) -> None:
    result = poll(poller)
    assert indexes(result.segments) == list(range(10))
    first = result.segments[0]
    assert first == FoundSegment(
        CAM, datetime(2026, 3, 2, 0, 0, tzinfo=UTC), datetime(2026, 3, 2, 0, 5, tzinfo=UTC), first.uri, 1000, "abc000"
    )
    assert first.start.tzinfo is UTC
    assert pages(nvr) == [1, 2, 3]
    assert nvr.script.requests[0] == {
        "camera": CAM,
        "start": "2026-03-02T08:00:00+08:00",
        "end": "2026-03-02T08:50:00+08:00",
        "page": "1",
        "page_size": "4",
    }
    report = result.report
    assert (report.received, report.expected, report.accepted, report.skipped, report.problems) == (10, 10, 10, (), ())
    assert report.complete
    assert report.summary() == "已接收 10 / 10 条录像记录，入选 10 条。"


def test_a_page_failing_once_is_retried(nvr: Nvr, poller: NvrPoller) -> None:
    nvr.script.fail[2] = 1
    result = poll(poller)
    assert indexes(result.segments) == list(range(10))
    assert pages(nvr) == [1, 2, 2, 3]
    assert result.report.complete


def test_a_page_always_failing_gives_n_of_m_and_the_rest(nvr: Nvr, poller: NvrPoller) -> None:
    nvr.script.fail[2] = -1
    result = poll(poller)
    assert indexes(result.segments) == [0, 1, 2, 3, 8, 9]
    assert pages(nvr) == [1, 2, 2, 2, 3]  # three tries of page 2, then on to page 3
    report = result.report
    assert (report.received, report.expected, report.complete) == (6, 10, False)
    assert report.problems == ('第 2 页获取失败：录像机暂时不可用：HTTP 500 {"error":"disk busy"}（已重试 2 次）',)
    assert report.summary().startswith("已接收 6 / 10 条录像记录，入选 6 条。问题：第 2 页获取失败")


def test_a_refused_page_is_not_retried_and_a_non_json_answer_is(nvr: Nvr, poller: NvrPoller) -> None:
    nvr.script.status[3] = 404
    nvr.script.not_json[2] = 1
    result = poll(poller)
    assert indexes(result.segments) == list(range(8))
    assert pages(nvr) == [1, 2, 2, 3]
    assert result.report.problems == ('第 3 页获取失败：录像机拒绝请求：HTTP 404 {"error":"no such camera"}',)
    assert (result.report.received, result.report.expected) == (8, 10)


def test_a_page_slower_than_the_timeout_is_left_out(served: tuple[Nvr, str], nvr: Nvr) -> None:
    nvr.script.delay[3] = 1.0
    with NvrPoller(served[1], page_size=4, retries=1, retry_delay=0.01, timeout=0.3) as slow:
        result = poll(slow)
    assert indexes(result.segments) == list(range(8))
    assert result.report.problems == ("第 3 页获取失败：录像机超时：0.3 秒内未应答（已重试 1 次）",)
    assert result.report.summary().startswith("已接收 8 / 10 条")


def test_malformed_items_are_skipped_with_their_reason(nvr: Nvr, poller: NvrPoller) -> None:
    naive = {**recording(1), "start": "2026-03-02T08:05:00", "end": "2026-03-02T08:10:00"}  # local time
    nvr.script.items[1] = [
        recording(0),
        "not an object",
        {**recording(2), "uri": ""},
        {**recording(3), "end": recording(3)["start"]},
        {**recording(4), "size": "big"},
        {**recording(5), "camera": OTHER},
        {**recording(6), "start": "yesterday"},
        {**recording(7), "checksum": 7},
        naive,
        {**recording(20), "size": 5},  # 09:40, after the asked range
    ]
    result = poll(poller)
    assert indexes(result.segments) == [0, 1, 4, 5, 6, 7, 8, 9]
    assert result.segments[1].start == datetime(2026, 3, 2, 0, 5, tzinfo=UTC)  # naive read as CST
    assert [(s.source, s.reason) for s in result.report.skipped] == [
        ("第 1 页第 2 条", "记录不是 JSON 对象"),
        ("第 1 页第 3 条", "缺少录像地址 uri"),
        ("第 1 页第 4 条", "结束时间不晚于开始时间"),
        ("第 1 页第 5 条", "文件大小 size 缺失或无效"),
        ("第 1 页第 6 条", f"记录属于摄像机 {OTHER}，不是所查询的 {CAM}"),
        ("第 1 页第 7 条", "开始或结束时间缺失或无效"),
        ("第 1 页第 8 条", "校验值 checksum 无效"),
        ("第 1 页第 10 条", "不在查询时段内"),
    ]
    # the NVR said 10 and sent 16 (its page 1 was oversized): everything that came is counted once
    assert (result.report.received, result.report.expected, result.report.accepted) == (16, 10, 8)


def test_a_total_that_changes_is_noted_and_duplicates_counted_once(nvr: Nvr, poller: NvrPoller) -> None:
    nvr.script.grow_after[1] = [recording(10), recording(11)]  # two new recordings after page 1
    nvr.script.items[3] = [recording(7), recording(8), recording(9), recording(10), recording(11)]  # overlaps p2
    result = poll(poller, end=T0 + 12 * STEP)
    assert indexes(result.segments) == list(range(12))
    assert pages(nvr) == [1, 2, 3]
    assert [s.reason for s in result.report.skipped] == ["重复记录（已在前面收到）"]
    assert result.report.problems == ("录像总数在获取过程中由 10 变为 12",)
    assert (result.report.received, result.report.expected, result.report.complete) == (12, 12, False)


def test_the_nvrs_own_page_size_is_followed(nvr: Nvr, poller: NvrPoller) -> None:
    nvr.script.cap = 3
    result = poll(poller)
    assert indexes(result.segments) == list(range(10))
    assert pages(nvr) == [1, 2, 3, 4]
    assert result.report.complete


def test_a_sink_gets_one_ordered_list(nvr: Nvr, poller: NvrPoller) -> None:
    got: list[list[FoundSegment]] = []
    result = poller.poll(CAM, T0, T0 + 10 * STEP, sink=got.append)
    assert result.segments == ()
    assert [indexes(tuple(batch)) for batch in got] == [list(range(10))]
    assert result.report.accepted == 10


def test_a_server_that_is_down_gives_zero_of_unknown_without_raising() -> None:
    with socket.socket() as bound:  # bound, never listening: the connection is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        with NvrPoller(url, retries=1, retry_delay=0.01, timeout=1.0) as down:
            result = poll(down)
    report = result.report
    assert result.segments == ()
    assert (report.received, report.expected, report.accepted, report.complete) == (0, None, 0, False)
    (problem,) = report.problems
    assert problem.startswith(f"第 1 页获取失败：无法连接录像机 {url}/api/recordings：")
    assert problem.endswith("（已重试 1 次）")
    assert report.summary().startswith("已接收 0 / ? 条录像记录，入选 0 条。问题：第 1 页获取失败：无法连接录像机")


def test_an_injected_client_is_used_and_left_open(served: tuple[Nvr, str], nvr: Nvr) -> None:
    with httpx.Client(base_url=served[1]) as client:
        with NvrPoller(served[1], client=client, page_size=20) as p:
            assert poll(p).report.complete
        assert pages(nvr) == [1]
        assert not client.is_closed


def test_a_bad_request_of_the_callers_own_is_refused_before_asking(nvr: Nvr, poller: NvrPoller) -> None:
    with pytest.raises(ValidationError, match="不是 20 位数字"):
        poller.poll("3711220000132000000X", T0, T0 + STEP)
    with pytest.raises(ValidationError, match="必须带时区"):
        poller.poll(CAM, datetime(2026, 3, 2, 8), datetime(2026, 3, 2, 9))
    with pytest.raises(ValidationError, match="结束时间必须晚于开始时间"):
        poller.poll(CAM, T0, T0)
    assert nvr.script.requests == []


def test_the_nvr_is_polled_directly_whatever_proxy_the_environment_names(
    served: tuple[Nvr, str], nvr: Nvr, proxy_trap: ProxyTrap
) -> None:
    """An NVR poller built after the proxy variables were set never connects to the proxy (``trust_env=False``)."""
    with NvrPoller(served[1], page_size=4, retries=1, retry_delay=0.01, timeout=2.0) as p:
        result = poll(p)
    assert result.report.complete
    assert indexes(result.segments) == list(range(10))
    assert proxy_trap.connections == 0
