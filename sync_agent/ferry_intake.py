"""The receiving end of a ferry link: batch files picked up from the spool ``in_dir``, verified and applied.

It runs in the receiving node's process, beside (or instead of) its gRPC receiver, because that is where the
node's appliers and its receiver trust are composed; every batch goes through the receiver's one path,
:func:`sync_agent.server.answer_batch` (policy, conversion, record size, the origin's signature, then the sink's
check and apply in one transaction), exactly as a batch from a gRPC stream.

A file's envelope is checked first, so that a bad file changes nothing: its trailing digest (a truncated or
damaged file), then the sender's signature over it (a file from a node not enrolled, or signed by another than
the sender it names, is *foreign*). An unreadable file younger than ``settle`` seconds may still be arriving
and waits; an older one, like every refused file, is set aside in ``in_dir/refused/`` with its reason (typed:
:class:`~sync_agent.errors.FerryFileRefused`). Files are taken in origin and seq order; a file whose first batch
is beyond the receiver's mark (a file behind it not arrived yet: reordered, or lost) waits in the spool until the
gap is filled; a file at or below the mark is a duplicate (every batch of it acknowledged, nothing applied twice)
and is deleted. A receiver killed in the middle of a file resumes at its mark: the batches already applied are
duplicates, the rest are applied.

After every round in which it applied something, and at least every ``statement_every`` seconds, the intake
writes its signed statement for each sender (per origin: high-water mark, digest, records) to ``ack_dir`` — the
return path, or a folder an operator carries back (``sunshine admin ferry statement`` writes one on demand).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from federation.errors import SunshineError
from federation.identities import DivisionLevel, is_boundary_origin, level_of, origin_signer, scope_prefix
from federation.replication.trust import ReceiverTrust
from federation.timeutil import to_us, utcnow
from sync_agent.answers import AllowPolicy, answer_batch
from sync_agent.domain import Mark, RefusalReason
from sync_agent.errors import BatchRefused, FerryFileRefused
from sync_agent.ferry_files import (
    TEMP_PREFIX,
    Statement,
    decode_batch_file,
    encode_statement,
    parse_file_name,
    set_aside,
    statement_digest,
    statement_name,
    write_atomically,
)
from sync_agent.store import SqlBatchSink
from sync_agent.stream_guard import StreamLimits

__all__ = ["FerryIntake", "IntakeStats", "senders_of"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeStats:
    """What the intake did since it started, and what its spool holds now."""

    applied_files: int = 0
    duplicate_files: int = 0
    refused_files: int = 0
    waiting_files: int = 0
    spool_bytes: int = 0
    statements: int = 0
    last_error: str = ""


class FerryIntake:
    """Batch files from ``in_dir`` into ``sink`` (``allowed``, ``trust``, ``limits``: the node's receiver's)."""

    def __init__(
        self,
        sink: SqlBatchSink,
        in_dir: Path,
        ack_dir: Path | None,
        *,
        allowed: AllowPolicy,
        trust: ReceiverTrust | None,
        limits: StreamLimits | None = None,
        statement_every: float = 60.0,
        settle: float = 5.0,
        poll: float = 0.05,
        max_file_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.node = sink.node
        self._in = in_dir
        self._ack = ack_dir
        self._allowed = allowed
        self._trust = trust
        self._limits = limits or StreamLimits()
        self._statement_every = statement_every
        self._settle = settle
        self._max_file_bytes = max_file_bytes
        self._poll = poll
        self._clock = clock
        self._senders: set[str] = set()
        self._seeded = False
        self._last_statement = -1e18
        self._stats = IntakeStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stats(self) -> IntakeStats:
        with self._lock:
            return self._stats

    # --- running -----------------------------------------------------------------------------------------------

    def start(self) -> FerryIntake:
        self._thread = threading.Thread(target=self.run_forever, args=(self._stop,), name="ferry-intake", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self, stop: threading.Event) -> None:
        log.info("ferry.intake_started", node=self.node, spool=str(self._in))
        while not stop.is_set():
            try:
                applied = self.run_once()
            except SunshineError as exc:  # the database: retry, the files stay in the spool
                self._note(last_error=exc.message)
                log.error("ferry.intake_failed", error=exc.message, code=exc.code)
                applied = 0
                stop.wait(1.0)
            except OSError as exc:
                self._note(last_error=f"摆渡目录读写失败：{exc}")
                log.error("ferry.intake_io_failed", error=str(exc))
                applied = 0
                stop.wait(1.0)
            if not applied:
                stop.wait(self._poll)
        log.info("ferry.intake_stopped", node=self.node)

    def run_once(self) -> int:
        """Take every file the spool holds (as often as applying one lets another follow); write statements.
        Return the number of files applied."""
        applied_total = 0
        while True:
            applied, waiting, size = self._round()
            applied_total += applied
            if not applied:
                break
        self._note(waiting_files=waiting, spool_bytes=size)
        now = self._clock()
        if not self._seeded:  # after a restart: statements for the senders of what this node holds
            self._senders |= senders_of(self.node, [s.origin for s in self.sink.status()], self._allowed)
            self._seeded = True
        if applied_total or now - self._last_statement >= self._statement_every:
            self.write_statements(now)
        return applied_total

    def _round(self) -> tuple[int, int, int]:
        entries = []
        for entry in self._in.iterdir():
            if entry.name.startswith(TEMP_PREFIX):
                continue
            parsed = parse_file_name(entry.name)
            if parsed is not None:
                entries.append((parsed[1], parsed[2], parsed[3], entry))
        entries.sort(key=lambda e: (e[0], e[1]))
        origins = list(dict.fromkeys(e[0] for e in entries))
        marks = {m.origin: m.high_water for m in self.sink.marks(origins)}
        applied = waiting = size = 0
        for origin, first, last, entry in entries:
            if first > marks[origin] + 1:  # a file before it has not arrived: wait, without reading it again
                waiting += 1  # (a name that lies about the content is refused when the file is read)
                size += _size(entry)
                continue
            outcome = self.take(entry)
            if outcome in {"applied", "duplicate"}:
                marks[origin] = max(marks[origin], last)
                applied += outcome == "applied"
            elif outcome == "waiting":
                waiting += 1
                size += _size(entry)
        return applied, waiting, size

    # --- one file ----------------------------------------------------------------------------------------------

    def take(self, entry: Path) -> str:
        """Process one file: ``applied``, ``duplicate`` (both deleted), ``waiting`` (kept), ``refused`` (set
        aside), or ``gone``."""
        try:
            st = entry.stat()
            age = self._clock() - st.st_mtime
            data = entry.read_bytes() if st.st_size <= self._max_file_bytes else b""
        except FileNotFoundError:
            return "gone"
        try:
            if not data and st.st_size:
                raise FerryFileRefused(
                    f"摆渡文件 {entry.name} 有 {st.st_size} 字节，超过上限 {self._max_file_bytes} 字节",
                    reason="too_large",
                    file=entry.name,
                )
            file = decode_batch_file(
                data,
                entry.name,
                authenticate=lambda sender, digest, sig, chain: self._authenticate(
                    sender, digest, sig, chain, entry.name
                ),
                max_bytes=self._max_file_bytes,
            )
            self._senders.add(file.sender)
            duplicate = True
            for message in file.batches:
                answer = answer_batch(
                    self.sink, file.sender, message, allowed=self._allowed, trust=self._trust, limits=self._limits
                )
                if isinstance(answer, BatchRefused):
                    if answer.reason == RefusalReason.GAP:
                        return "waiting"  # a file before it has not arrived (yet)
                    raise FerryFileRefused(
                        f"摆渡文件 {entry.name} 中的批次 {message.first_seq}–{message.last_seq} 被拒收"
                        f"（{answer.reason}）：{answer.message}",
                        reason="refused",
                        file=entry.name,
                        batch_reason=answer.reason,
                    )
                duplicate = duplicate and answer.duplicate
        except FerryFileRefused as exc:
            if exc.reason in {"truncated", "corrupt"} and age < self._settle:
                return "waiting"  # perhaps still being written by the gateway
            set_aside(entry, exc.message)
            with self._lock:
                self._stats = replace(self._stats, refused_files=self._stats.refused_files + 1, last_error=exc.message)
            log.warning("ferry.file_refused", file=entry.name, reason=exc.reason, error=exc.message)
            return "refused"
        entry.unlink(missing_ok=True)
        with self._lock:
            if duplicate:
                self._stats = replace(self._stats, duplicate_files=self._stats.duplicate_files + 1)
            else:
                self._stats = replace(self._stats, applied_files=self._stats.applied_files + 1)
        log.debug("ferry.file_taken", file=entry.name, duplicate=duplicate)
        return "duplicate" if duplicate else "applied"

    def _authenticate(self, sender: str, digest: bytes, signature: bytes, chain: tuple[bytes, ...], name: str) -> None:
        if sender == self.node:
            raise FerryFileRefused(f"摆渡文件 {name} 自称来自本节点 {sender}", reason="foreign", file=name)
        if self._trust is None:  # --insecure-dev only
            return
        try:
            self._trust.verify_batch(sender, digest, signature, chain)
        except SunshineError as exc:
            raise FerryFileRefused(
                f"摆渡文件 {name} 不是已登记的节点 {sender} 签发的：{exc.message}",
                reason="foreign",
                file=name,
                sender=sender,
            ) from exc

    # --- statements --------------------------------------------------------------------------------------------

    def statement(self, sender: str, now: float | None = None) -> Statement:
        """This receiver's statement for ``sender``: per origin it may send, the mark, digest and records held."""
        held = {s.origin: s for s in self.sink.status() if self._allowed(sender, s.origin)}
        marks = [Mark(s.origin, s.high_water, s.last_hash) for s in held.values()]
        records = [s.records for s in held.values()]
        if sender not in held and self._allowed(sender, sender):  # nothing of it yet: say so (mark 0)
            marks.insert(0, Mark(sender))
            records.insert(0, 0)
        return Statement(
            self.node,
            sender,
            int((now if now is not None else self._clock()) * 1_000_000) or to_us(utcnow()),
            tuple(marks),
            tuple(records),
        )

    def signed_statement(self, sender: str, now: float | None = None) -> tuple[str, bytes]:
        """The statement file for ``sender``: its name and bytes (signed with the receiver's proof)."""
        statement = self.statement(sender, now)
        proof: bytes = b""
        chain: tuple[bytes, ...] = ()
        if self._trust is not None:
            chain, proof = self._trust.welcome_proof(statement_digest(statement.body()), sender)
        return statement_name(self.node, sender, statement.issued_at_us), encode_statement(statement, proof, chain)

    def write_statements(self, now: float) -> None:
        self._last_statement = now
        if self._ack is None:
            return
        for sender in sorted(self._senders):
            name, data = self.signed_statement(sender, now)
            for old in self._ack.glob(f"statement.{self.node}.{sender}.*.json"):  # superseded, not carried yet
                old.unlink(missing_ok=True)
            write_atomically(self._ack, name, data)
            with self._lock:
                self._stats = replace(self._stats, statements=self._stats.statements + 1)

    def _note(self, **changes: object) -> None:
        with self._lock:
            self._stats = replace(self._stats, **changes)  # type: ignore[arg-type]


def senders_of(node: str, origins: Sequence[str], allowed: AllowPolicy) -> set[str]:
    """The neighbours of ``node`` that send it ``origins``: up, the child on the way to each origin of its
    subtree; down, its parent (for its ancestors' origins); across the boundary, the origin's signer (a county's
    public stream from the county, an extranet node's stream from that node). Only those the policy lets send."""
    found = {origin_signer(o) for o in origins if is_boundary_origin(o) and allowed(origin_signer(o), o)}
    if is_boundary_origin(node):
        return found
    level = level_of(node)
    for origin in origins:
        if is_boundary_origin(origin):
            continue
        if origin != node and origin.startswith(scope_prefix(node)):
            sender = origin[:4] + "00" if level is DivisionLevel.PROVINCE else origin
        elif level is not DivisionLevel.PROVINCE and node.startswith(scope_prefix(origin)):
            sender = node[:4] + "00" if level is DivisionLevel.COUNTY else node[:2] + "0000"
        else:
            continue
        if allowed(sender, origin):
            found.add(sender)
    return found


def _size(entry: Path) -> int:
    try:
        return entry.stat().st_size
    except FileNotFoundError:
        return 0
