"""The end of a demo run: who did what (the counties' audit chains as the province holds them), what crossed each
county's boundary, the ordered stop and every tier's verdict on each origin's statement (``sunshine admin
verify``). Each says its lines through ``say``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federation.identities import DivisionLevel
from federation.replication.records import RECORD_TYPE_LABELS
from federation.storage.attestation import AGREEING
from province_center.demo.extranet import extranet_boundary_lines
from province_center.demo.launcher import Federation
from security.access import AUDIT_ACTION_LABELS

__all__ = ["audit_summary", "boundary_summary", "stop_in_order"]

Say = Callable[[str], None]


def audit_summary(fed: Federation, say: Say) -> None:
    """Who did what in each county, from the audit entries replicated up to the province, and each county's
    hash chain recomputed there."""
    province = fed.province()
    report = fed.audit_report(province)
    say("")
    say(f"==== 审计：谁做了什么（{fed.by_code[province].name}持有的各县审计日志，逐条重算哈希链） ====")
    for c in fed.counties():
        chain = report.get(c.division)
        if chain is None:
            say(f"  {c.name}（{c.division}）：省级尚无审计日志")
            continue
        people: dict[tuple[str, str, str], list[str]] = {}
        refused = 0
        for (user_id, name, role, action, outcome), n in sorted(
            chain["counts"].items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][3])
        ):
            if outcome != "ok":
                refused += n
                continue
            people.setdefault((user_id, name, role), []).append(f"{AUDIT_ACTION_LABELS.get(action, action)} {n} 次")
        broken = chain["break"]
        verdict = "哈希链完整" if broken is None else f"✗ 哈希链断裂于第 {broken.seq} 条：{broken.reason}"
        tail = f"，其中被拒绝 {refused} 次" if refused else ""
        say(f"  {c.name}（{c.division}）：{chain['checked']} 条，{verdict}{tail}")
        for (user_id, name, role), actions in people.items():
            say(f"    {name}（{role}，{user_id}）" + "、".join(actions))


def boundary_summary(fed: Federation, say: Say, extranet: str) -> None:
    """What each county let cross its boundary under the province's policy, and what the province's own database
    holds of the applicants' personal data (read from its tables)."""
    province = fed.province()
    say("")
    say("==== 边界：各县出境记录与脱敏（省级发布的边界策略） ====")
    for c in fed.counties():
        report = fed.boundary_report(c.division)
        up: dict[str, Any] = next((d for d in report["directions"] if d["direction"] == "up"), {"types": []})
        crossed = sum(t["crossed"] for t in up["types"])
        masked = sorted(
            {f"{t['record_type']}.{r['field']}" for t in up["types"] for r in t["redacted"]},
            key=lambda f: (not f.startswith("case."), f),  # the applicant's data first
        )
        refused = sum(t["refused"] for t in up["types"])
        policy = "内置默认策略" if report["default_policy"] else f"策略版本 {report['policy_version']}"
        say(
            f"  {c.name}（{c.division}）：{policy}；上行 {crossed} 条记录，脱敏字段 {len(masked)} 个"
            f"（如 {'、'.join(masked[:3])}），拒绝 {refused} 条"
        )
    for line in extranet_boundary_lines(fed, extranet):
        say(line)
    held = fed.personal_data_held(province)
    verdict = "✓" if held["full_names"] == 0 and held["raw_numbers"] == 0 else "✗"
    name = fed.by_code[province].name
    say(
        f"  {verdict} {name}数据库直查：{held['cases']} 件办件中申请人全名 {held['full_names']} 个，"
        f"未脱敏的证件号、信用代码或手机号 {held['raw_numbers']} 处"
    )


def _attestation_summary(fed: Federation, say: Say) -> None:
    """What ``sunshine admin verify`` says at the province: each origin's last statement of its own figures, and
    each tier's verdict on it (a county's is checked by its city and by the province)."""
    try:
        verdicts = fed.verdicts(fed.province())
    except Exception as exc:  # the summary is a reading: say why it is missing, never fail the stop
        say(f"  完整性核对无法读取：{exc}")
        return
    by_origin: dict[str, dict[str, Any]] = {}
    for v in verdicts:
        by_origin.setdefault(v.origin, {})[v.checked_by] = v
    say("  完整性核对（sunshine admin verify，省级）：各来源的核对声明与各级核对结论")
    for spec in fed.specs:
        tiers = by_origin.get(spec.division)
        if not tiers:
            continue
        first = tiers.get(fed.province()) or next(iter(tiers.values()))  # the province's own has the figures
        kinds = "，".join(f"{RECORD_TYPE_LABELS.get(k, k)} {n}" for k, (n, _) in sorted(first.kinds.items()))
        checks = "  ".join(
            f"{_TIER_NAMES[fed.by_code[tier].level]} {'✓ 一致' if v.verdict in AGREEING else '✗ 不一致'}"
            for tier, v in sorted(tiers.items(), key=lambda item: fed.by_code[item[0]].level is DivisionLevel.PROVINCE)
        )
        say(f"    {spec.name}（{spec.division}）声明至序号 {first.covers}（{kinds}）  {checks}")


_TIER_NAMES = {DivisionLevel.PROVINCE: "省级", DivisionLevel.CITY: "市级", DivisionLevel.COUNTY: "县级"}


def stop_in_order(fed: Federation, say: Say) -> None:
    """The ordered stop (writers, then each tier's agents drained up, then the rest), and what it saw."""
    say("")
    say("==== 有序停止：先停写入（业务、外网、县级节点），各级同步代理排空后再停上级 ====")
    try:
        left = fed.stop_all()
    except Exception as exc:  # whatever stopping met, the demo still says it and ends
        say(f"  停止时出错：{exc}")
        return
    restarts = fed.supervisor.restarts if fed.supervisor is not None else []
    if restarts:
        counts: dict[str, int] = {}
        for r in restarts:
            counts[r.key] = counts.get(r.key, 0) + 1
        shown = "，".join(f"{key} {n} 次" for key, n in counts.items())
        say(f"  运行期间进程意外退出并已自动重启：{shown}")
    _attestation_summary(fed, say)
    if left:
        for name, what in left.items():
            backlog = what if isinstance(what, str) else "；".join(f"来源 {u.origin} {u.records} 条" for u in what)
            say(f"  ✗ {name} 的上行链路未排空：{backlog}（记录留在本节点，下次启动继续发送）")
    else:
        say("  ✓ 各县、各市的上行链路均已排空：停止前每条记录都已被上级确认")
