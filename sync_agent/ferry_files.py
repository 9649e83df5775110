"""The files of a ferry link (摆渡文件, for a one-way gateway 网闸): sealed batch files and signed statements.

**A batch file** carries consecutive batches of one origin, exactly as the gRPC link carries them (the wire's
``Batch``, each batch with its origin's signature; the batches compressed together, once per file: that costs
less than compressing each record and shrinks what is written, fsynced, copied by the gateway and read), in an
envelope the *sender* signs (on a gRPC link mutual TLS says who the sender is; a file has no TLS, so the
envelope's signature does)::

    "SUNFERRY" ‖ version (1 byte) ‖ sender ‖ count (u32)
    ‖ u32 length ‖ zlib( count × (u32 length ‖ Batch) )
    ‖ u32 length ‖ signature ‖ u16 count ‖ count × (u32 length ‖ certificate DER)
    ‖ SHA-256 of everything before it (32 bytes)

The sender is 6 ASCII digits in version 1 (a division code) and, in version 2, one length byte and the ASCII
identity (a county's extranet node, ``371122-ext``); a division's files are written as version 1, so a receiver
of an earlier release still reads them.

The signature is over ``SHA-256("sunshine-ferry-file/1\\0" ‖ the body up to the compressed batches' end)``; the
final digest finds a truncated or damaged file before anything is parsed further, and the signature is checked
before the batches are inflated (at most to the receiver's bound) and parsed. Its name says what it holds:
``{sender}.{origin}.{first_seq:012d}-{last_seq:012d}.ferry``.

**A statement** (回执：完整性声明) is the receiver's signed word, for one sender, of what it holds of each origin
that sender may send: the high-water mark, the hash of the batch that ended there (the digest of the whole
chain up to it) and the records held. It is signed as the receiver signs a Welcome (its proof over the digest of
the statement and both identities), so the sender verifies it exactly as it verifies a receiver on a gRPC link.
Name: ``statement.{receiver}.{sender}.{issued_at_us}.json``.

Every file is written atomically (:func:`write_atomically`: a temporary name, fsync, rename, fsync of the
directory): a reader never sees half a file under its final name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError

from federation.wire.v1 import replication_pb2 as pb
from sync_agent.convert import batch_to_proto
from sync_agent.domain import Batch, Mark
from sync_agent.errors import FerryFileRefused

__all__ = [
    "BATCH_SUFFIX",
    "FerryFile",
    "Statement",
    "decode_batch_file",
    "decode_statement",
    "encode_batch_file",
    "encode_statement",
    "file_name",
    "parse_file_name",
    "set_aside",
    "statement_digest",
    "statement_name",
    "write_atomically",
]

MAGIC = b"SUNFERRY"
VERSION = 1  # sender: 6 ASCII digits
VERSION_LONG_SENDER = 2  # sender: u8 length ‖ ASCII (a boundary identity)
BATCH_SUFFIX = ".ferry"
STATEMENT_KIND = "sunshine-ferry-statement/1"
TEMP_PREFIX = ".tmp-"  # a file being written: never read
_SIGN_DOMAIN = b"sunshine-ferry-file/1\x00"
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
# sender and origin: a division code, or a county's boundary identity (371122-ext, 371122-pub)
_NAME = re.compile(
    r"(?P<sender>\d{6}(?:-ext)?)\.(?P<origin>\d{6}(?:-ext|-pub)?)\.(?P<first>\d{12})-(?P<last>\d{12})\.ferry"
)
_MAX_CHAIN = 8
_LEVEL = 1  # zlib's fastest: a file's JSON payloads shrink about sixfold for little time


@dataclass(frozen=True, slots=True)
class FerryFile:
    """A batch file as read: its sender, its batches (wire messages, decoded by the receiver's one path) and the
    sender's signature over ``digest`` with the chain that names the key."""

    sender: str
    batches: tuple[pb.Batch, ...]
    digest: bytes
    signature: bytes
    chain: tuple[bytes, ...]

    @property
    def origin(self) -> str:
        return self.batches[0].origin

    @property
    def first_seq(self) -> int:
        return int(self.batches[0].first_seq)

    @property
    def last_seq(self) -> int:
        return int(self.batches[-1].last_seq)


def file_name(sender: str, origin: str, first_seq: int, last_seq: int) -> str:
    return f"{sender}.{origin}.{first_seq:012d}-{last_seq:012d}{BATCH_SUFFIX}"


def parse_file_name(name: str) -> tuple[str, str, int, int] | None:
    """``(sender, origin, first_seq, last_seq)`` of a batch file's name; None for any other name."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    return m["sender"], m["origin"], int(m["first"]), int(m["last"])


def signed_digest(body: bytes) -> bytes:
    return hashlib.sha256(_SIGN_DOMAIN + body).digest()


def encode_batch_file(
    sender: str, batches: Sequence[Batch], sign: Callable[[bytes], tuple[bytes, tuple[bytes, ...]]] | None = None
) -> tuple[bytes, tuple[str, str, int, int]]:
    """The file of ``batches`` (consecutive, one origin) and its name parts. ``sign(digest)`` → (signature, chain)
    (the sender's :class:`~federation.replication.trust.BatchSigner`); None only with ``--insecure-dev``."""
    if not batches:
        raise ValueError("a ferry file needs at least one batch")
    records: list[bytes] = []
    for b in batches:
        data = batch_to_proto(b).SerializeToString()
        records += [_U32.pack(len(data)), data]
    packed = zlib.compress(b"".join(records), _LEVEL)
    who = sender.encode("ascii")
    head_of = [MAGIC, bytes([VERSION]), who] if len(who) == 6 else [MAGIC, bytes([VERSION_LONG_SENDER, len(who)]), who]
    body = b"".join([*head_of, _U32.pack(len(batches)), _U32.pack(len(packed))])
    body += packed
    signature: bytes = b""
    chain: tuple[bytes, ...] = ()
    if sign is not None:
        signature, chain = sign(signed_digest(body))
    tail = [_U32.pack(len(signature)), signature, _U16.pack(len(chain))]
    for der in chain:
        tail += [_U32.pack(len(der)), der]
    head = body + b"".join(tail)
    return head + hashlib.sha256(head).digest(), (sender, batches[0].origin, batches[0].first_seq, batches[-1].last_seq)


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FerryFileRefused(f"摆渡文件 {self.name} 结构错误：长度字段越界", reason="corrupt", file=self.name)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])


