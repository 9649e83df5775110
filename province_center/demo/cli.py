"""``sunshine demo``: a live federation on SQLite, on loopback, each node and agent its own process.

The province (山东省 370000), two cities (日照市 371100, 临沂市 371300) and four counties (莒县 371122, 五莲县
371121, 沂水县 371323, 兰陵县 371324): the demo initialises every node in a fresh working directory, has the
province publish the standards (catalogue and holiday calendar), starts every node (county: HTTP API and
replication receiver, on a simulated clock so days pass in seconds and cases really run late; city/province:
receiver) and every sync agent, waits until the standards have come down to every county through its city,
then runs the hall workload in every county. It shows each county's cases as held at the county, at its city
and at the province, and the replication lag; on Ctrl-C (or after ``--duration``) it stops the workloads, lets
replication catch up, prints the summary and stops every process cleanly. 莒县 also runs its extranet node (外网节点,
the public portal, :mod:`province_center.demo.extranet`): the summary applies online there, accepts the
application at the county, queries its status and rates it from the portal, and shows what crossed the boundary.

The orchestrator (:mod:`province_center.demo.launcher`) knows only commands, port files and endpoints; no tier logic.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from federation.identities import DivisionLevel, extranet_of
from federation.logging import configure_logging
from federation.text import ljust, rjust
from province_center.demo.endings import audit_summary, boundary_summary, stop_in_order
from province_center.demo.extranet import public_round_trip
from province_center.demo.launcher import Federation, LaunchError, NodeSpec
from province_center.demo.recovery import recovery_round_trip
from security.access import ROLE_LABELS

__all__ = ["demo_app"]

demo_app = typer.Typer(help="启动演示联邦（SQLite，本机回环地址）。", invoke_without_command=True)

_MARKER = ".sunshine-demo"  # a working directory the demo may wipe carries this file
DEMO_EXTRANET = "371122"  # 莒县 runs an extranet node (网上办事门户) in the demo
DEMO_RECOVERED = "371324"  # 兰陵县 loses its disk at the end of the demo and is rebuilt from its city


def _say(text: str) -> None:
    typer.echo(text)


def _raise_keyboard_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _fresh_workdir(workdir: Path) -> Path:
    """Wipe and recreate the demo's working directory — only if it is one (marker file) or empty."""
    workdir = workdir.resolve()
    if workdir.exists():
        if not (workdir / _MARKER).exists() and any(workdir.iterdir()):
            typer.echo(
                f"目录 {workdir} 不是演示工作目录（缺少 {_MARKER}），为安全起见不清空它；请换一个 --workdir", err=True
            )
            raise typer.Exit(2)
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / _MARKER).write_text("sunshine demo working directory: wiped at every demo start\n", encoding="utf-8")
    return workdir


def _name(fed: Federation, division: str) -> str:
    return fed.by_code[division].name


def _county_lag(fed: Federation, county: NodeSpec) -> tuple[int, float]:
    """Records of the county not yet at the province, and the age of the oldest: its link up, then its city's."""
    records, seconds = 0, 0.0
    for node in (county.division, county.parent):
        if node is None:
            continue
        for link in fed.links(node)["links"]:
            if link["link"] == "up":
                for o in link["origins"]:
                    if o["origin"] == county.division:
                        records += o["lag_records"]
                        seconds = max(seconds, o["lag_seconds"])
    return records, seconds


def _snapshot(fed: Federation) -> dict[str, Any]:
    """Per county: cases held at the county, its city and the province; digests; lag; the county's own summary."""
    held = {s.division: fed.holdings(s.division) for s in fed.specs}
    province = next(s.division for s in fed.specs if s.level is DivisionLevel.PROVINCE)
    out: dict[str, Any] = {}
    for c in fed.counties():
        own = held[c.division].get(c.division, {})
        at_city = held[c.parent or ""].get(c.division, {}) if c.parent else {}
        at_province = held[province].get(c.division, {})
        lag = _county_lag(fed, c)
        out[c.division] = {
            "own": own,
            "city": at_city,
            "province": at_province,
            "lag": lag,
            "complete": bool(own) and own == at_city == at_province,
        }
    return out


