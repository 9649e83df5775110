"""Request bodies of the county API (one documented model per case action) and their Chinese validation messages.

The models document each action's parameters in OpenAPI and coerce text (from the CLI's ``--param k=v``) to
the right types, but the domain (``county_node.approval.domain``) stays the validator of record: fields it may
refuse are passed through, and unknown extra parameters reach it so that it names them in its own message.
Pydantic's errors are turned into one :class:`federation.errors.ValidationError` with a Chinese message by
:func:`federation.http_errors.validation_error`, for the HTTP API and the CLI alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from county_node.approval.domain import ACTION_LABELS, Action

__all__ = [
    "ACTION_BODIES",
    "ACTION_DESCRIPTIONS",
    "ActionBody",
    "CreateCaseBody",
]

_Data = Field(
    default=None,
    description="关键数据（字段名 → 值），与已有数据合并",
    examples=[{"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"}],
)


class CreateCaseBody(BaseModel):
    """申请：登记一件新办件。"""

    model_config = ConfigDict(extra="forbid")

    item_code: str = Field(description="事项编码（事项目录中的 code）", examples=["XK00001000"])
    applicant: str = Field(description="申请人（个人姓名或单位名称）", examples=["张三"])
    data: dict[str, str] = Field(
        default_factory=dict,
        description="申请时提交的关键数据（字段名 → 值）",
        examples=[{"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"}],
    )
    window: str | None = Field(
        default=None, description="受理窗口编号（按窗口考核评分用；可省略）", examples=["W01"], max_length=16
    )
    phone: str | None = Field(
        default=None,
        description="申请人手机号码：受理、补正、办结时短信告知（仅配置外网节点的县；不上报、日志中脱敏）",
        examples=["13812345678"],
        max_length=20,
    )
    sms_opt_out: bool = Field(default=False, description="申请人不接收短信")


class ActionBody(BaseModel):
    """Common part of every action body (who acts is the logged-in person, never a field). Extra fields are
    passed on for the domain to judge."""

    model_config = ConfigDict(extra="allow")

    def params(self) -> dict[str, Any]:
        """The action's parameters as given (unset fields left out), for ``ApprovalService.act``."""
        return self.model_dump(exclude_unset=True)


class AcceptBody(ActionBody):
    """受理：办件开始计时（受理当日不计入时限）。"""

    note: str | None = Field(default=None, description="备注")


class RefuseAcceptanceBody(ActionBody):
    """不予受理：办件终结，须说明理由。"""

    reason: str = Field(description="不予受理的理由")


class ReviewBody(ActionBody):
    """审核：进入审核环节，可录入审核意见与关键数据。"""

    opinion: str | None = Field(default=None, description="审核意见")
    data: dict[str, str] | None = _Data


class DecideBody(ActionBody):
    """审批决定：准予许可（approve）或不予许可（deny，须说明理由）；作出决定前须录齐关键数据，联办部门须全部办结。"""

    outcome: Literal["approve", "deny"] = Field(description="approve 准予许可；deny 不予许可")
    reason: str | None = Field(default=None, description="不予许可的理由（deny 时必填）")
    fee_charged: Decimal | None = Field(default=None, description="实收费用（元）", examples=["80.00"])


class ConcludeBody(ActionBody):
    """办结：办件终结，时钟停止。未给实收费用时，准予许可按收费标准计、否则为 0。"""

    fee_charged: Decimal | None = Field(default=None, description="实收费用（元）", examples=["80.00"])
    note: str | None = Field(default=None, description="备注")


class RequestCorrectionBody(ActionBody):
    """补正告知：时钟暂停，直到补正接收。"""

    reason: str = Field(description="需补正的材料")


class ReceiveCorrectionBody(ActionBody):
    """补正接收：时钟恢复，回到补正前的环节。"""

    note: str | None = Field(default=None, description="备注")
    data: dict[str, str] | None = _Data


class SuspendBody(ActionBody):
    """暂停：时钟暂停，直到恢复。"""

    reason: str = Field(description="暂停原因")


class ResumeBody(ActionBody):
    """恢复：时钟恢复，回到暂停前的环节。"""

    note: str | None = Field(default=None, description="备注")


class StartSpecialProcedureBody(ActionBody):
    """特别程序开始（听证、检验检测、专家评审等）：时钟暂停。"""

    reason: str = Field(description="特别程序事由")
    procedure: str | None = Field(default=None, description="特别程序类型", examples=["听证"])


class EndSpecialProcedureBody(ActionBody):
    """特别程序结束：时钟恢复。"""

    note: str | None = Field(default=None, description="备注")


class ExtendBody(ActionBody):
    """延期：每件只能延期一次，须说明理由与批准人；天数上限由节点配置决定（默认普通件 10、联办件 15 个工作日）。"""

    days: int = Field(description="延长的工作日数", examples=[5])
    reason: str = Field(description="延期理由")
    approver: str = Field(description="批准人")


class ReturnBody(ActionBody):
    """退回：退回申请人，时钟作废；重新申请后重新受理、重新计时。"""

    reason: str = Field(description="退回理由")


class ResubmitBody(ActionBody):
    """重新申请：退回的办件重新提交，回到已申请状态。"""

    data: dict[str, str] | None = _Data
    note: str | None = Field(default=None, description="备注")


class CompleteTaskBody(ActionBody):
    """联办部门办结：联办件（并联审批）中一个部门完成其子任务。"""

    department: str = Field(description="联办部门", examples=["自然资源局"])
    outcome: Literal["agree", "disagree"] = Field(default="agree", description="agree 同意；disagree 不同意")
    opinion: str | None = Field(default=None, description="联办意见说明")


class RecordDataBody(ActionBody):
    """补录关键数据：不改变办件状态。"""

    data: dict[str, str] = Field(
        description="要补录的关键数据（字段名 → 值）",
        examples=[{"统一社会信用代码": "91371122MA3C000000"}],
    )


ACTION_BODIES: Mapping[Action, type[ActionBody]] = {
    Action.ACCEPT: AcceptBody,
    Action.REFUSE_ACCEPTANCE: RefuseAcceptanceBody,
    Action.REVIEW: ReviewBody,
    Action.DECIDE: DecideBody,
    Action.CONCLUDE: ConcludeBody,
    Action.REQUEST_CORRECTION: RequestCorrectionBody,
    Action.RECEIVE_CORRECTION: ReceiveCorrectionBody,
    Action.SUSPEND: SuspendBody,
    Action.RESUME: ResumeBody,
    Action.START_SPECIAL_PROCEDURE: StartSpecialProcedureBody,
    Action.END_SPECIAL_PROCEDURE: EndSpecialProcedureBody,
    Action.EXTEND: ExtendBody,
    Action.RETURN: ReturnBody,
    Action.RESUBMIT: ResubmitBody,
    Action.COMPLETE_TASK: CompleteTaskBody,
    Action.RECORD_DATA: RecordDataBody,
}
"""The body model of every action but ``submit`` (which is ``POST /api/v1/cases``)."""

ACTION_DESCRIPTIONS: Mapping[Action, str] = {
    action: f"{ACTION_LABELS[action]}（{action.value}）" for action in ACTION_BODIES
}
