"""Serving a FastAPI app under uvicorn in the foreground, as every node's ``serve`` command does.

Once uvicorn listens, the bound port is written (atomically) to a port file — so ``port = 0`` works and the demo,
tests and service managers find the API — and removed when the server stops; only the server that wrote the file
removes it (a second one that failed to bind never deletes the first's). SIGINT and SIGTERM end it cleanly
(exit status 0); a server that cannot bind raises :class:`~federation.errors.ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from federation.bound_ports import sticky_port, taken_hint, write_port_file
from federation.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

__all__ = ["http_config", "serve_http", "settle_heap"]

log = structlog.get_logger(__name__)


class _Announcer:
    def __init__(
        self, server: uvicorn.Server, host: str, port_file: Path, *, say: Any, label: str, configured: int
    ) -> None:
        self._server = server
        self._host = host
        self._port_file = port_file
        self._configured = configured
        self._say = say
        self._label = label
        self._written = False

    async def run(self) -> None:
        while not self._server.started:
            await asyncio.sleep(0.02)
        bound = int(self._server.servers[0].sockets[0].getsockname()[1])
        write_port_file(self._port_file, bound, configured=self._configured)  # port 0: kept for the next start
        self._written = True
        shown = "127.0.0.1" if self._host in {"0.0.0.0", "::", ""} else self._host
        url = f"http://{shown}:{bound}"
        log.info("http.listening", url=url, docs=f"{url}/docs", port_file=str(self._port_file))
        self._say(f"{self._label}已启动：{url}/api/v1（接口文档 {url}/docs）；按 Ctrl-C 停止")

    def remove(self) -> None:
        if self._written:
            self._port_file.unlink(missing_ok=True)
            self._written = False


async def _serve(server: uvicorn.Server, announcer: _Announcer) -> None:
    watcher = asyncio.create_task(announcer.run())
    try:
        await server.serve()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        announcer.remove()


def http_config(app: Any, host: str, port: int, *, access_log: bool = False) -> uvicorn.Config:
    """The uvicorn configuration every node serves with. uvicorn's own proxy-header handling is off
    (``proxy_headers=False``, no ``forwarded_allow_ips``): the socket peer reaches the app unchanged, and only the
    app decides whether to believe ``X-Forwarded-For`` (the extranet portal's ``ClientResolver`` and its
    ``trusted_proxies``) — by default uvicorn would rewrite the client from that header for a peer at 127.0.0.1."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=5,
        proxy_headers=False,
        forwarded_allow_ips="",
    )


def settle_heap() -> None:
    """Once the app is built: collect what start-up left behind and move every object alive now (modules, the
    app, its routes and templates, the ORM's metadata) out of the garbage collector's way (``gc.freeze``), so a
    full collection during a request walks only what requests made — ~0.13 s less in one page request of a
    hundred (``python -m bench pages``)."""
    import gc

    gc.collect()
    gc.freeze()


def serve_http(
    app: Any, host: str, port: int, port_file: Path, *, label: str, say: Any = print, access_log: bool = False
) -> None:
    """Serve ``app`` on ``host:port`` in this thread until SIGINT/SIGTERM; ``label`` names the API in what is said
    (e.g. "县级节点接口"), ``say`` says it (the CLI's echo). The bound port is written to ``port_file``; port 0
    binds the port chosen at the first start again (:mod:`federation.bound_ports`)."""
    import uvicorn

    configured, port = port, sticky_port(port_file, port)
    server = uvicorn.Server(http_config(app, host, port, access_log=access_log))
    settle_heap()
    announcer = _Announcer(server, host, port_file, say=say, label=label, configured=configured)

    # uvicorn handles SIGINT/SIGTERM while serving and re-raises them afterwards with the handlers it found:
    # these ones note the stop instead of dying, so a signal is a clean exit (status 0).
    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        asyncio.run(_serve(server, announcer))
    except SystemExit as exc:  # uvicorn exits when it cannot bind or start
        if exc.code not in (0, None):
            hint = taken_hint(port_file, configured, port)
            raise ConfigError(
                f"{label}无法在 {host}:{port} 启动（端口可能已被占用），详见日志{hint}", port=port
            ) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        announcer.remove()
