"""Port files, and the ports a node keeps.

A node writes the port each of its listeners bound to a *port file* in its data directory (``grpc.port``,
``http.port``, ``enrol.port``, the agent's ``metrics.port``) while it serves, and removes it when it stops: what
an operator, a test or the demo's launcher reads to find it.

A listener configured with port 0 ("choose one") keeps the port it first chose: the port is also written under
``bound-ports/`` in the data directory, which a stop leaves in place, and the next start with the same
configuration binds it again (:func:`sticky_port`). A node restarted with its own command line — by an operator,
a service manager or a supervisor after a crash — is therefore found again where its agents and children were
told it is. If that port has been taken meanwhile, the node refuses to start and says so (never a silent new
port that nobody is pointed at); removing the file lets it choose again.

:func:`spare_port` picks a free port for a launcher that must name a port before the process that binds it starts
(the demo's extranet node, the soak's receivers): below the system's ephemeral range, where the outgoing
connections of busy processes do not take it in the meantime.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

__all__ = ["KEPT_DIR", "kept_port_file", "spare_port", "sticky_port", "taken_hint", "write_port_file"]

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")

KEPT_DIR = "bound-ports"  # in the data directory: the ports chosen once, kept across restarts


def kept_port_file(port_file: Path) -> Path:
    """Where the port behind ``port_file`` is kept across restarts."""
    return port_file.parent / KEPT_DIR / port_file.name


def sticky_port(port_file: Path, configured: int) -> int:
    """The port to bind for the listener whose port file is ``port_file``: ``configured`` unless it is 0; else the
    port it chose when it first started (0 the first time, or when what is kept is not a port)."""
    if configured:
        return configured
    try:
        kept = int(kept_port_file(port_file).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return 0
    return kept if 0 < kept <= 65535 else 0


def taken_hint(port_file: Path, configured: int, bound: int) -> str:
    """What to add to a "cannot listen" error when the port was the one kept (empty otherwise)."""
    if configured or not bound:
        return ""
    return f"（端口 {bound} 是本节点首次启动时自动选择并保留的端口；如需改用新端口，删除 {kept_port_file(port_file)}）"


def write_port_file(port_file: Path, port: int, *, configured: int | None = None) -> None:
    """Write the bound ``port`` to ``port_file`` (atomically: readers never see half a file); when the listener was
    configured with port 0 (``configured=0``), also keep it for the next start."""
    _write(port_file, port)
    if configured == 0:
        kept = kept_port_file(port_file)
        kept.parent.mkdir(mode=0o700, exist_ok=True)
        _write(kept, port)


def _write(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n", encoding="utf-8")
    os.replace(tmp, path)


def _ephemeral_floor() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def spare_port(host: str = "127.0.0.1", *, rng: random.Random | None = None) -> int:
    """A port free on ``host`` now, below the ephemeral range (from 10000) when one there is free; else one the
    system chooses."""
    pick = rng or random.SystemRandom()
    floor = _ephemeral_floor()
    for _ in range(64) if floor > 11000 else ():
        port = pick.randrange(10000, floor)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.create_server((host, 0)) as sock:
        return int(sock.getsockname()[1])
