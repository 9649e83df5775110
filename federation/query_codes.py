"""The query code (查询码): what opens a case's public status on the extranet, and the only form of it ever stored.

Given to the applicant at acceptance (SMS and 受理通知书), or on screen at an online submission. Only its salted
scrypt hash is stored or crosses the boundary (:func:`query_hash`, :func:`check_query_code`); a message that
carried one keeps it masked once sent (:func:`mask_query_codes`). Pure, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["HASH_RE", "check_query_code", "mask_query_codes", "new_query_code", "normalise_code", "query_hash"]

HASH_RE = re.compile(r"scrypt\$\d+\$\d+\$\d+\$[0-9a-f]{32}\$[0-9a-f]{64}", re.ASCII)
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed from an SMS
_CODE_LENGTH = 8
_SCRYPT = (2**14, 8, 1)  # ~20 ms per hash here: cheap per acceptance, costly per guess of an offline attacker


def new_query_code() -> str:
    """A fresh 8-character 查询码 from an alphabet without look-alike characters (~40 bits)."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


def normalise_code(code: str) -> str:
    return "".join(code.split()).upper()


_CODE_IN_TEXT = re.compile(f"(查询码[：:\\s]*)[{_CODE_ALPHABET}]{{{_CODE_LENGTH}}}(?![0-9A-Z])")


def mask_query_codes(text: str) -> str:
    """``text`` with every query code after “查询码” masked (``查询码 ********``): what a log line or a delivery log
    row keeps of a message that carried one."""
    return _CODE_IN_TEXT.sub(lambda m: m.group(1) + "*" * _CODE_LENGTH, text)


def query_hash(code: str, *, salt: bytes | None = None) -> str:
    """The stored form of a query code: ``scrypt$n$r$p$<salt hex>$<hash hex>`` (never the code itself)."""
    n, r, p = _SCRYPT
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(normalise_code(code).encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_query_code(code: str, stored: str) -> bool:
    """Whether ``code`` is the code ``stored`` (from :func:`query_hash`) was made of; False for a malformed hash."""
    if not stored or not HASH_RE.fullmatch(stored) or not code:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    if int(n) > 2**16 or int(r) > 8 or int(p) > 1:  # a hash from elsewhere must not cost seconds or memory
        return False
    try:
        got = hashlib.scrypt(
            normalise_code(code)[:64].encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:  # n not a power of two, and the like
        return False
    return hmac.compare_digest(got.hex(), digest)
