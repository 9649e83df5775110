"""The portal's pages: server-rendered Simplified Chinese HTML, every value escaped, no script, one stylesheet.

Plain functions returning text (no template engine is a dependency): :func:`layout` frames a body; each page
function takes what it shows. Forms post back to their own address with the CSRF token in a hidden field
(:mod:`county_node.extranet.entrypoints.portal_http` checks it against the cookie).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from html import escape
from urllib.parse import quote, urlencode

from county_node.extranet.domain import (
    CaseStatus,
    ComplaintReceipt,
    DisclosurePage,
    RatingReceipt,
    SubmissionReceipt,
    SubmissionStatus,
    on_time_label,
)
from federation.public_records import RATING_LABELS, PublicItem
from federation.timeutil import CST

__all__ = [
    "STYLESHEET",
    "apply_page",
    "complaint_done_page",
    "complaint_page",
    "disclosure_page",
    "error_page",
    "home_page",
    "rating_done_page",
    "rating_page",
    "status_page",
    "submitted_page",
]

STYLESHEET = """
body { font-family: "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { background: #b22222; color: #fff; padding: 0.8em 1.5em; }
header a { color: #fff; margin-right: 1.2em; text-decoration: none; }
main { max-width: 56em; margin: 1.5em auto; background: #fff; padding: 1.5em 2em; }
label { display: block; margin-top: 0.8em; font-weight: bold; }
input[type=text], input[type=tel], textarea, select { width: 100%; padding: 0.4em; box-sizing: border-box; }
button { margin-top: 1.2em; padding: 0.5em 2em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.5em; text-align: left; }
.error { background: #fdecea; border: 1px solid #e57373; padding: 0.6em 1em; }
.notice { background: #fff8e1; border: 1px solid #ffb300; padding: 0.6em 1em; }
.code { font-size: 1.6em; font-family: monospace; letter-spacing: 0.15em; }
.hint { color: #666; font-size: 0.9em; }
"""


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _moment(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def layout(title: str, body: str, *, county: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} - 政务服务网上办事（{e(county)}）</title>
<link rel="stylesheet" href="/static/portal.css"></head>
<body>
<header><strong>政务服务网上办事</strong>
<a href="/">首页</a><a href="/status">办件查询</a><a href="/complaint">投诉</a><a href="/rate">评价</a>
<a href="/disclosures">办件公示</a></header>
<main><h1>{e(title)}</h1>
{body}
</main></body></html>"""


def _error(message: str | None) -> str:
    return f'<p class="error" role="alert">{e(message)}</p>' if message else ""


def _csrf(token: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{e(token)}">'


def _field(name: str, label: str, value: str = "", *, kind: str = "text", hint: str = "", limit: int = 0) -> str:
    size = f' maxlength="{limit}"' if limit else ""
    extra = f'<span class="hint">{e(hint)}</span>' if hint else ""
    return (
        f'<label for="{e(name)}">{e(label)}</label>'
        f'<input type="{kind}" id="{e(name)}" name="{e(name)}" value="{e(value)}"{size}>{extra}'
    )


def _area(name: str, label: str, value: str = "", *, hint: str = "", limit: int = 0) -> str:
    size = f' maxlength="{limit}"' if limit else ""
    extra = f'<span class="hint">{e(hint)}</span>' if hint else ""
    return (
        f'<label for="{e(name)}">{e(label)}</label>'
        f'<textarea id="{e(name)}" name="{e(name)}" rows="4"{size}>{e(value)}</textarea>{extra}'
    )


def error_page(title: str, message: str, *, county: str) -> str:
    return layout(title, f'{_error(message)}<p><a href="/">返回首页</a></p>', county=county)


# -- home and the application -------------------------------------------------------------------------------------


def home_page(items: Sequence[PublicItem], *, county: str) -> str:
    if not items:
        listing = '<p class="notice">事项目录尚未同步，暂不能网上申报；可先<a href="/status">查询办件</a>。</p>'
    else:
        rows = "".join(
            f"<tr><td>{e(i.name)}</td><td>{e(i.department)}</td><td>{i.promised_days} 个工作日</td>"
            f'<td>{e(i.fee)} 元</td><td><a href="/apply/{quote(i.code, safe="")}">网上申报</a></td></tr>'
            for i in items
        )
        listing = (
            "<table><thead><tr><th>事项</th><th>实施部门</th><th>承诺时限</th><th>收费</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    body = (
        "<p>网上申报后请保存申报编号与查询码，凭其查询办理进度；受理后以短信或受理通知书上的办件编号与查询码查询、评价。</p>"
        f"<h2>可网上申报的事项</h2>{listing}"
    )
    return layout("政务服务事项", body, county=county)


def apply_page(
    item: PublicItem, *, csrf: str, county: str, values: Mapping[str, str] | None = None, error: str | None = None
) -> str:
    v = values or {}
    checked = " checked" if v.get("sms_opt_out") else ""
    key_inputs = "".join(
        _field(f"kf{n}", f"{name}（必填）", v.get(f"kf{n}", ""), limit=500) for n, name in enumerate(item.key_fields)
    )
    body = f"""{_error(error)}
<p>实施部门：{e(item.department)}；承诺时限：{item.promised_days} 个工作日（法定 {item.legal_days} 个工作日）；
收费：{e(item.fee)} 元。</p>
<form method="post" action="/apply/{quote(item.code, safe="")}">
{_csrf(csrf)}
{_field("applicant", "申请人（个人姓名或单位名称，必填）", v.get("applicant", ""), limit=100)}
{_field("applicant_id", "证件号码（身份证号或统一社会信用代码，选填）", v.get("applicant_id", ""), limit=32)}
{_field("phone", "手机号码（必填，用于接收受理短信）", v.get("phone", ""), kind="tel", limit=11)}
{key_inputs}
{_area("materials", "申请材料（每行一项）", v.get("materials", ""), hint="纸质材料请于受理后交窗口核验")}
{_area("note", "备注（选填）", v.get("note", ""), limit=1000)}
<label><input type="checkbox" name="sms_opt_out" value="1"{checked}> 不接收短信通知</label>
<button type="submit">提交申报</button>
</form>"""
    return layout(f"网上申报：{item.name}", body, county=county)


def submitted_page(receipt: SubmissionReceipt, *, county: str) -> str:
    body = f"""<p class="notice">申报已提交，等待窗口预审受理。
<strong>请立即记下申报编号与查询码：查询码只显示这一次，遗失后无法找回。</strong></p>
<p>申报事项：{e(receipt.item_name)}</p>
<p>申报编号：<span class="code">{e(receipt.submission_id)}</span></p>
<p>查询码：<span class="code">{e(receipt.query_code)}</span></p>
<p>提交时间：{_moment(receipt.submitted_at)}</p>
<p><a href="/status">查询办理进度</a></p>"""
    return layout("申报已提交", body, county=county)


# -- status -------------------------------------------------------------------------------------------------------


def _case_table(case: CaseStatus) -> str:
    rows = [
        ("办件编号", case.case_no),
        ("事项", case.item_name),
        ("实施部门", case.department),
        ("办理状态", case.status_label),
        ("申请时间", _moment(case.submitted_at)),
        ("受理时间", _moment(case.accepted_at)),
        ("承诺办结日", _day(case.due_on)),
        ("办结时间", _moment(case.concluded_at)),
        ("办理结果", case.decision_label),
        ("是否按时", case.on_time_label),
    ]
    if case.correction:
        rows.append(("需补正材料", "、".join(case.correction)))
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows if v)
    rate = '<p><a href="/rate">对本次办理进行评价</a></p>' if case.can_rate else ""
    return f"<table>{body}</table>{rate}"


def _submission_table(s: SubmissionStatus) -> str:
    rows = [
        ("申报编号", s.submission_id),
        ("事项", s.item_name),
        ("提交时间", _moment(s.submitted_at)),
        ("状态", s.state_label),
        ("处理时间", _moment(s.decided_at)),
        ("不予受理理由" if s.state == "refused" else "说明", s.reason),
        ("办件编号", s.case_no),
    ]
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows if v)
    case = f"<h2>办件进度</h2>{_case_table(s.case)}" if s.case is not None else ""
    if s.state == "accepted" and s.case is None:
        case = '<p class="hint">已受理，办件进度同步中，请稍后再查。</p>'
    return f"<table>{body}</table>{case}"


def status_page(
    *,
    csrf: str,
    county: str,
    number: str = "",
    answer: CaseStatus | SubmissionStatus | None = None,
    error: str | None = None,
) -> str:
    result = ""
    if isinstance(answer, CaseStatus):
        result = _case_table(answer)
    elif isinstance(answer, SubmissionStatus):
        result = _submission_table(answer)
    body = f"""{_error(error)}{result}
<form method="post" action="/status">
{_csrf(csrf)}
{_field("number", "办件编号或申报编号", number, limit=32, hint="如 371122-20261207-000001 或 371122-W20261207-7K3M9Q")}
{_field("query_code", "查询码", "", limit=16, hint="受理短信、受理通知书或申报成功页面上的 8 位查询码")}
<button type="submit">查询</button>
</form>"""
    return layout("办件查询", body, county=county)


# -- complaint and rating -----------------------------------------------------------------------------------------


def complaint_page(*, csrf: str, county: str, values: Mapping[str, str] | None = None, error: str | None = None) -> str:
    v = values or {}
    body = f"""{_error(error)}
<form method="post" action="/complaint">
{_csrf(csrf)}
{_field("case_no", "办件编号（涉及具体办件时填写）", v.get("case_no", ""), limit=32)}
{_field("complainant", "投诉人（必填）", v.get("complainant", ""), limit=100)}
{_field("phone", "手机号码（必填，用于回复）", v.get("phone", ""), kind="tel", limit=11)}
{_area("content", "投诉内容（必填，至多 2000 字）", v.get("content", ""), limit=2000)}
<button type="submit">提交投诉</button>
</form>"""
    return layout("网上投诉", body, county=county)


def complaint_done_page(receipt: ComplaintReceipt, *, county: str) -> str:
    body = (
        f'<p class="notice">投诉已提交，电子监察部门将在规定时限内核查并回复。</p>'
        f'<p>投诉编号：<span class="code">{e(receipt.complaint_ref)}</span></p>'
        f"<p>提交时间：{_moment(receipt.filed_at)}</p>"
    )
    return layout("投诉已提交", body, county=county)


def rating_page(*, csrf: str, county: str, values: Mapping[str, str] | None = None, error: str | None = None) -> str:
    v = values or {}
    chosen = v.get("level", "5")
    options = "".join(
        f'<option value="{level}"{" selected" if str(level) == chosen else ""}>{level} {e(label)}</option>'
        for level, label in sorted(RATING_LABELS.items(), reverse=True)
    )
    body = f"""{_error(error)}
<p>办结后可对办理情况评价一次。</p>
<form method="post" action="/rate">
{_csrf(csrf)}
{_field("case_no", "办件编号", v.get("case_no", ""), limit=32)}
{_field("query_code", "查询码", "", limit=16)}
<label for="level">评价</label><select id="level" name="level">{options}</select>
{_area("comment", "意见与建议（选填，至多 500 字）", v.get("comment", ""), limit=500)}
<button type="submit">提交评价</button>
</form>"""
    return layout("好差评", body, county=county)


def rating_done_page(receipt: RatingReceipt, *, county: str) -> str:
    body = f'<p class="notice">感谢评价。办件 {e(receipt.case_no)}：{receipt.level} {e(receipt.label)}。</p>'
    return layout("评价已提交", body, county=county)


# -- 办件公示 ---------------------------------------------------------------------------------------------------------


def disclosure_page(page: DisclosurePage, *, departments: Sequence[str], department: str, county: str) -> str:
    options = '<option value="">全部部门</option>' + "".join(
        f'<option value="{e(d)}"{" selected" if d == department else ""}>{e(d)}</option>' for d in departments
    )
    rows = "".join(
        f"<tr><td>{e(d.case_no)}</td><td>{e(d.item_name)}</td><td>{e(d.department)}</td>"
        f"<td>{_day(d.accepted_on)}</td><td>{_day(d.concluded_on)}</td><td>{e(d.result)}</td>"
        f"<td>{on_time_label(d.on_time)}</td></tr>"
        for d in page.items
    )
    table = (
        "<table><thead><tr><th>办件编号</th><th>事项</th><th>部门</th><th>受理日期</th><th>办结日期</th>"
        f"<th>办理结果</th><th>是否按时</th></tr></thead><tbody>{rows}</tbody></table>"
        if page.items
        else "<p>暂无公示办件。</p>"
    )

    def link(n: int, text: str) -> str:
        query = urlencode({"page": n, **({"department": department} if department else {})})
        return f'<a href="/disclosures?{e(query)}">{e(text)}</a>'

    nav = []
    if page.page > 1:
        nav.append(link(page.page - 1, "上一页"))
    nav.append(f"第 {page.page} / {page.pages} 页，共 {page.total} 件")
    if page.page < page.pages:
        nav.append(link(page.page + 1, "下一页"))
    body = f"""<form method="get" action="/disclosures"><label for="department">部门</label>
<select id="department" name="department">{options}</select><button type="submit">筛选</button></form>
{table}<p>{"　".join(nav)}</p>"""
    return layout("办件公示", body, county=county)