def decode_batch_file(
    data: bytes,
    name: str,
    *,
    authenticate: Callable[[str, bytes, bytes, tuple[bytes, ...]], None] | None = None,
    max_bytes: int = 256 * 1024 * 1024,
) -> FerryFile:
    """Read a batch file; raise :class:`FerryFileRefused` (truncated, corrupt, misnamed, too_large) — never apply a
    part. ``authenticate(sender, digest, signature, chain)`` runs before the batches are inflated (at most to
    ``max_bytes``) and parsed: a file from a stranger is never decompressed."""
    if len(data) < len(MAGIC) + 1 + 6 + 4 + 4 + 32 or not data.startswith(MAGIC):
        reason = "truncated" if MAGIC.startswith(data[: len(MAGIC)]) and len(data) < 64 else "corrupt"
        raise FerryFileRefused(f"摆渡文件 {name} 不完整或不是摆渡文件", reason=reason, file=name)
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        raise FerryFileRefused(
            f"摆渡文件 {name} 校验失败：文件不完整（传输中被截断）或已损坏", reason="truncated", file=name
        )
    r = _Reader(data[:-32], name)
    r.take(len(MAGIC))
    version = r.take(1)[0]
    if version not in (VERSION, VERSION_LONG_SENDER):
        raise FerryFileRefused(
            f"摆渡文件 {name} 的格式版本无法识别，请确认两端软件版本一致", reason="corrupt", file=name
        )
    sender = r.take(6 if version == VERSION else min(r.take(1)[0], 16)).decode("ascii", "replace")
    count = r.u32()
    packed = r.take(r.u32())
    body_end = r.pos
    signature = r.take(r.u32())
    n_chain = int(_U16.unpack(r.take(2))[0])
    if n_chain > _MAX_CHAIN:
        raise FerryFileRefused(f"摆渡文件 {name} 的证书链过长", reason="corrupt", file=name)
    chain = tuple(r.take(r.u32()) for _ in range(n_chain))
    if r.pos != len(r.data) or not count:
        raise FerryFileRefused(f"摆渡文件 {name} 结构错误：多余数据或没有批次", reason="corrupt", file=name)
    digest = signed_digest(data[:body_end])
    if authenticate is not None:
        authenticate(sender, digest, signature, chain)
    inflate = zlib.decompressobj()
    try:
        inner = inflate.decompress(packed, max_bytes + 1)
    except zlib.error:
        raise FerryFileRefused(f"摆渡文件 {name} 的压缩数据已损坏", reason="corrupt", file=name) from None
    if len(inner) > max_bytes or inflate.unconsumed_tail:
        raise FerryFileRefused(f"摆渡文件 {name} 解压后超过 {max_bytes} 字节的上限", reason="too_large", file=name)
    if not inflate.eof or inflate.unused_data:
        raise FerryFileRefused(f"摆渡文件 {name} 的压缩数据不完整", reason="corrupt", file=name)
    b = _Reader(inner, name)
    batches = []
    for _ in range(count):
        message = pb.Batch()
        try:
            message.ParseFromString(b.take(b.u32()))
        except DecodeError:
            raise FerryFileRefused(f"摆渡文件 {name} 中的批次无法解析", reason="corrupt", file=name) from None
        batches.append(message)
    if b.pos != len(inner):
        raise FerryFileRefused(f"摆渡文件 {name} 结构错误：批次之后有多余数据", reason="corrupt", file=name)
    file = FerryFile(sender, tuple(batches), digest, signature, chain)
    parsed = parse_file_name(name)
    if parsed is not None and parsed != (sender, file.origin, file.first_seq, file.last_seq):
        raise FerryFileRefused(f"摆渡文件 {name} 的文件名与内容不符", reason="misnamed", file=name)
    if any(m.origin != file.origin for m in batches):
        raise FerryFileRefused(f"摆渡文件 {name} 混有多个来源的批次", reason="corrupt", file=name)
    return file


