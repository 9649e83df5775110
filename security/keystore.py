"""Secrets through ``keyring``: node private keys, CA keys, enrolment tokens in flight, the SMS gateway token.

Sunshine never writes a secret to a configuration file or a log. It asks ``keyring`` for it, under the service
``sunshine/<division>``. Which keyring holds it is the ``[keyring]`` section's choice:

* ``backend = "file"`` (the default; servers have no desktop keyring) — :class:`EncryptedFileKeyring`, a
  ``keyring`` backend of this package: one file (``keyring.enc`` in the data directory, mode 0600), every entry
  sealed with AES-256-GCM under a key derived from a passphrase with scrypt, the entry's name bound as
  associated data (entries cannot be swapped). The passphrase comes from the service manager — a file
  (``passphrase_file``, e.g. a systemd credential) or ``SUNSHINE_KEYRING_PASSPHRASE`` — never from the TOML file;
* ``backend = "system"`` — whatever ``keyring`` finds on the machine (Secret Service, macOS Keychain, Windows
  Credential Locker), for a workstation.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring.backend
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from federation.config import Config
from federation.errors import ConfigError

__all__ = ["EncryptedFileKeyring", "KeyStore", "keystore_for", "open_backend", "write_private"]

_FORMAT = 1
_SCRYPT_N = 2**14  # ~30 ms per process start on this class of machine; the passphrase is a machine secret


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only (0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class EncryptedFileKeyring(keyring.backend.KeyringBackend):
    """A ``keyring`` backend for servers: one AES-GCM-sealed file, safe for the node and its agent to share."""

    priority = 1  # chosen explicitly by Sunshine, never by keyring's discovery

    def __init__(self, path: Path, passphrase: bytes) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.path = path
        self._passphrase = passphrase
        self._keys: dict[bytes, AESGCM] = {}

    # -- the file ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"format": _FORMAT, "salt": base64.b64encode(secrets.token_bytes(16)).decode(), "entries": {}}
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise keyring.errors.KeyringError(f"密钥库文件 {self.path} 无法读取：{exc}") from exc
        if data.get("format") != _FORMAT:
            raise keyring.errors.KeyringError(f"密钥库文件 {self.path} 的格式版本不受支持")
        return data

    def _aead(self, data: dict[str, Any]) -> AESGCM:
        if not self._passphrase:  # said when a secret is first needed, not when the keyring is opened
            raise ConfigError("密钥库口令为空：请设置 SUNSHINE_KEYRING_PASSPHRASE 或 [keyring] passphrase_file")
        salt = base64.b64decode(data["salt"])
        if salt not in self._keys:
            key = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(self._passphrase)
            self._keys[salt] = AESGCM(key)
        return self._keys[salt]

    @staticmethod
    def _aad(service: str, username: str) -> bytes:
        return json.dumps([service, username]).encode()

    # -- keyring's interface -----------------------------------------------------------------------------------

    def get_password(self, service: str, username: str) -> str | None:
        data = self._read()
        sealed = data["entries"].get(service, {}).get(username)
        if sealed is None:
            return None
        nonce, ciphertext = (base64.b64decode(x) for x in sealed)
        try:
            plain = self._aead(data).decrypt(nonce, ciphertext, self._aad(service, username))
        except InvalidTag:
            raise keyring.errors.KeyringError(f"密钥库 {self.path} 口令错误或文件已被改动") from None
        return plain.decode()

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._locked():
            data = self._read()
            nonce = secrets.token_bytes(12)
            ciphertext = self._aead(data).encrypt(nonce, password.encode(), self._aad(service, username))
            entry = [base64.b64encode(nonce).decode(), base64.b64encode(ciphertext).decode()]
            data["entries"].setdefault(service, {})[username] = entry
            write_private(self.path, json.dumps(data, sort_keys=True).encode())

    def delete_password(self, service: str, username: str) -> None:
        with self._locked():
            data = self._read()
            if data["entries"].get(service, {}).pop(username, None) is None:
                raise keyring.errors.PasswordDeleteError(f"{service}/{username} 不在密钥库中")
            write_private(self.path, json.dumps(data, sort_keys=True).encode())


class KeyStore:
    """The secrets of one node, by name (``tls-key``, ``signing-key``, ``ca-key``, ``enrol-token``, ``sms-token``)."""

    def __init__(self, backend: keyring.backend.KeyringBackend, division: str) -> None:
        self._backend = backend
        self.service = f"sunshine/{division}"

    def get(self, name: str) -> bytes | None:
        try:
            value = self._backend.get_password(self.service, name)
        except keyring.errors.KeyringError as exc:
            raise ConfigError(f"读取密钥库失败：{exc}", name=name) from exc
        return None if value is None else base64.b64decode(value)

    def put(self, name: str, value: bytes) -> None:
        try:
            self._backend.set_password(self.service, name, base64.b64encode(value).decode())
        except keyring.errors.KeyringError as exc:
            raise ConfigError(f"写入密钥库失败：{exc}", name=name) from exc

    def delete(self, name: str) -> None:
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            self._backend.delete_password(self.service, name)

    def require(self, name: str, hint: str) -> bytes:
        value = self.get(name)
        if value is None:
            raise ConfigError(f"密钥库中没有 {name}：{hint}", name=name)
        return value


def open_backend(config: Config) -> keyring.backend.KeyringBackend:
    """The keyring ``[keyring]`` names: the encrypted file of the node's data directory, or the system's."""
    k = config.keyring
    if k.backend == "system":
        return keyring.get_keyring()
    passphrase = k.passphrase.encode()
    if k.passphrase_file:
        try:
            passphrase = Path(k.passphrase_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"无法读取密钥库口令文件 {k.passphrase_file}：{exc}", path=k.passphrase_file) from exc
    path = Path(k.file)
    if not path.is_absolute():
        path = Path(config.node.data_dir).expanduser().resolve() / path
    return EncryptedFileKeyring(path, passphrase)


def keystore_for(config: Config) -> KeyStore:
    return KeyStore(open_backend(config), config.node.division)
