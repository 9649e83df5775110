"""The agent's HTTP status port: ``/metrics`` (Prometheus text format), ``/links`` (JSON), ``/healthz``.

``sunshine admin links`` reads ``/links``; Prometheus scrapes ``/metrics``. Figures are taken when asked
(a collector over the agent's live link counters and its node's database), never cached.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sync_agent.runtime import Agent

__all__ = ["AgentCollector", "StatusServer", "start_status_server"]

log = structlog.get_logger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class AgentCollector(Collector):
    """Replication lag (records, seconds), batch and record rates, refusals, link state, quarantine size."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    def collect(self) -> Iterator[Any]:
        node = self._agent.node
        views = self._agent.views()
        lo = ["node", "link", "origin"]
        lag = GaugeMetricFamily(
            "sunshine_replication_lag_records",
            "Records the peer has not acked: of the outbox for an origin written here, of the batches held if relayed",
            labels=lo,
        )
        lag_s = GaugeMetricFamily(
            "sunshine_replication_lag_seconds",
            "Age of the oldest record (origin written here) or batch held (relayed) the peer has not acked",
            labels=lo,
        )
        acked = GaugeMetricFamily("sunshine_replication_acked_seq", "The peer's high-water mark", labels=lo)
        sent = CounterMetricFamily("sunshine_replication_sent_records", "Records sent on the link", labels=lo)
        acked_n = CounterMetricFamily("sunshine_replication_acked_records", "Records the peer acknowledged", labels=lo)
        batches = CounterMetricFamily("sunshine_replication_sent_batches", "Batches sent on the link", labels=lo)
        refusals = CounterMetricFamily("sunshine_replication_refusals", "Batches the peer refused", labels=lo)
        up = GaugeMetricFamily("sunshine_replication_link_connected", "1 while the link is connected", labels=lo[:2])
        failures = CounterMetricFamily("sunshine_replication_link_failures", "Failed link sessions", labels=lo[:2])
        spool = GaugeMetricFamily(
            "sunshine_ferry_spool_bytes",
            "Bytes of ferry files in the link's spool, not yet acknowledged",
            labels=lo[:2],
        )
        spool_full = GaugeMetricFamily(
            "sunshine_ferry_spool_full", "1 while the ferry spool is at its bound (no new file sealed)", labels=lo[:2]
        )
        for v in views:
            if v.target.startswith("ferry:"):
                spool.add_metric([node, v.link], float(v.spool_bytes))
                spool_full.add_metric([node, v.link], 1.0 if v.spool_full else 0.0)
            up.add_metric([node, v.link], 1.0 if v.connected else 0.0)
            failures.add_metric([node, v.link], float(v.failures))
            for o in v.origins:
                labels = [node, v.link, o.origin]
                lag.add_metric(labels, float(o.lag_records))
                lag_s.add_metric(labels, o.lag_seconds)
                acked.add_metric(labels, float(o.acked_seq))
                sent.add_metric(labels, float(o.sent_records))
                acked_n.add_metric(labels, float(o.acked_records))
                refusals.add_metric(labels, float(o.refusals))
                batches.add_metric(labels, float(o.sent_batches))
        held = GaugeMetricFamily(
            "sunshine_quarantine_held_records",
            "Poison records held in this node's quarantine",
            labels=["node", "origin"],
        )
        for origin, n in sorted(self._agent.quarantine_held().items()):
            held.add_metric([node, origin], float(n))
        yield from (lag, lag_s, acked, sent, acked_n, batches, refusals, up, failures, held, spool, spool_full)


class _Handler(BaseHTTPRequestHandler):
    server: StatusServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                self._send(200, CONTENT_TYPE, generate_latest(self.server.registry))
            elif path == "/links":
                body = {"node": self.server.agent.node, "links": [v.to_dict() for v in self.server.agent.views()]}
                self._send(200, "application/json; charset=utf-8", json.dumps(body, ensure_ascii=False).encode())
            elif path == "/healthz":
                self._send(200, "text/plain; charset=utf-8", b"ok\n")
            else:
                self._send(404, "text/plain; charset=utf-8", "未找到：/metrics、/links、/healthz\n".encode())
        except Exception:  # a failed scrape must not kill the agent; say so and log it
            log.exception("status.failed", path=path)
            self._send(500, "text/plain; charset=utf-8", "内部错误，详见代理日志\n".encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes are not worth a log line each


class StatusServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], agent: Agent) -> None:
        super().__init__(address, _Handler)
        self.agent = agent
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(AgentCollector(agent))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="agent-status", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def start_status_server(host: str, port: int, agent: Agent) -> StatusServer:
    server = StatusServer((host, port), agent)
    server.start()
    log.info("status.listening", url=f"http://{host}:{server.port}", metrics="/metrics", links="/links")
    return server
