"""The demo's public portal (外网门户): what one member of the public does at a county's extranet node, and what crossed
the intranet/extranet boundary — read from the running processes (HTTP) and their databases.

The demo's one extranet node serves 莒县 (``371122-ext``). :func:`public_round_trip` applies online, waits for the
application at the county's intake desk, accepts it as the window clerk, sees the status on the portal, concludes
the case as the approver, rates it from the portal and waits for the rating at the county. Each step says how many
seconds the crossing took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from federation.identities import extranet_of
from province_center.demo.launcher import Federation
from province_center.demo.topology import LaunchError

__all__ = ["extranet_boundary_lines", "public_round_trip"]

T = TypeVar("T")
_PHONE = "13912345678"  # the demo applicant's mobile: only the county holds it (the SMS goes there)


def _wait(what: str, probe: Callable[[], T | None], timeout: float) -> tuple[T, float]:
    started = time.monotonic()
    while True:
        try:
            got = probe()
        except httpx.HTTPError:
            got = None
        if got is not None:
            return got, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise LaunchError(f"{timeout:.0f} 秒内未等到：{what}")
        time.sleep(0.1)


def _checked(reply: httpx.Response, what: str) -> dict[str, Any]:
    if not reply.is_success:
        raise LaunchError(f"{what}失败（HTTP {reply.status_code}）：{reply.text[:300]}")
    body: dict[str, Any] = reply.json()
    return body


def public_round_trip(fed: Federation, county: str, say: Callable[[str], None], timeout: float = 60.0) -> None:
    """网上申报 → 受理 → 外网查询 → 办结 → 网上评价, each crossing timed."""
    node = extranet_of(county)
    portal = fed.url(node)
    name = fed.by_code[county].name
    say(f"==== 外网：{name}网上办事门户 {portal}/（外网节点 {node}，只持有公开数据与公众提交的数据） ====")
    items, _ = _wait(
        "事项目录经公开数据流到达外网节点",
        lambda: fed.http.get(f"{portal}/api/v1/public/catalogue").json()["items"] or None,
        timeout,
    )
    item = next(i for i in items if i["key_fields"] and i["kind"] != "instant")
    applied = _checked(
        fed.http.post(
            f"{portal}/api/v1/public/submissions",
            json={
                "item_code": item["code"],
                "applicant": "赵小满",
                "applicant_id": "371122199203154321",
                "phone": _PHONE,
                "materials": ["申请书", "身份证复印件"],
                "data": {field: f"{field}（网上填报）" for field in item["key_fields"]},
            },
        ),
        "网上申报",
    )
    submission, code = applied["submission_id"], applied["query_code"]
    say(f"  公众网上申报「{item['name']}」：申报编号 {submission}，查询码 {code}（仅显示一次，门户只存其哈希）")
    clerk_person = fed.person(county, "clerk")
    clerk = fed.as_role(county, "clerk")
    _, took = _wait(
        "网上申报经入网数据流到达县级网上受理台",
        lambda: True if clerk.get(f"/api/v1/intake/{submission}").is_success else None,
        timeout,
    )
    say(f"  {took:.1f} 秒后到达{name}网上受理台（待受理：不经窗口人员受理不会成为办件）")
    accepted = _checked(clerk.post(f"/api/v1/intake/{submission}/accept", json={"window": "W01"}), "受理网上申报")
    case_no = accepted["case"]["case"]["case_no"]
    say(
        f"  窗口人员 {clerk_person.name}（{clerk_person.user_id}）受理：办件 {case_no}，"
        f"查询码 {accepted['query_code']}（短信与受理通知书）"
    )

    def status() -> dict[str, Any] | None:
        """The case as the portal shows it with its number and the applicant's code (None: not there yet)."""
        reply = fed.http.post(f"{portal}/api/v1/public/status", json={"number": case_no, "query_code": code})
        return reply.json() if reply.is_success else None

    view, took = _wait(
        "受理后外网可查到办件状态", lambda: s if (s := status()) and s["status"] == "accepted" else None, timeout
    )
    say(f"  受理 {took:.1f} 秒后外网可查（办件编号 + 查询码）：{view['status_label']}，承诺办结日 {view['due_on']}")
    approver = fed.as_role(county, "approver")
    for action, body in (("review", {"opinion": "材料齐全"}), ("decide", {"outcome": "approve"}), ("conclude", {})):
        _checked(approver.post(f"/api/v1/cases/{case_no}/actions/{action}", json=body), f"办件操作 {action}")
    concluded, took = _wait("办结后外网开放评价", lambda: s if (s := status()) and s["can_rate"] else None, timeout)
    say(
        f"  审批负责人办结 {took:.1f} 秒后外网可见：{concluded['status_label']}（{concluded['on_time_label']}），"
        "邀请评价"
    )
    _checked(
        fed.http.post(
            f"{portal}/api/v1/public/ratings",
            json={"case_no": case_no, "query_code": code, "level": 5, "comment": "网上申报，一次办好"},
        ),
        "网上评价",
    )
    supervisor = fed.as_role(county, "supervisor")
    rating, took = _wait(
        "外网评价到达县级节点",
        lambda: next(iter(supervisor.get("/api/v1/ratings", params={"case_no": case_no}).json()["items"]), None),
        timeout,
    )
    say(f"  公众网上评价「{rating['level_label']}」，{took:.1f} 秒后{name}收到（评价窗口人员 {rating['staff']}）")
    texts = _applicant_sms(fed, county, case_no)
    masked = {t[0] for t in texts}
    say(f"  短信告知申请人 {len(texts)} 条（受理、办结与评价邀请），号码在发送记录中脱敏：{'、'.join(sorted(masked))}")
    disclosed = fed.http.get(f"{portal}/api/v1/public/disclosures").json()
    say(f"  办件公示：外网已公示 {disclosed['total']} 件办结件（事项、部门、受理与办结日期、结果、是否按时）")


