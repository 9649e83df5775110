"""The hall's people for the demo workload (issue 15): who logs in to do what at a county node.

Every call of the workload is made by a named person logged in with the role it needs: applications and the
window's intake steps by a clerk (窗口人员), reviews and decisions by the approver (审批负责人), complaints and
ratings by the supervisor (监察员), cameras and recordings by the node admin (节点管理员). The demo
(:mod:`province_center.demo`) opens these accounts at every county, all with the demo's one password.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from county_node.approval.domain import Action
from county_node.entrypoints.permissions import INTAKE_ACTIONS
from federation.http_client import logged_in_client

__all__ = ["HALL_PEOPLE", "HallStaff", "Person"]


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    name: str
    role: str  # a security.access.Role value


#: The people of every county's hall in the demo.
HALL_PEOPLE: tuple[Person, ...] = (
    Person("w01", "孙丽", "clerk"),
    Person("w02", "胡静", "clerk"),
    Person("shenpi", "李建国", "approver"),
    Person("jiancha", "王海燕", "supervisor"),
    Person("xinxi", "张伟民", "node_admin"),
)


class HallStaff:
    """One logged-in client per person of ``people`` at the node at ``base_url``; the right one per call."""

    def __init__(self, base_url: str, password: str, *, people: Iterable[Person] = HALL_PEOPLE, seed: int = 7) -> None:
        self._rng = random.Random(f"{seed}:clerks")  # which clerk takes a step (not the plan's generator)
        self.clients: dict[str, httpx.Client] = {}
        self._by_role: dict[str, list[str]] = {}
        try:
            for p in people:
                self.clients[p.user_id] = logged_in_client(base_url, p.user_id, password)
                self._by_role.setdefault(p.role, []).append(p.user_id)
        except BaseException:
            self.close()
            raise
        for role in ("clerk", "approver", "supervisor", "node_admin"):
            if role not in self._by_role:
                raise ValueError(f"大厅业务模拟缺少岗位 {role} 的人员")

    def _one(self, role: str) -> httpx.Client:
        return self.clients[self._by_role[role][0]]

    def clerk(self, n: int | None = None) -> httpx.Client:
        """A clerk: the ``n``-th (wrapping), else one at random."""
        ids = self._by_role["clerk"]
        return self.clients[ids[n % len(ids)] if n is not None else self._rng.choice(ids)]

    @property
    def approver(self) -> httpx.Client:
        return self._one("approver")

    @property
    def supervisor(self) -> httpx.Client:
        return self._one("supervisor")

    @property
    def admin(self) -> httpx.Client:
        return self._one("node_admin")

    def for_action(self, action: str) -> httpx.Client:
        """A case action's person: the window's intake steps a clerk, the rest (审核, 决定 …) the approver."""
        return self.clerk() if Action(action) in INTAKE_ACTIONS else self.approver

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