# -- statements ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """The receiver's completeness statement for one sender: per origin, its mark and the records held."""

    receiver: str
    sender: str
    issued_at_us: int
    marks: tuple[Mark, ...]
    records: tuple[int, ...] = ()

    def body(self) -> bytes:
        records = self.records or (0,) * len(self.marks)
        return json.dumps(
            {
                "kind": STATEMENT_KIND,
                "receiver": self.receiver,
                "sender": self.sender,
                "issued_at_us": self.issued_at_us,
                "marks": [
                    {"origin": m.origin, "high_water": m.high_water, "digest": m.last_hash.hex(), "records": n}
                    for m, n in zip(self.marks, records, strict=True)
                ],
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")


def statement_digest(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


def statement_name(receiver: str, sender: str, issued_at_us: int) -> str:
    return f"statement.{receiver}.{sender}.{issued_at_us}.json"


def encode_statement(statement: Statement, proof: bytes, chain: Sequence[bytes]) -> bytes:
    """The statement file: its body and the receiver's proof over :func:`statement_digest` of it."""
    return json.dumps(
        {
            "body": statement.body().decode("utf-8"),
            "proof": base64.b64encode(proof).decode("ascii"),
            "chain": [base64.b64encode(c).decode("ascii") for c in chain],
        },
        ensure_ascii=False,
    ).encode("utf-8")


def decode_statement(data: bytes, name: str) -> tuple[Statement, bytes, bytes, tuple[bytes, ...]]:
    """``(statement, digest, proof, chain)``; raise :class:`FerryFileRefused` when it cannot be read."""
    try:
        outer = json.loads(data)
        body = outer["body"].encode("utf-8")
        inner = json.loads(body)
        if inner["kind"] != STATEMENT_KIND:
            raise ValueError("kind")
        statement = Statement(
            str(inner["receiver"]),
            str(inner["sender"]),
            int(inner["issued_at_us"]),
            tuple(Mark(str(m["origin"]), int(m["high_water"]), bytes.fromhex(m["digest"])) for m in inner["marks"]),
            tuple(int(m["records"]) for m in inner["marks"]),
        )
        proof = base64.b64decode(outer["proof"], validate=True)
        chain = tuple(base64.b64decode(c, validate=True) for c in outer["chain"])
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise FerryFileRefused(f"回执文件 {name} 不完整或格式错误", reason="corrupt", file=name) from None
    return statement, statement_digest(body), proof, chain


# -- writing --------------------------------------------------------------------------------------------------------


def write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``directory/name`` so that no reader sees it partly written: a temporary name, fsync,
    rename, fsync of the directory (the rename survives a power cut)."""
    tmp = directory / f"{TEMP_PREFIX}{name}.{os.getpid()}"
    final = directory / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def set_aside(entry: Path, reason: str) -> Path | None:
    """Move a refused file into ``refused/`` beside it (a unique name), its reason beside it, for the operator."""
    aside = entry.parent / "refused"
    aside.mkdir(exist_ok=True)
    target = aside / f"{entry.name}.{time.time_ns()}"
    try:
        entry.replace(target)
    except FileNotFoundError:
        return None
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target
