"""Draining agents before the tiers above them stop: wait until every record of each agent's link up has been
acknowledged by its peer, as ``sunshine admin drain --link up`` does, from the agents' status ports."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sync_agent.errors import LinkError
from sync_agent.link_status import Unacked, backlog_left, fetch_links

__all__ = ["UP", "wait_drained"]

UP = "up"  # the link towards the parent (sync_agent.runtime names it so)
_POLL_S = 0.3


def wait_drained(status_urls: Mapping[str, Callable[[], str]], timeout: float) -> dict[str, list[Unacked] | str]:
    """Until each agent's link up (``status_urls``: the agent's name → its status address, read when asked, so an
    agent restarted meanwhile is found) has nothing unacknowledged, or ``timeout``; what is left, per agent: its
    backlog, or why it could not be read. An agent without a link up has nothing to drain."""
    deadline = time.monotonic() + timeout
    waiting = dict(status_urls)
    left: dict[str, list[Unacked] | str] = {}
    while waiting:
        for name, url in list(waiting.items()):
            try:
                body = fetch_links(url())
                links = [link["link"] for link in body.get("links", [])]
                backlog = backlog_left(body, [UP]) if UP in links else []
            except (LinkError, OSError, ValueError) as exc:  # not running, or restarting: asked again
                left[name] = str(exc)
                continue
            if backlog:
                left[name] = backlog
            else:
                left.pop(name, None)
                del waiting[name]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
    return {name: left[name] for name in waiting if name in left}
