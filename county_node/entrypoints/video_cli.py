"""``sunshine camera …`` and ``sunshine video …``: the county video index (视频索引) from the command line.

The commands mirror the video routes of the county HTTP API (:mod:`county_node.entrypoints.video_http`): same
service, same views (``--json`` prints exactly what the API returns), the same Chinese errors — printed by
``federation.cli.main`` as one line with exit status 2. ``video ingest-folder`` and ``video poll`` connect the
export-folder scanner and the NVR poller to the index (:mod:`county_node.video.ingest`). Moments are ISO 8601;
without an offset they are Beijing time.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from county_node.entrypoints.cli_node import node_of as open_node  # the one way a command opens the node
from county_node.entrypoints.cli_people import acting, reading
from county_node.entrypoints.video_http import aware, camera_view, clip_view, event_view, purge_view, timeline_view
from county_node.video.adapters.ingest_folder import scan_export_folder
from county_node.video.adapters.ingest_model import IngestReport
from county_node.video.adapters.ingest_nvr import NvrPoller
from county_node.video.domain.segments import EVENT_KIND_LABELS
from county_node.video.ingest import IndexSink
from federation.cli import config_option
from federation.errors import ValidationError
from federation.text import moment_text
from security.access import Permission

__all__ = ["camera_app", "video_app"]

camera_app = typer.Typer(help="摄像机：登记、移装（绑定窗口）、查看。", no_args_is_help=True)
video_app = typer.Typer(help="视频索引：录像片段、事件、办件/预警/投诉的录像、清理与采集。", no_args_is_help=True)

_Config = Annotated[Path | None, config_option]
_Json = Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口返回相同）")]


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _moment(raw: str, option: str) -> datetime:
    try:
        return aware(datetime.fromisoformat(raw))
    except ValueError:
        raise ValidationError(
            f"{option} 的时间“{raw}”格式错误，应为 ISO 8601，例如 2026-11-26T09:00:00+08:00", option=option
        ) from None


def _short(moment: str | None) -> str:
    """A video moment in China time, to the second (a clip is cut to the second)."""
    return moment_text(moment, seconds=True)


_CLIP_SUBJECT_LABELS = {"alert": "预警", "complaint": "投诉"}


def _clip_subject(subject: str) -> str:
    """A clip's subject as a person reads it: ``alert:ID`` → ``预警 ID``, ``办件号#0003`` → ``办件 办件号 第 3 步``."""
    kind, sep, rest = subject.partition(":")
    if sep and kind in _CLIP_SUBJECT_LABELS:
        return f"{_CLIP_SUBJECT_LABELS[kind]} {rest}"
    case_no, sep, step = subject.rpartition("#")
    if sep and step.isdigit():
        return f"办件 {case_no} 第 {int(step)} 步"
    return subject


def _print_camera(view: dict[str, Any]) -> None:
    typer.echo(f"{view['camera_id']}  {view['name']}  {view['hall']}  当前窗口：{view['window'] or '—'}")
    for b in view["bindings"]:
        typer.echo(
            f"  窗口 {b['window']}：{_short(b['valid_from'])} 至 {_short(b['valid_to']) if b['valid_to'] else '今'}"
        )


def _print_timeline(view: dict[str, Any]) -> None:
    typer.echo(
        f"摄像机 {view['camera_id'] or '—'}  {_short(view['from'])} 至 {_short(view['to'])}："
        f"{len(view['segments'])} 个片段，{len(view['gaps'])} 处缺失"
    )
    for s in view["segments"]:
        typer.echo(f"  {_short(s['start'])} – {_short(s['end'])}  {s['size']} 字节  {s['uri']}")
    for g in view["gaps"]:
        typer.echo(f"  缺失录像：{_short(g['from'])} – {_short(g['to'])}")


