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

from federation.identities import DivisionLevel, level_of

__all__ = ["DEMO_TOPOLOGY", "LaunchError", "NodeSpec", "cli", "read_port"]


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
