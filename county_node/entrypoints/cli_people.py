"""The person at the county's command line (issue 15): every ``sunshine case|alert|complaint|rating|order|
camera|video`` command runs as the account logged in by ``sunshine user login`` — a write in an audit scope
(:func:`acting`, the actor it records is that person's label), a read after checking the read permission
(:func:`reading`). No command takes a free-text actor any more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from county_node.bootstrap import CountyNode
from security.access import Permission, Principal
from security.people import acting_as, cli_principal, cli_session

__all__ = ["acting", "reading"]


@contextmanager
def acting(node: CountyNode, permission: Permission, action: str, target: str) -> Iterator[str]:
    """Do a write needing ``permission`` as the logged-in person (Unauthenticated without a login, Forbidden
    without the permission — audited either way); yields the actor label to record."""
    who, token = cli_session(node.config, node.accounts)
    with acting_as(node.accounts, who, permission, action=action, target=target, token=token) as actor:
        yield actor


def reading(node: CountyNode, permission: Permission) -> Principal:
    """The logged-in person, who must hold ``permission`` to read."""
    who = cli_principal(node.config, node.accounts)
    who.require(permission)
    return who
