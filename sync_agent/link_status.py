"""Every link's status as an exchange admin reads it — ``sunshine admin links`` and the 链路 page (issue 17).

The sync agent is a process of its own: while it runs, its status port (``/links``, :mod:`sync_agent.metrics`)
answers with the live counters (connected, sessions, rate, the current error). When it does not run, the figures
that matter most are still true, because they are measured in the node's database and not in the agent
(:mod:`sync_agent.link_views`): :func:`links_now` then builds the agent the configuration describes, without
starting it, and asks it for the same views — every link, every origin it carries, the peer's last recorded
acknowledgement and the backlog against the origin's outbox. Nothing is connected, nothing is rated, and the
answer says the agent is not running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from federation.config import Config, split_address
from federation.errors import ConfigError, ValidationError
from sync_agent.errors import LinkError

__all__ = ["METRICS_PORT_FILE", "LinksNow", "Unacked", "backlog_left", "fetch_links", "links_now", "status_url"]

METRICS_PORT_FILE = "metrics.port"  # in the node's data directory: the agent's status port


def status_url(cfg: Config) -> str:
    """The agent's status address (``replication.metrics``; its bound port from ``metrics.port`` for port 0)."""
    if not cfg.replication.metrics:
        raise ConfigError("配置中没有代理指标端口 replication.metrics，无法查询链路状态", node=cfg.node.division)
    host, port = split_address(cfg.replication.metrics, "replication.metrics")
    if port == 0:
        port_file = Path(cfg.node.data_dir).expanduser().resolve() / METRICS_PORT_FILE
        if not port_file.is_file():
            raise LinkError(f"同步代理未运行（找不到 {port_file}）", target=str(port_file))
        port = int(port_file.read_text().strip())
    return f"http://{'127.0.0.1' if host in {'0.0.0.0', ''} else host}:{port}"


@dataclass(frozen=True, slots=True)
class Unacked:
    """Records of ``origin`` on ``link`` its peer has not acknowledged yet."""

    link: str
    origin: str
    records: int


def backlog_left(body: dict[str, Any], links: Sequence[str] = ()) -> list[Unacked]:
    """What the links of an agent's ``/links`` (``links``: only those; default every link) have not had
    acknowledged yet, per link and origin. A link named that the agent does not have is a ValidationError."""
    held = {link["link"]: link for link in body.get("links", [])}
    unknown = [name for name in links if name not in held]
    if unknown:
        raise ValidationError(
            f"同步代理没有链路 {'、'.join(unknown)}（它的链路：{'、'.join(held) or '无'}）", links=unknown
        )
    return [
        Unacked(name, origin["origin"], int(origin["lag_records"]))
        for name in (links or list(held))
        for origin in held[name]["origins"]
        if int(origin["lag_records"]) > 0
    ]


def fetch_links(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """The agent's ``/links`` (LinkError when it does not answer)."""
    import httpx

    from federation.http_client import http_client

    try:
        with http_client(timeout=timeout) as client:
            response = client.get(f"{url.rstrip('/')}/links")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LinkError(f"无法从 {url} 读取链路状态：{exc}", target=url) from exc
    return body


@dataclass(frozen=True)
class LinksNow:
    """``body`` as ``/links`` answers it; ``running``: from the running agent (else from the database, with
    ``why`` the agent could not be asked)."""

    running: bool
    body: dict[str, Any]
    why: str = ""


def _configured_target(cfg: Config, link: str) -> str:
    rep = cfg.replication
    if link == "up":
        return f"ferry:{rep.ferry_out}" if rep.transport == "ferry" else rep.upstream
    if link == "extranet":
        return f"ferry:{cfg.extranet.ferry_out}" if cfg.extranet.ferry_out else cfg.extranet.link
    return link.removeprefix("down-")


def recorded_links(cfg: Config, engine: Engine) -> dict[str, Any]:
    """``/links`` as the agent would answer it before its first connection: every configured link and origin with
    the peer's recorded mark and the backlog held here (no link is configured: no links)."""
    from sync_agent.runtime import build_agent

    try:
        agent = build_agent(cfg, engine=engine)
    except ConfigError:  # no link configured (a province without children yet): nothing to show
        return {"node": cfg.node.division, "links": []}
    links = []
    for view in agent.views():
        link = view.to_dict()
        link["target"] = link["target"] or _configured_target(cfg, view.link)
        links.append(link)
    return {"node": cfg.node.division, "links": links}


def links_now(cfg: Config, engine: Engine, *, timeout: float = 2.0) -> LinksNow:
    """The agent's live answer when it runs; else the figures its node's database holds (:func:`recorded_links`)."""
    try:
        return LinksNow(True, fetch_links(status_url(cfg), timeout=timeout))
    except (LinkError, ConfigError) as exc:
        return LinksNow(False, recorded_links(cfg, engine), why=exc.message)
