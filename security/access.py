"""Who may do what, where (issue 15): roles, the permissions each role holds, and the authenticated
:class:`Principal` with its division scope.

A person's account is bound to one division and holds one or more roles. A role at a division acts only within
that division's subtree: a county's clerk on the county's cases, a city inspector on the replicas of the city's
counties (``370100`` covers ``3701xx``), a province inspector on the whole province. Pure: no storage, no HTTP.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from federation.audit import Actor
from federation.errors import Forbidden, ValidationError
from federation.identities import DivisionLevel, level_of, scope_prefix

__all__ = [
    "AUDIT_ACTION_LABELS",
    "ROLE_LABELS",
    "ROLE_LEVELS",
    "ROLE_PERMISSIONS",
    "Permission",
    "Principal",
    "Role",
    "covers",
    "parse_roles",
    "role_label",
]


class Role(enum.StrEnum):
    CLERK = "clerk"  # 窗口人员
    APPROVER = "approver"  # 审批负责人
    SUPERVISOR = "supervisor"  # 监察员 (county)
    INSPECTOR = "inspector"  # 督查员 (city / province)
    EXCHANGE_ADMIN = "exchange_admin"  # 交换管理员
    NODE_ADMIN = "node_admin"  # 节点管理员


ROLE_LABELS: Mapping[Role, str] = {
    Role.CLERK: "窗口人员",
    Role.APPROVER: "审批负责人",
    Role.SUPERVISOR: "监察员",
    Role.INSPECTOR: "督查员",
    Role.EXCHANGE_ADMIN: "交换管理员",
    Role.NODE_ADMIN: "节点管理员",
}

AUDIT_ACTION_LABELS: Mapping[str, str] = {
    "login": "登录",
    "user.add": "开设账号",
    "user.disable": "停用账号",
    "user.enable": "启用账号",
    "user.passwd": "重设密码",
    "user.roles": "调整角色",
    "boundary.refuse": "边界拒绝",
}
"""How a person reads the audit actions written with an English name (the others are written in Chinese)."""


def role_label(role: str) -> str:
    """A role's Chinese name from its wire value (``clerk`` → ``窗口人员``); an unknown value as it is."""
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        return role


_COUNTY = frozenset({DivisionLevel.COUNTY})
_UPPER = frozenset({DivisionLevel.CITY, DivisionLevel.PROVINCE})
_ANY = _COUNTY | _UPPER

# the levels of division a role may be held at
ROLE_LEVELS: Mapping[Role, frozenset[DivisionLevel]] = {
    Role.CLERK: _COUNTY,
    Role.APPROVER: _COUNTY,
    Role.SUPERVISOR: _COUNTY,
    Role.INSPECTOR: _UPPER,
    Role.EXCHANGE_ADMIN: _ANY,
    Role.NODE_ADMIN: _ANY,
}


class Permission(enum.StrEnum):
    CASE_READ = "case.read"  # cases, catalogue, summary at the county
    CASE_INTAKE = "case.intake"  # 申请, 受理, 不予受理, 补正, 退回, 信息采集 …
    CASE_DECIDE = "case.decide"  # 审核, 决定, 办结, 暂停/恢复, 特别程序, 延期 …
    ALERT_READ = "alert.read"
    ALERT_HANDLE = "alert.handle"  # acknowledge, escalate, close a 预警; run a sweep
    FEEDBACK_READ = "feedback.read"  # complaints, ratings
    FEEDBACK_RECORD = "feedback.record"  # register a complaint, a rating
    FEEDBACK_HANDLE = "feedback.handle"  # handle a complaint, follow up a rating
    ORDER_READ = "order.read"
    ORDER_ANSWER = "order.answer"  # a county's 签收 and 办复 of a 督办
    ORDER_ISSUE = "order.issue"  # a city's or the province's 督办: issue, withdraw, close
    VIDEO_READ = "video.read"
    VIDEO_MANAGE = "video.manage"  # cameras, bindings, segments, events
    VIDEO_PURGE = "video.purge"  # retention purge: deletes recordings
    SCORE_READ = "score.read"
    INSPECT = "inspect"  # an upper tier's summaries, alerts, rankings and trends of its subtree
    PERSONAL_READ = "personal.read"  # an upper tier's case and alert details (names, key data) — audited
    USER_MANAGE = "user.manage"
    AUDIT_READ = "audit.read"
    LINK_ADMIN = "link.admin"  # enrolment, certificates, revocation, quarantine


