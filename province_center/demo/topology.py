"""The nodes of a demo federation, and what the launcher and its readings of the nodes share.

:class:`NodeSpec` and :data:`DEMO_TOPOLOGY` say which nodes there are; :class:`LaunchError` is what goes wrong;
:func:`cli` is the command line of a ``sunshine …`` process and :func:`read_port` reads the port file a process
writes once it listens. :mod:`province_center.demo.launcher` (which re-exports the public names here) starts and
stops the processes; :mod:`province_center.demo.readings` reads what they hold.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from county_node.entrypoints.workload_staff import HALL_PEOPLE
from federation.identities import DivisionLevel, level_of

__all__ = [
    "CITY_INSPECTORS",
    "DEMO_TOPOLOGY",
    "PROVINCE_INSPECTOR",
    "DemoPerson",
    "LaunchError",
    "NodeSpec",
    "cli",
    "people_of",
    "read_port",
]


class LaunchError(RuntimeError):
    """A process of the federation failed to start or stopped unexpectedly (the message is for the operator)."""


@dataclass(frozen=True)
class NodeSpec:
    division: str
    name: str
    parent: str | None = None

    @property
    def level(self) -> DivisionLevel:
        return level_of(self.division)


#: The demo federation: the province, two cities, two counties under each.
DEMO_TOPOLOGY: tuple[NodeSpec, ...] = (
    NodeSpec("370000", "山东省"),
    NodeSpec("371100", "日照市", "370000"),
    NodeSpec("371300", "临沂市", "370000"),
    NodeSpec("371122", "莒县", "371100"),
    NodeSpec("371121", "五莲县", "371100"),
    NodeSpec("371323", "沂水县", "371300"),
    NodeSpec("371324", "兰陵县", "371300"),
)


@dataclass(frozen=True)
class DemoPerson:
    """A person of the demo at one node: account, name, role, and the division the account is bound to."""

    user_id: str
    name: str
    role: str  # a security.access.Role value
    division: str


#: Each city's inspector (督查员): at the city's node, and at the province bound to the city (sees only it).
CITY_INSPECTORS: dict[str, tuple[str, str]] = {"371100": ("rz-jiancha", "刘明"), "371300": ("ly-jiancha", "陈红")}
#: The province's inspector (督查员), who sees the whole province.
PROVINCE_INSPECTOR = ("sd-jiancha", "赵立")
#: Each node's exchange admin (交换管理员): links, quarantine, standards, certificates — the same account id at
#: every node (accounts are per node).
EXCHANGE_ADMIN = ("jiaohuan", "周敏")


def city_inspector(division: str) -> tuple[str, str]:
    return CITY_INSPECTORS.get(division, (f"jiancha-{division}", f"{division}督查员"))


def people_of(spec: NodeSpec, specs: tuple[NodeSpec, ...] | list[NodeSpec]) -> list[DemoPerson]:
    """The demo's people at ``spec``'s node: a county's hall staff, a city's inspector, the province's inspector
    and every city's inspector (bound to the city); every node's exchange admin."""
    admin = DemoPerson(*EXCHANGE_ADMIN, "exchange_admin", spec.division)
    if spec.level is DivisionLevel.COUNTY:
        return [*(DemoPerson(p.user_id, p.name, p.role, spec.division) for p in HALL_PEOPLE), admin]
    if spec.level is DivisionLevel.CITY:
        return [DemoPerson(*city_inspector(spec.division), "inspector", spec.division), admin]
    cities = [s for s in specs if s.level is DivisionLevel.CITY]
    return [
        DemoPerson(*PROVINCE_INSPECTOR, "inspector", spec.division),
        *(DemoPerson(*city_inspector(c.division), "inspector", c.division) for c in cities),
        admin,
    ]


def cli(*args: str) -> list[str]:
    """The command line of ``sunshine ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "federation.cli", *args]


def read_port(path: Path) -> int | None:
    """The port a process wrote to ``path`` once it listens; None while there is none."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None
