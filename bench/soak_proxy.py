"""TCP proxies in front of the soak's receivers (:mod:`bench.soak`): every link reaches its receiver through one,
so a connection can be cut in the middle of a batch — half of the next chunk forwarded, then both sides closed —
as a flaky network or a restarting gateway would. The bytes are TLS records, forwarded unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

__all__ = ["Proxies"]

_CHUNK = 64 * 1024


class _Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cut_armed = False
        self.cuts_mid_stream = 0
        self.connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:  # the receiver is down (killed, restarting): the link retries
            writer.close()
            return
        pair = (writer, up_writer)
        self.connections.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer, pair), self._pump(up_reader, writer, pair))
        finally:
            self.connections.discard(pair)
            for w in pair:
                w.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: tuple[asyncio.StreamWriter, ...]
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
            while data := await reader.read(_CHUNK):
                if self.cut_armed and len(data) > 1:  # mid-stream: half of this chunk, then nothing
                    self.cut_armed = False
                    self.cuts_mid_stream += 1
                    writer.write(data[: len(data) // 2])
                    with contextlib.suppress(OSError, ConnectionError):
                        await writer.drain()
                    self._close_all()
                    return
                writer.write(data)
                await writer.drain()
        for w in pair:
            w.close()

    def _close_all(self) -> None:
        for pair in list(self.connections):
            for w in pair:
                w.close()

    def cut_now(self) -> None:
        """Close every connection at once (no traffic came for the armed cut)."""
        self.cut_armed = False
        self._close_all()


class Proxies:
    """One proxy per receiver, served by one asyncio loop on a background thread."""

    def __init__(self, targets: dict[str, int]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="soak-proxies", daemon=True)
        self._thread.start()
        self._proxies = {name: _Proxy(port) for name, port in targets.items()}
        for proxy in self._proxies.values():
            self._call(proxy.start)

    def _call(self, fn: Callable[[], object]) -> object:
        async def run() -> object:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    @property
    def ports(self) -> dict[str, int]:
        return {name: p.port for name, p in self._proxies.items()}

    def cut(self, name: str, wait: float = 2.0) -> bool:
        """Cut ``name``'s connections in the middle of the next chunk that passes within ``wait`` seconds (True),
        else all of them at once (False)."""
        proxy = self._proxies[name]
        before = proxy.cuts_mid_stream
        self._call(lambda: setattr(proxy, "cut_armed", True))
        deadline = self._loop.time() + wait
        while self._loop.time() < deadline:
            if proxy.cuts_mid_stream > before:
                return True
            threading.Event().wait(0.05)
        self._call(proxy.cut_now)
        return proxy.cuts_mid_stream > before

    def close(self) -> None:
        async def shut() -> None:
            for proxy in self._proxies.values():
                if proxy.server is not None:
                    proxy.server.close()
                proxy.cut_now()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
