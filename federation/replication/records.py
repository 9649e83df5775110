"""The unit of replication: one outbox record of an origin, as it crosses the wire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["OP_LABELS", "RECORD_TYPE_LABELS", "Record", "record_type_label"]

RECORD_TYPE_LABELS: Mapping[str, str] = {
    "alert": "预警",
    "attestation": "核对声明",
    "attestation_check": "核对结果",
    "audit": "审计日志",
    "camera": "摄像机",
    "case": "办件",
    "case_event": "办件事件",
    "complaint": "投诉",
    "disclosure": "办件公示",
    "order": "督办指令",
    "order_reply": "指令办复",
    "public_case": "外网办件状态",
    "public_catalogue": "外网事项目录",
    "public_complaint": "网上投诉",
    "public_rating": "网上评价",
    "public_submission": "网上申报",
    "rating": "评价",
    "revocation_list": "证书吊销列表",
    "score": "考核评分",
    "standards": "标准包",
    "standards_status": "标准版本报告",
    "submission_result": "网上申报处理结果",
    "video_event": "视频事件",
    "video_segment": "录像片段",
}
"""How a person reads a record type (the wire name stays beside it where an operator may need to type it)."""

OP_LABELS: Mapping[str, str] = {"insert": "新增", "upsert": "写入", "delete": "删除", "auth": "认证"}
"""How a person reads a record's operation."""


def record_type_label(record_type: str) -> str:
    """``case_event`` → ``办件事件（case_event）``: the Chinese name with the wire name an operator may type (an unknown
    type: its wire name alone)."""
    label = RECORD_TYPE_LABELS.get(record_type)
    return record_type if label is None else f"{label}（{record_type}）"


@dataclass(frozen=True, slots=True)
class Record:
    """One outbox row of an origin, exactly as it crosses the wire (payload: canonical JSON bytes)."""

    record_type: str
    record_id: str
    op: str
    origin_seq: int
    payload: bytes
    created_at_us: int