def _applicant_sms(fed: Federation, county: str, case_no: str) -> list[tuple[str, str]]:
    """The county's delivery log of the applicant's SMS about ``case_no``: (recipient as logged, status)."""
    from sqlalchemy import select

    from federation.storage.engine import engine_from_config
    from federation.storage.tables import notifications
    from federation.storage.uow import UnitOfWork

    engine = engine_from_config(fed.load(county))
    try:
        with UnitOfWork(engine, readonly=True) as uow:
            n = notifications.c
            rows = uow.conn.execute(
                select(n.recipient, n.status).where(n.subject_id == case_no, n.channel != "sms")
            ).all()
    finally:
        engine.dispose()
    return [(str(r.recipient), str(r.status)) for r in rows]


def extranet_boundary_lines(fed: Federation, county: str) -> list[str]:
    """What crossed between ``county`` and its extranet node: the public stream out, the public's records in."""
    out = _crossed(fed.boundary_report(county), "out")
    into = _crossed(fed.boundary_report(extranet_of(county)), "in")
    name = fed.by_code[county].name
    return [
        f"  {name}出网（内网 → 外网，{county}-pub）：{_counts(out)}；不含申请人、关键数据与工作人员",
        f"  {name}入网（外网 → 内网，{county}-ext）：{_counts(into)}",
    ]


def _crossed(report: dict[str, Any], direction: str) -> dict[str, int]:
    found: dict[str, Any] = next((d for d in report["directions"] if d["direction"] == direction), {"types": []})
    return {t["record_type"]: int(t["crossed"]) for t in found["types"] if t["crossed"]}


_LABELS = {
    "public_catalogue": "事项目录",
    "public_case": "办件状态",
    "submission_result": "申报处理结果",
    "disclosure": "办件公示",
    "public_submission": "网上申报",
    "public_complaint": "投诉",
    "public_rating": "评价",
}


def _counts(crossed: dict[str, int]) -> str:
    return "，".join(f"{_LABELS.get(t, t)} {n} 条" for t, n in sorted(crossed.items())) or "无"
