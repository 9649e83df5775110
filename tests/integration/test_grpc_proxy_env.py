"""gRPC links ignore proxy variables of the environment (review W1): a real listener set as every proxy receives
nothing while a link ships to a real receiver on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sync_agent.server import RunningServer, serve
from tests.integration.test_grpc_transport import CITY, COUNTY, FakeSink, assert_converged, city_source, make_link


@pytest.fixture
def proxy() -> Iterator[list[bytes]]:
    """A TCP listener standing in for a proxy: it records whatever reaches it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(4096) or b"<connected>")
                except OSError:
                    seen.append(b"<connected>")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    seen.append(f"http://127.0.0.1:{listener.getsockname()[1]}".encode())  # the address, first
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_link_never_goes_through_the_environments_proxy(proxy: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    address = proxy.pop(0).decode()
    for name in ("http_proxy", "https_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, address)
    for name in ("no_proxy", "NO_PROXY", "no_grpc_proxy"):
        monkeypatch.delenv(name, raising=False)
    sink = FakeSink()
    running: RunningServer = serve(sink, max_workers=4)
    try:
        source = city_source()
        make_link(running.target, source).run_once()
        assert_converged(source, sink, [CITY, COUNTY])
    finally:
        running.stop(0)
    assert proxy == []