def _progress(fed: Federation, snap: dict[str, Any], as_of: str) -> None:
    _say(f"[模拟时间 {as_of}]")
    for c in fed.counties():
        row = snap[c.division]
        city = _name(fed, c.parent or "")
        records, seconds = row["lag"]
        _say(
            f"  {ljust(c.name, 8)} 本县 {row['own'].get('cases', 0):5d} 件 | {city} {row['city'].get('cases', 0):5d} 件"
            f" | 省 {row['province'].get('cases', 0):5d} 件 | 积压 {records:4d} 条（{seconds:4.1f} 秒）"
        )


_UNREADABLE = (httpx.HTTPError, LaunchError, OSError)  # a node or agent restarting (supervised) does not answer


def _try_snapshot(fed: Federation) -> dict[str, Any] | None:
    """:func:`_snapshot`, or None while a node or agent it reads is restarting."""
    try:
        return _snapshot(fed)
    except _UNREADABLE:
        return None


def _wait_converged(fed: Federation, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    snap = _try_snapshot(fed)
    while (snap is None or not all(r["complete"] for r in snap.values())) and time.monotonic() < deadline:
        time.sleep(1.0)
        snap = _try_snapshot(fed)
    return snap if snap is not None else _snapshot(fed)


def _summary(fed: Federation, snap: dict[str, Any]) -> None:
    _say("")
    _say("==== 各县办件在县、市、省三级的持有情况 ====")
    tiers = f"{rjust('本县', 8)}{rjust('市级', 8)}{rjust('省级', 8)}"
    _say(f"  {ljust('县', 8)}{tiers}  {ljust('事件（县/市/省）', 22)} 一致")
    for c in fed.counties():
        row = snap[c.division]
        own, city, prov = row["own"], row["city"], row["province"]
        events = f"{own.get('events', 0)}/{city.get('events', 0)}/{prov.get('events', 0)}"
        mark = "✓ 数量与摘要一致" if row["complete"] else ("（尚无办件）" if not own else "✗ 尚未一致")
        counts = f"{own.get('cases', 0):>8}{city.get('cases', 0):>8}{prov.get('cases', 0):>8}"
        _say(f"  {ljust(c.name, 8)}{counts}  {ljust(events, 22)} {mark}")
    for c in fed.counties():
        with contextlib.suppress(httpx.HTTPError, LaunchError):
            summary = fed.as_role(c.division, "supervisor").get("/api/v1/summary", timeout=10.0).json()
            lights = summary.get("by_light", {})
            labels = summary.get("light_labels", {})
            shown = "  ".join(f"{labels.get(k, k)} {v}" for k, v in lights.items())
            _say(f"  {c.name} 在办件灯色：{shown}   接口 {fed.url(c.division)}/docs")


_LIGHT_LABELS = {"red": "红", "yellow": "黄", "-": "—"}


def _supervision_summary(fed: Federation) -> None:
    """Alerts by rule and light, complaints and ratings of each county, as held at the county, city, province."""
    from county_node.supervision.domain import REGISTRY

    held = {s.division: fed.supervision_counts(s.division) for s in fed.specs}
    province = next(s.division for s in fed.specs if s.level is DivisionLevel.PROVINCE)
    _say("")
    _say("==== 电子监察：各县预警（按规则、灯色）、投诉、评价在县/市/省三级的持有数 ====")
    for c in fed.counties():
        own = held[c.division].get(c.division, {"alerts": {}, "complaints": 0, "ratings": 0})
        city = held[c.parent or ""].get(c.division, {"alerts": {}, "complaints": 0, "ratings": 0})
        prov = held[province].get(c.division, {"alerts": {}, "complaints": 0, "ratings": 0})
        same = own == city == prov
        _say(f"  {c.name}（{c.division}）{'✓ 三级一致' if same else '✗ 尚未一致'}")
        for key in sorted(own["alerts"]):
            rule, light = key.split("/")
            name = REGISTRY[rule].name if rule in REGISTRY else rule
            counts = f"{own['alerts'][key]}/{city['alerts'].get(key, 0)}/{prov['alerts'].get(key, 0)}"
            _say(f"    {rule} {ljust(name, 24)} {_LIGHT_LABELS.get(light, light)}  县/市/省 {counts}")
        _say(
            f"    投诉 {own['complaints']}/{city['complaints']}/{prov['complaints']}"
            f"   好差评 {own['ratings']}/{city['ratings']}/{prov['ratings']}"
        )


def _machine_trust(fed: Federation) -> None:
    """Every node enrolled, every link mutual TLS, every batch signed — and one forgery refused."""
    _say("\n==== 机器信任：每个节点已在上级登记证书，链路双向 TLS，批次由来源签名 ====")
    for s in fed.specs:
        cert = fed.certificate(s.division)
        until, suite = cert["not_after"][:10], cert["suite"]
        _say(f"  {s.name}（{s.division}）证书由 {cert['issuer']} 签发，有效至 {until}，签名算法 {suite}")
    county, impostor = fed.counties()[0], fed.counties()[1]
    refusal = fed.forgery_attempt(impostor.division, county.division, county.parent or "")
    _say(f"  伪造演示：以{impostor.name}的证书冒充{county.name}向其上级发送 → 被拒绝（{refusal}）")


def _standards_status(fed: Federation, timeout: float = 30.0) -> None:
    """Which version every node of the demo runs, as the province sees it (``sunshine admin standards status``)."""
    province = fed.province()
    ours = {s.division for s in fed.specs}
    deadline = time.monotonic() + timeout
    while True:
        report = fed.admin(province, "standards", "status")
        nodes = [n for n in report["nodes"] if n["division"] in ours]
        if all(n["state"] != "unknown" for n in nodes) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    _say(f"省级查看各节点标准版本（sunshine admin standards status）：省级当前 {report['province_version']}")
    for n in nodes:
        _say(f"  {n['name']}（{n['division']}）{n['version'] or '—'}  {_STATE_LABELS.get(n['state'], n['state'])}")


_STATE_LABELS = {"current": "最新", "pending": "最新（待生效）", "behind": "落后", "ahead": "领先", "unknown": "未报告"}


def _order_round_trip(fed: Federation, timeout: float = 30.0) -> None:
    """A city inspector issues a 督办 on one of its counties' red alerts through the inspectors' API; the order
    comes down to the county, whose supervisor signs for it (签收) and answers it (办复) — and the reply comes back
    up to the city."""
    city = next(s for s in fed.specs if s.level is DivisionLevel.CITY)
    inspector = fed.person(city.division, "inspector")
    api = fed.as_role(city.division, "inspector")
    _say("")
    _say(
        f"==== 督办：{city.name}督查员 {inspector.name}（{inspector.user_id}）对所辖县的红灯预警下发督办"
        f"（监察接口 {fed.url(city.division)}/api/v1） ===="
    )
    found = api.get("/api/v1/alerts", params={"light": "red", "status": "active", "page_size": 1}, timeout=10.0)
    items = found.json().get("items", []) if found.status_code == 200 else []
    if not items:
        _say("  所辖县暂无未关闭的红灯预警，跳过督办演示")
        return
    alert = items[0]
    body = {
        "kind": "supervise",
        "subject_id": alert["alert_id"],
        "reason": "办件已超期，请三个工作日内办结并书面说明原因",
        "reply_limit_days": 3,
    }
    issued = api.post("/api/v1/orders", json=body, timeout=10.0)
    if issued.status_code != 201:
        _say(f"  下发失败：{issued.text[:200]}")
        return
    order = issued.json()
    order_id, county_code = order["order_id"], order["county"]
    county = _name(fed, county_code)
    rule = alert.get("rule_name", "")
    _say(f"  {order['issued_by']} 已下发督办 {order_id}：{county}预警 {alert['alert_id']}（{rule}）")
    supervisor = fed.person(county_code, "supervisor")
    hall = fed.as_role(county_code, "supervisor")
    deadline = time.monotonic() + timeout
    while hall.get(f"/api/v1/orders/{order_id}", timeout=10.0).status_code != 200:
        if time.monotonic() > deadline:
            _say(f"  {timeout:.0f} 秒内督办未下发到{county}")
            return
        time.sleep(0.5)
    received = hall.post(f"/api/v1/orders/{order_id}/receive", timeout=10.0)
    answer = {"answer": "已于当日督促经办窗口办结，并约谈经办人", "acknowledge": True}
    answered = hall.post(f"/api/v1/orders/{order_id}/answer", json=answer, timeout=10.0)
    if received.status_code != 200 or answered.status_code != 200:
        _say(f"  {county}签收或办复失败：{received.text[:200]} {answered.text[:200]}")
        return
    _say(f"  {county}监察员 {supervisor.name}（{supervisor.user_id}）已签收并办复")
    while time.monotonic() < deadline:
        order = api.get(f"/api/v1/orders/{order_id}", timeout=10.0).json()
        if order.get("reply_status") == "answered":
            break
        time.sleep(0.5)
    reply = order.get("reply")
    if reply is None:
        _say(f"  {timeout:.0f} 秒内未收到{county}的签收")
        return
    _say(
        f"  {county}已签收（{reply['received_at']}），签收回执经同步回到{city.name}：{order['reply_label']}"
        f"（办复人 {reply.get('answered_by') or '—'}）"
    )
    county_alert = hall.get(f"/api/v1/alerts/{alert['alert_id']}", timeout=10.0)
    if county_alert.status_code == 200:
        view = county_alert.json()
        _say(f"  {county}的预警现为：{view.get('status_label', view.get('status'))}（{view.get('level_label', '')}）")
    _alert_clip(fed, alert["alert_id"])


def _alert_clip(fed: Federation, alert_id: str) -> None:
    """The alert's clip as the province inspector sees it (computed on the province's replicas of the video index):
    which camera, which time range, which recording segments to ask the county for."""
    province = fed.province()
    got = fed.as_role(province, "inspector").get(f"/api/v1/alerts/{alert_id}", timeout=10.0)
    clip = got.json().get("clip") if got.status_code == 200 else None
    if not clip:
        _say("  省级监察接口：该预警暂无可调阅的录像")
        return
    if not clip.get("camera_id"):
        _say(f"  省级监察接口：该预警的录像——{clip.get('note') or '当时窗口无摄像机'}")
        return
    segments, gaps = clip.get("segments", []), clip.get("gaps", [])
    window = clip.get("window") or "—"
    _say(
        f"  省级监察接口显示该预警的录像：{window} 窗口摄像机 {clip['camera_id']}，"
        f"{clip['start'][11:16]}–{clip['end'][11:16]}，录像片段 {len(segments)} 个，缺失 {len(gaps)} 段"
    )


def _scores(fed: Federation, at: datetime, timeout: float = 30.0) -> None:
    """The province scores its counties for the month of ``at`` (the counties' simulated now) as of ``at`` and
    publishes the scores down; the ranking with each county's top deductions, then one county's own rank as its
    hall sees it. The province runs on the wall clock, the counties on the simulated one: scored as of the wall
    clock, every complaint and negative rating the simulation left within its limit would count as missed."""
    province = fed.province()
    from federation.timeutil import CST

    period = f"{at.astimezone(CST):%Y-%m}"
    _say("")
    _say(f"==== 考核评分：省级计算 {period} 各县得分并下发（sunshine province score run / show） ====")
    done = fed.sunshine(province, "province", "score", "run", "--period", period, "--at", at.isoformat())
    for line in done.splitlines():
        _say(f"  {line}")
    try:
        shown = fed.sunshine(province, "province", "score", "show", period, "--level", "county")
    except LaunchError as exc:
        _say(f"  {period} 暂无可显示的评分（{exc}）")
        return
    names = {s.division: s.name for s in fed.specs}
    for line in shown.splitlines():
        named = line
        for code, name in names.items():
            named = named.replace(f" {code} ", f" {code} {name} ")
        _say(f"  {named}")
    ranked = any(line.startswith("第 ") for line in shown.splitlines())
    if "样本不足" in shown and not ranked:
        _say(
            "  （演示只模拟了一两天：各县本期受理件数低于排名所需的最小样本，评分仅供参考、不排名；"
            "见 docs/scoring.md“小样本”）"
        )
    elif "样本不足未计" in shown:
        _say(
            "  （演示只模拟了一两天：多数承诺件尚未审批决定，按审批决定件计的按时办结率等指标样本不足、不计分，"
            "指标得分按已计指标折算为百分制；按受理件计的指标照常计分；见 docs/scoring.md“小样本”）"
        )
    # the first county whose hall has its score (a county with no case in the period is not scored)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for county in fed.counties():
            got = fed.as_role(county.division, "supervisor").get(
                "/api/v1/scores", params={"period": period}, timeout=10.0
            )
            if got.status_code == 200:
                _say(f"  {county.name}大厅看到本县排名：{_rank_text(got.json())}")
                return
        time.sleep(0.5)
    _say(f"  {timeout:.0f} 秒内评分未下发到任何一个县")


def _rank_text(view: dict[str, Any]) -> str:
    own = view["score"]
    if own["rank"] is None:
        return f"{own['score']} 分（样本不足，不排名）"
    return f"{own['score']} 分，第 {own['rank']} / {own['ranked_of']} 名"


def _node_now(fed: Federation) -> datetime:
    """The counties' (simulated) clock, from the first county's public ``/api/v1/health``."""
    health = fed.http.get(f"{fed.url(fed.counties()[0].division)}/api/v1/health", timeout=10.0).json()
    return datetime.fromisoformat(health["now"])


def _as_of(fed: Federation) -> str:
    try:
        return _node_now(fed).strftime("%Y-%m-%d %H:%M")
    except (httpx.HTTPError, KeyError, ValueError):
        return "?"


_ROLE_LABELS = {r.value: label for r, label in ROLE_LABELS.items()}


def _people(fed: Federation) -> None:
    """Who the demo logs in as: at every county its hall's people, at the cities and the province inspectors."""
    _say("演示人员（每人一个账号，密码见 " + str(fed.password_file) + "）：")
    county = fed.counties()[0]
    hall = "、".join(f"{p.name}（{_ROLE_LABELS[p.role]}，{p.user_id}）" for p in fed.people(county.division))
    _say(f"  每个县：{hall}")
    for s in fed.specs:
        if s.level is DivisionLevel.COUNTY:
            continue
        shown = "、".join(
            f"{p.name}（{_ROLE_LABELS[p.role]}，{p.user_id}"
            + ("" if p.division == s.division else f"，限{_name(fed, p.division)}")
            + "）"
            for p in fed.people(s.division)
        )
        _say(f"  {s.name}（{s.division}）：{shown}")


def _started(fed: Federation) -> None:
    """Where each node listens, the extranet node too."""
    for s in fed.specs:
        kind = "大厅接口" if s.level is DivisionLevel.COUNTY else "监察接口"
        grpc = f"127.0.0.1:{fed.grpc_ports[s.division]}"
        _say(f"  {s.name}（{s.division}）{kind} {fed.url(s.division)}/docs，复制接收 {grpc}")
    portal = extranet_of(DEMO_EXTRANET)
    _say(
        f"  {_name(fed, DEMO_EXTRANET)}外网节点（{portal}，网上办事门户）{fed.url(portal)}/，"
        f"复制接收 127.0.0.1:{fed.grpc_ports[portal]}"
    )
    _say(f"已启动 {len(fed.specs)} 个节点进程与 {len(fed.specs)} 个同步代理进程，外网节点 1 个")
    _pages(fed)


def _pages(fed: Federation) -> None:
    """The web pages to open while the demo runs, and who logs in there (the password is in the password file)."""
    _say(f"网页（浏览器打开，演示运行期间可用；账号见上，密码见 {fed.password_file}）：")
    for s in fed.specs:
        url = fed.url(s.division)
        users = "、".join(p.user_id for p in fed.people(s.division) if p.role != "exchange_admin")
        if s.level is DivisionLevel.COUNTY:
            own = f"大厅 {url}/hall/cases（{users}）"
        else:
            own = f"实时监控 {url}/inspect/wall（督查员 {users}）"
        _say(f"  {s.name}（{s.division}）：{own}；交换管理 {url}/exchange/links（交换管理员 jiaohuan）")


def _next_opening(fed: Federation) -> datetime:
    """The first arrival: the counties' simulated now if the hall is open, else its next opening (08:30) on a
    working day."""
    from federation.calendar import WorkingCalendar
    from federation.calendar_seed import seed_years
    from federation.timeutil import CST

    calendar = WorkingCalendar(seed_years())
    now = _node_now(fed).astimezone(CST)
    if calendar.is_working_day(now.date()) and (8, 30) <= (now.hour, now.minute) < (16, 0):
        return now + timedelta(minutes=5)
    early = calendar.is_working_day(now.date()) and (now.hour, now.minute) < (8, 30)
    day = now.date() if early else calendar.add_working_days(now.date(), 1)
    return datetime(day.year, day.month, day.day, 8, 30, tzinfo=CST)


def _until_open(fed: Federation, first: datetime, speed: float) -> bool:
    """Wait (real time) until the counties' simulated clock reaches the first arrival, so that ``--duration``
    counts business hours: a start that took simulated days (a busy machine) may have run into a weekend.
    True when interrupted."""
    try:
        waited = False
        while (ahead := (first - _node_now(fed)).total_seconds() / speed) > 0:
            if not waited and ahead > 2:
                _say(f"  模拟时间尚未到办公时间，约 {ahead:.0f} 秒后首件到达")
                waited = True
            time.sleep(min(1.0, ahead))
            fed.check_alive()
    except KeyboardInterrupt:
        return True
    return False


def _watch(fed: Federation, duration: float) -> bool:
    """Progress every few seconds until ``duration`` (0: forever) or Ctrl-C/SIGTERM; True when interrupted."""
    deadline = time.monotonic() + duration if duration > 0 else None
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(3.0 if deadline is None else min(3.0, max(0.1, deadline - time.monotonic())))
            fed.check_alive()
            try:
                _progress(fed, _snapshot(fed), _as_of(fed))
            except _UNREADABLE as exc:
                _say(f"  （本轮读数略过：{str(exc)[:80]}——进程重启期间无法读取）")
    except KeyboardInterrupt:
        return True
    return False


def _public_audit_boundary_recovery(fed: Federation) -> None:
    """The end of the hall's day: the public portal's round trip, who did what, what crossed each boundary, and a
    county that loses its disk rebuilt from its city."""
    _say("")
    public_round_trip(fed, DEMO_EXTRANET, _say)
    _wait_converged(fed, timeout=30.0)  # the online case and its rating up too
    audit_summary(fed, _say)
    boundary_summary(fed, _say, DEMO_EXTRANET)
    recovery_round_trip(fed, DEMO_RECOVERED, _say)


@demo_app.callback()
def demo(
    workdir: Annotated[Path, typer.Option(help="演示工作目录（每次启动时清空重建）")] = Path(".demo"),
    seed: Annotated[int, typer.Option(help="业务模拟随机种子")] = 7,
    duration: Annotated[float, typer.Option(help="运行秒数，0 表示直到 Ctrl-C")] = 0.0,
    speed: Annotated[float, typer.Option(help="模拟时钟倍速（模拟秒/实际秒）")] = 7200.0,
    start: Annotated[str, typer.Option(help="模拟时钟起点（带时区）")] = "2026-11-02T08:30:00+08:00",
    rate: Annotated[float, typer.Option(help="每县办公时间内每模拟小时到达的办件数")] = 10.0,
) -> None:
    """启动省、两市、四县组成的演示联邦（每个节点、每个同步代理各一个进程），显示各级持有情况与积压。

    Ctrl-C 后输出汇总并干净退出。"""
    configure_logging("console", "warning")  # the demo speaks in its own lines; its nodes log to their files
    workdir = _fresh_workdir(workdir)
    # SIGTERM (a service manager, `kill`) stops the demo as cleanly as Ctrl-C: children are stopped in order
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    simulation = {
        "SUNSHINE_SIMULATION_ENABLED": "true",
        "SUNSHINE_SIMULATION_START": start,
        "SUNSHINE_SIMULATION_SPEED": str(speed),
        # the supervision sweep every real second: two simulated hours at the default speed
        "SUNSHINE_SUPERVISION_SWEEP_INTERVAL_S": "1",
    }
    fed = Federation(workdir, county_env=simulation, extranets=(DEMO_EXTRANET,))
    interrupted = False
    try:
        _say(f"初始化 {len(fed.specs)} 个节点（省 1、市 2、县 4）：{workdir}")
        fed.init_all()
        _say("省级已发布标准包（事项目录与节假日历）")
        _people(fed)
        fed.start_all()
        # from here on a node or agent that dies (a crash, a kill from outside) is started again, and said so
        fed.supervise(report=lambda line: _say(f"  [进程监护] {line}"))
        _started(fed)
        _machine_trust(fed)
        fed.wait_for_standards()
        _say("标准包已经市级下发到全部四个县")
        _standards_status(fed)
        # the workloads' start (imports, logins, cameras) takes simulated hours on a busy machine: they get their
        # first arrival only once all are ready, so none starts with a backlog and all start together
        go = workdir / "workload-start.txt"
        for i, c in enumerate(fed.counties()):
            fed.start_workload(c.division, seed=seed + i, rate=rate, start_file=go)
        for c in fed.counties():
            fed.wait_workload(c.division)
        first = _next_opening(fed)
        tmp = go.with_suffix(".tmp")
        tmp.write_text(first.isoformat(), encoding="utf-8")
        os.replace(tmp, go)
        _say(f"四个县的大厅业务模拟已启动（首件 {first:%m-%d %H:%M} 到达，{speed:g} 倍速；Ctrl-C 停止并输出汇总）")
        interrupted = _until_open(fed, first, speed) or _watch(fed, duration)
        fed.stop(*(f"workload:{c.division}" for c in fed.counties()))
        _say("业务模拟已停止，等待复制追平……")
        _summary(fed, _wait_converged(fed, timeout=60.0))
        _supervision_summary(fed)
        _order_round_trip(fed)
        _scores(fed, _node_now(fed))
        _wait_converged(fed, timeout=30.0)  # the order's and the scores' audit entries up too
        _public_audit_boundary_recovery(fed)
    except (LaunchError, RuntimeError) as exc:
        typer.echo(f"演示失败：{exc}（日志目录 {workdir}）", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop_in_order(fed, _say)
        _say("所有进程已停止。" + ("（已中断）" if interrupted else ""))
