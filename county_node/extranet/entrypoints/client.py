"""Who is asking: the client's address, behind trusted reverse proxies, and the digest the portal keeps of it.

The client is the socket peer — unless the peer is one of ``[extranet] trusted_proxies`` (addresses or networks,
``10.0.0.5`` or ``10.0.0.0/24``): then ``X-Forwarded-For`` is read from its right end, past every trusted hop, and
the first address no trusted proxy owns is the client (what a client writes into the header itself lies to the
left of what its proxies appended, so it is never believed). Only a keyed digest of the address is logged or
stored (:func:`client_digest`), never the address itself.

The portal knows a client by :func:`client_network`: an IPv4 address whole, an IPv6 address by its /64 — one
subscriber's network, in which a host may take any of 2^64 addresses, so a limit per IPv6 address would be none.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence

from federation.errors import ConfigError

__all__ = ["ClientResolver", "client_digest", "client_network"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(entries: Iterable[str]) -> tuple[Network, ...]:
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(f"extranet.trusted_proxies 中的“{entry}”不是 IP 地址或网段", value=entry) from exc
    return tuple(found)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None


class ClientResolver:
    """The client address of a request, given its socket peer and its ``X-Forwarded-For`` values."""

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        self._trusted = _networks(trusted_proxies)

    def _is_trusted(self, text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in net for net in self._trusted)

    def scheme(self, peer: str, scheme: str, forwarded_proto: Sequence[str]) -> str:
        """The scheme the client used: a trusted proxy's ``X-Forwarded-Proto`` (it terminated TLS), else the
        connection's own. (The CSRF cookie is ``Secure`` on https.)"""
        if forwarded_proto and self._trusted and self._is_trusted(peer):
            said = forwarded_proto[-1].split(",")[-1].strip().lower()
            if said in {"http", "https"}:
                return said
        return scheme

    def resolve(self, peer: str, forwarded_for: Sequence[str]) -> str:
        if not self._trusted or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                address = _address(hop)
                return str(address) if address is not None else hop[:64]
        return hops[0] if hops else peer  # every hop is a trusted proxy: the farthest one asked


def client_network(address: str) -> str:
    """What the limits count and the store keeps (digested) of a client address: an IPv4 address (also one mapped
    into IPv6) as it is, an IPv6 address as its /64, anything else as given."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address


def client_digest(key: bytes, address: str) -> str:
    """A keyed digest of a client address (64 hex): the same client gives the same digest, nobody can reverse it
    without the node's key."""
    return hmac.new(key, address.encode("utf-8"), hashlib.sha256).hexdigest()
