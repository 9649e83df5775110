"""Who may see what on an inspector node: the division scope of a request (pure, no I/O).

A city or province node holds the records of its subtree; its division prefix (``federation.identities.
scope_prefix``: ``3711`` for city 371100, ``37`` for the province) caps everything it serves. A request is
narrowed to the division of the logged-in inspector's account (``security.access.Principal.division``; nothing
the request sends): an inspector of 371100 on the province node sees the counties ``3711xx`` only, and asking
for ``371323`` (another city's county), its cases or its alerts is refused with
:class:`~federation.errors.Forbidden`. An inspector of an ancestor division (the province asking a city node)
sees what the node holds — the node's prefix still caps it. An inspector of an unrelated division is refused
outright.
"""

from __future__ import annotations

from dataclasses import dataclass

from federation.errors import Forbidden, ValidationError
from federation.identities import parse_case_number, scope_prefix, validate_division_code

__all__ = ["Scope", "resolve_scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    """The effective scope of one request: the node, the inspector's division and the prefix they share."""

    node: str  # the node's own division code
    division: str  # the inspector's division (the node's when the request names none)
    prefix: str  # the division prefix every record served must start with

    def covers(self, code: str) -> bool:
        """Whether division ``code`` lies inside the scope."""
        return code.startswith(self.prefix)

    def require_division(self, code: str) -> str:
        """``code`` if it is a well-formed division inside the scope; Forbidden (403) otherwise."""
        validate_division_code(code)
        if not self.covers(code):
            raise Forbidden(
                f"无权查看区划 {code} 的数据：监察范围仅限 {self.division} 所辖（区划代码以 {self.prefix} 开头）",
                division=code,
                scope=self.division,
            )
        return code

    def require_case(self, case_no: str) -> str:
        """The county of case ``case_no`` (from its number), which must lie inside the scope."""
        county = parse_case_number(case_no).division
        if not self.covers(county):
            raise Forbidden(
                f"无权查看办件“{case_no}”：它属于区划 {county}，监察范围仅限 {self.division} 所辖",
                case_no=case_no,
                scope=self.division,
            )
        return county

    def require_alert(self, alert_id: str) -> str:
        """The county of alert ``alert_id`` (``{origin}-A{n}``), which must lie inside the scope."""
        origin = alert_id.split("-", 1)[0]
        try:
            validate_division_code(origin)
        except ValidationError:
            raise ValidationError(f"预警编号“{alert_id}”格式错误，应为 区划代码-A流水号", alert_id=alert_id) from None
        if not self.covers(origin):
            raise Forbidden(
                f"无权查看预警“{alert_id}”：它属于区划 {origin}，监察范围仅限 {self.division} 所辖",
                alert_id=alert_id,
                scope=self.division,
            )
        return origin


def resolve_scope(node: str, inspector: str | None) -> Scope:
    """The scope of a request to ``node`` by an inspector of division ``inspector`` (None: the node's own).

    The narrower of the two prefixes wins when one division contains the other; unrelated divisions are
    refused (Forbidden), a malformed code is a ValidationError."""
    node_prefix = scope_prefix(node)
    if inspector is None or not inspector.strip():
        return Scope(node, node, node_prefix)
    inspector = inspector.strip()
    validate_division_code(inspector)
    own_prefix = scope_prefix(inspector)
    if inspector.startswith(node_prefix):  # the node's own division or below it
        return Scope(node, inspector, own_prefix)
    if node.startswith(own_prefix):  # an ancestor's inspector: the node holds only its own subtree
        return Scope(node, inspector, node_prefix)
    raise Forbidden(
        f"区划 {inspector} 的监察人员无权访问本节点（{node}）：本节点只保存区划代码以 {node_prefix} 开头的数据",
        division=inspector,
        node=node,
    )
