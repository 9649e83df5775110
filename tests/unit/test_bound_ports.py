"""Port files and the ports a node keeps across restarts (:mod:`federation.bound_ports`)."""

from __future__ import annotations

from pathlib import Path

from federation.bound_ports import kept_port_file, sticky_port, taken_hint, write_port_file


def test_a_chosen_port_is_kept_for_the_next_start_and_a_configured_one_wins(tmp_path: Path) -> None:
    port_file = tmp_path / "grpc.port"
    assert sticky_port(port_file, 0) == 0  # the first start chooses
    write_port_file(port_file, 43_210, configured=0)
    assert port_file.read_text(encoding="utf-8") == "43210\n"
    assert kept_port_file(port_file) == tmp_path / "bound-ports" / "grpc.port"
    port_file.unlink()  # a clean stop removes the port file; what is kept stays
    assert sticky_port(port_file, 0) == 43_210
    assert sticky_port(port_file, 9_000) == 9_000  # a port in the configuration is always the one bound


def test_a_configured_port_is_not_kept_and_unreadable_kept_ports_are_ignored(tmp_path: Path) -> None:
    port_file = tmp_path / "http.port"
    write_port_file(port_file, 8_100, configured=8_100)
    write_port_file(tmp_path / "metrics.port", 5_000)  # no configuration given: nothing kept
    assert not (tmp_path / "bound-ports").exists()
    kept = kept_port_file(port_file)
    kept.parent.mkdir()
    for text in ("", "port", "0", "70000", "-3"):
        kept.write_text(text, encoding="utf-8")
        assert sticky_port(port_file, 0) == 0, text


def test_the_hint_names_the_kept_file_only_for_a_kept_port(tmp_path: Path) -> None:
    port_file = tmp_path / "grpc.port"
    assert str(kept_port_file(port_file)) in taken_hint(port_file, 0, 43_210)
    assert taken_hint(port_file, 43_210, 43_210) == ""  # configured: the operator chose it
    assert taken_hint(port_file, 0, 0) == ""  # nothing was kept


def test_a_spare_port_is_free_and_below_the_ephemeral_range() -> None:
    """What a launcher names before the process that binds it starts: free now, and out of the range the outgoing
    connections of busy processes draw from meanwhile."""
    import socket

    from federation.bound_ports import spare_port

    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    floor = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    port = spare_port()
    assert 10000 <= port < floor
    with socket.create_server(("127.0.0.1", port)):
        pass