# -- cameras -------------------------------------------------------------------------------------------------------
@camera_app.command("register")
def camera_register(
    *,
    camera_id: Annotated[str, typer.Argument(help="GB/T 28181 的 20 位编号，前 8 位为本县中心编码")],
    name: Annotated[str, typer.Option("--name", help="摄像机名称")],
    hall: Annotated[str, typer.Option("--hall", help="所在大厅")],
    window: Annotated[str | None, typer.Option("--window", help="绑定的窗口编号")] = None,
    since: Annotated[str | None, typer.Option("--since", help="绑定开始时间（默认当前）")] = None,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """登记（或更名）一台摄像机，可同时绑定到窗口。"""
    start = _moment(since, "--since") if since else None
    with open_node(config) as node, acting(node, Permission.VIDEO_MANAGE, "登记摄像机", camera_id):
        row = node.video.register_camera(camera_id, name=name, hall=hall, window=window, since=start)
        view = camera_view(*node.video.camera(row["camera_id"]))
    if as_json:
        _echo_json(view)
    else:
        typer.echo(f"已登记摄像机 {view['camera_id']}")
        _print_camera(view)


@camera_app.command("move")
def camera_move(
    *,
    camera_id: Annotated[str, typer.Argument(help="摄像机编号")],
    window: Annotated[str, typer.Option("--window", help="新窗口编号")],
    start: Annotated[str | None, typer.Option("--from", help="自何时起（默认当前）")] = None,
    end: Annotated[str | None, typer.Option("--to", help="至何时止（默认长期）")] = None,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """把摄像机绑定（移装）到一个窗口；原有的未结束绑定随之结束。"""
    with open_node(config) as node, acting(node, Permission.VIDEO_MANAGE, "摄像机绑定窗口", camera_id):
        valid_from = _moment(start, "--from") if start else node.clock()
        node.video.bind(camera_id, window, valid_from, _moment(end, "--to") if end else None)
        view = camera_view(*node.video.camera(camera_id))
    if as_json:
        _echo_json(view)
    else:
        typer.echo(f"摄像机 {camera_id} 已绑定到窗口 {window}")
        _print_camera(view)


@camera_app.command("list")
def camera_list(*, as_json: _Json = False, config: _Config = None) -> None:
    """本县登记的全部摄像机。"""
    with open_node(config) as node:
        reading(node, Permission.VIDEO_READ)
        views = [camera_view(row, bindings) for row, bindings in node.video.cameras()]
    if as_json:
        _echo_json(views)
        return
    typer.echo(f"共 {len(views)} 台摄像机")
    for v in views:
        typer.echo(f"  {v['camera_id']}  {v['name']}  {v['hall']}  当前窗口：{v['window'] or '—'}")


@camera_app.command("show")
def camera_show(
    *,
    camera_id: Annotated[str, typer.Argument(help="摄像机编号")],
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """一台摄像机及其窗口绑定历史。"""
    with open_node(config) as node:
        reading(node, Permission.VIDEO_READ)
        view = camera_view(*node.video.camera(camera_id))
    if as_json:
        _echo_json(view)
    else:
        _print_camera(view)


# -- video ---------------------------------------------------------------------------------------------------------
_From = Annotated[str, typer.Option("--from", help="开始时间（ISO 8601，缺省时区为北京时间）")]
_To = Annotated[str, typer.Option("--to", help="结束时间")]


@video_app.command("segments")
def video_segments(
    *,
    camera: Annotated[str, typer.Option("--camera", help="摄像机编号")],
    start: _From,
    end: _To,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """摄像机在 [from, to) 内的录像片段（按时间顺序）与缺失时段。"""
    t1, t2 = _moment(start, "--from"), _moment(end, "--to")
    with open_node(config) as node:
        reading(node, Permission.VIDEO_READ)
        view = timeline_view(node.video.segments(camera, t1, t2))
    if as_json:
        _echo_json(view)
    else:
        _print_timeline(view)


@video_app.command("events")
def video_events(
    *,
    start: _From,
    end: _To,
    kind: Annotated[
        str | None, typer.Option("--type", help="alarm、motion、window_unattended、complaint_linked")
    ] = None,
    camera: Annotated[str | None, typer.Option("--camera", help="摄像机编号")] = None,
    window: Annotated[str | None, typer.Option("--window", help="窗口编号")] = None,
    limit: Annotated[int, typer.Option("--limit", help="最多条数")] = 1000,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """按类型、摄像机、窗口和时间查询视频事件。"""
    t1, t2 = _moment(start, "--from"), _moment(end, "--to")
    with open_node(config) as node:
        reading(node, Permission.VIDEO_READ)
        found = node.video.events(t1, t2, kind=kind, camera_id=camera, window=window, limit=limit)
    views = [event_view(e) for e in found]
    if as_json:
        _echo_json(views)
        return
    typer.echo(f"共 {len(views)} 条事件")
    for v in views:
        kind = EVENT_KIND_LABELS.get(v["kind"], v["kind"])
        typer.echo(f"  {_short(v['at'])}  {kind}  摄像机 {v['camera_id']}  窗口 {v['window'] or '—'}")


@video_app.command("clip")
def video_clip(
    *,
    case_no: Annotated[str | None, typer.Option("--case", help="办件编号（与 --step 同用）")] = None,
    step: Annotated[int | None, typer.Option("--step", help="办理过程中的第几步")] = None,
    alert: Annotated[str | None, typer.Option("--alert", help="预警编号")] = None,
    complaint: Annotated[str | None, typer.Option("--complaint", help="投诉编号")] = None,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """办件某一步、一条预警或一件投诉的录像：当时窗口所绑定摄像机的片段（含前后余量）。"""
    case_given = case_no is not None or step is not None
    if sum((case_given, alert is not None, complaint is not None)) != 1:
        raise ValidationError("请只指定一项：--case 与 --step、--alert 或 --complaint")
    with open_node(config) as node:
        reading(node, Permission.VIDEO_READ)
        if alert is not None:
            clip = node.video.clip_for_alert(alert)
        elif complaint is not None:
            clip = node.video.clip_for_complaint(complaint)
        elif case_no is not None and step is not None:
            clip = node.video.clip_for_case_step(case_no, step)
        else:
            raise ValidationError("办件的录像须同时指定 --case 与 --step")
    view = clip_view(clip)
    if as_json:
        _echo_json(view)
        return
    typer.echo(f"{_clip_subject(view['subject'])}  窗口 {view['window'] or '—'}  时刻 {_short(view['at'])}")
    if view["note"]:
        typer.echo(f"  {view['note']}")
    _print_timeline(view)


@video_app.command("purge")
def video_purge(*, as_json: _Json = False, config: _Config = None) -> None:
    """按保留期清理录像：跳过被预警、投诉保全的片段；索引不可信时拒绝清理（需节点管理员登录）。"""
    with open_node(config) as node, acting(node, Permission.VIDEO_PURGE, "清理录像", node.config.node.division):
        view = purge_view(node.video.purge())
    if as_json:
        _echo_json(view)
        return
    if view["status"] == "refused":
        typer.echo(f"拒绝清理（第 {view['purge_id']} 次清理记录）：{view['reason']}")
        raise typer.Exit(3)
    typer.echo(
        f"清理完成（记录 {view['purge_id']}）：截止 {_short(view['cutoff'])}，过期 {view['expired']} 条，"
        f"保全 {view['held']} 条，删除 {view['removed']} 条"
    )
    if view["reason"]:
        typer.echo(f"  {view['reason']}")
    if view["files"]:
        typer.echo("  文件：" + "，".join(f"{k} {n}" for k, n in view["files"].items()))


def _report_ingest(report: IngestReport, sink: IndexSink, as_json: bool) -> None:
    if as_json:
        _echo_json(
            {
                "found": report.found,
                "accepted": report.accepted,
                "received": report.received,
                "expected": report.expected,
                "complete": report.complete,
                "problems": list(report.problems),
                "skipped": [{"source": s.source, "reason": s.reason} for s in report.skipped],
                "indexed": sink.indexed,
                "duplicates": sink.duplicates,
                "refused": [r.to_dict() for r in sink.refused],
            }
        )
        return
    typer.echo(report.summary() + sink.summary())
    for s in report.skipped[:20]:
        typer.echo(f"  跳过 {s.source}：{s.reason}")
    for r in sink.refused[:20]:
        typer.echo(f"  拒绝 {r.segment.camera_id} {moment_text(r.segment.start, seconds=True)}：{r.reason}")
    hidden = max(0, len(report.skipped) - 20) + max(0, len(sink.refused) - 20)
    if hidden:
        typer.echo(f"  （另有 {hidden} 条未列出，请用 --json 查看全部）")


@video_app.command("ingest-folder")
def video_ingest_folder(
    *,
    root: Annotated[Path, typer.Argument(help="录像机导出目录")],
    checksum: Annotated[bool, typer.Option("--checksum/--no-checksum", help="计算文件 sha256 校验值")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="每批入库条数")] = 5000,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """扫描录像机导出目录（文件名为 摄像机编号_开始_结束.扩展名），把录像片段编入索引。"""
    with open_node(config) as node, acting(node, Permission.VIDEO_MANAGE, "导入录像目录", str(root)[:200]):
        sink = IndexSink(node.video)
        result = scan_export_folder(root, checksum=checksum, sink=sink, batch_size=batch_size)
    _report_ingest(result.report, sink, as_json)


@video_app.command("poll")
def video_poll(
    *,
    url: Annotated[str, typer.Argument(help="录像机地址，例如 http://10.0.0.8:8080")],
    camera: Annotated[str, typer.Option("--camera", help="摄像机编号")],
    start: _From,
    end: _To,
    timeout: Annotated[float, typer.Option("--timeout", help="每次请求的超时秒数")] = 5.0,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """向录像机的录像列表接口查询一段时间的录像，编入索引；应答不全时报告“已接收 N / M 条”。"""
    t1, t2 = _moment(start, "--from"), _moment(end, "--to")
    with (
        open_node(config) as node,
        acting(node, Permission.VIDEO_MANAGE, "查询录像机录像", camera),
        NvrPoller(url, timeout=timeout) as poller,
    ):
        sink = IndexSink(node.video)
        result = poller.poll(camera, t1, t2, sink=sink)
    _report_ingest(result.report, sink, as_json)