P = Permission
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset(
        {P.CASE_READ, P.CASE_INTAKE, P.ALERT_READ, P.FEEDBACK_READ, P.FEEDBACK_RECORD, P.VIDEO_READ, P.ORDER_READ}
    ),
    Role.APPROVER: frozenset(
        {
            P.CASE_READ,
            P.CASE_INTAKE,
            P.CASE_DECIDE,
            P.ALERT_READ,
            P.FEEDBACK_READ,
            P.ORDER_READ,
            P.VIDEO_READ,
            P.SCORE_READ,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            P.CASE_READ,
            P.ALERT_READ,
            P.ALERT_HANDLE,
            P.FEEDBACK_READ,
            P.FEEDBACK_RECORD,
            P.FEEDBACK_HANDLE,
            P.ORDER_READ,
            P.ORDER_ANSWER,
            P.VIDEO_READ,
            P.SCORE_READ,
        }
    ),
    Role.INSPECTOR: frozenset({P.INSPECT, P.PERSONAL_READ, P.ORDER_READ, P.ORDER_ISSUE, P.SCORE_READ}),
    Role.EXCHANGE_ADMIN: frozenset({P.LINK_ADMIN, P.AUDIT_READ}),
    Role.NODE_ADMIN: frozenset(
        {P.USER_MANAGE, P.AUDIT_READ, P.VIDEO_READ, P.VIDEO_MANAGE, P.VIDEO_PURGE, P.CASE_READ, P.SCORE_READ}
    ),
}


def parse_roles(text: str | Iterable[str], division: str) -> tuple[Role, ...]:
    """Roles from ``clerk,approver`` (or a list); each must exist and be held at ``division``'s level."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise ValidationError("至少需要一个岗位")
    level = level_of(division)
    roles: list[Role] = []
    for name in names:
        try:
            role = Role(name)
        except ValueError:
            known = "、".join(f"{r.value}（{ROLE_LABELS[r]}）" for r in Role)
            raise ValidationError(f"未知的岗位“{name[:40]}”，可用：{known}", role=name[:40]) from None
        if level not in ROLE_LEVELS[role]:
            raise ValidationError(f"岗位“{ROLE_LABELS[role]}”不能设在区划 {division}", role=role.value)
        if role not in roles:
            roles.append(role)
    return tuple(roles)


def covers(division: str, code: str) -> bool:
    """Whether ``code`` (a division, or a record id starting with one) is in ``division``'s subtree."""
    return code[:6].isdigit() and code.startswith(scope_prefix(division))


@functools.cache
def _permissions_of(roles: tuple[Role, ...]) -> frozenset[Permission]:
    return frozenset().union(*(ROLE_PERMISSIONS[r] for r in roles))


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated person: account, name, division and roles, and where the request came from."""

    user_id: str
    name: str
    division: str
    roles: tuple[Role, ...]
    source: str = ""

    @property
    def permissions(self) -> frozenset[Permission]:
        return _permissions_of(self.roles)

    @property
    def role_label(self) -> str:
        return "、".join(ROLE_LABELS[r] for r in self.roles)

    def acting(self, *permissions: Permission) -> str:
        """The label of the role under which a use case needing ``permissions`` is done (the first role that
        holds them all; every role's label when none alone does)."""
        for role in self.roles:
            if set(permissions) <= ROLE_PERMISSIONS[role]:
                return ROLE_LABELS[role]
        return self.role_label

    def actor(self, *permissions: Permission) -> Actor:
        return Actor(self.user_id, self.name, self.acting(*permissions), self.division, self.source)

    @property
    def label(self) -> str:
        return f"{self.name}（{self.role_label}，{self.user_id}）"

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if not self.has(permission):
            raise Forbidden(f"当前账号（{self.role_label}）无权执行此操作", permission=permission.value)

    def covers(self, code: str) -> bool:
        return covers(self.division, code)

    def check(self, code: str) -> None:
        """Refuse a record (by its id, which starts with its division code) outside this person's subtree."""
        if not self.covers(code):
            raise Forbidden(f"无权访问本账号辖区（{self.division}）以外的数据", division=code[:6])

    @property
    def prefix(self) -> str:
        return scope_prefix(self.division)
