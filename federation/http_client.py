"""The one place an outgoing HTTP client is built (httpx): no proxy from the environment, TLS always verified.

Every client Sunshine opens — the SMS gateway, an NVR's recording list, the sync agent's status port, the demo's
calls to its own nodes — is made here, so none follows ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` (a proxy
would see the SMS gateway's bearer token and could answer in its place) or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
(``trust_env=False``). TLS is verified: against the federation's root certificate only, for federation-internal
HTTPS (``ca_pem``), else against the certificate authorities shipped with httpx (certifi), never the environment's.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

__all__ = ["DEFAULT_TIMEOUT_S", "LOGIN_PATH", "http_client", "logged_in_client"]

DEFAULT_TIMEOUT_S = 10.0
LOGIN_PATH = "/api/v1/auth/token"  # every node's login (OAuth2 password form)


def http_client(
    *,
    base_url: str = "",
    timeout: float = DEFAULT_TIMEOUT_S,
    ca_pem: bytes | None = None,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """An :class:`httpx.Client` with Sunshine's policy. ``ca_pem``: the only trust anchors (the federation root).
    ``transport`` is for tests that replace the network (a mock says so where it is used)."""
    verify: ssl.SSLContext | bool = True
    if ca_pem is not None:
        verify = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=verify,
        trust_env=False,
        headers=headers,
        transport=transport,
        follow_redirects=False,
        **kwargs,
    )


def logged_in_client(
    base_url: str, username: str, password: str, *, timeout: float = DEFAULT_TIMEOUT_S
) -> httpx.Client:
    """A client of the node at ``base_url`` logged in as ``username`` (``POST /api/v1/auth/token``), its bearer
    token set on every request. A refused login raises :class:`httpx.HTTPStatusError`."""
    client = http_client(base_url=base_url, timeout=timeout)
    try:
        reply = client.post(LOGIN_PATH, data={"username": username, "password": password})
        reply.raise_for_status()
        client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        client.cookies.clear()  # the bearer token only: no session cookie besides it
    except BaseException:
        client.close()
        raise
    return client
