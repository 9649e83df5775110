"""The sending end of a ferry link (摆渡链路, one-way gateway 网闸): a node's batches sealed into files in a spool.

The same batches as the gRPC link (:class:`~sync_agent.store.SqlBatchSource`: sealed, hash-chained, signed by
their origin) are written, ``file_batches`` consecutive batches of one origin at a time, into signed files
(:mod:`sync_agent.ferry_files`) in the spool ``out_dir``, which the gateway carries across. Nothing is ever sent
back on the same path: what the receiver holds comes back as its signed *statement* (per origin: high-water mark
and digest), dropped in ``return_dir`` by the gateway's return path or by an operator who carried it. A statement
is verified as a gRPC Welcome is (the receiver's proof, an ancestor of this node for a link up); its digest must
be the hash of the batch this node sealed at that seq. Then the link records the acknowledgement (as the gRPC
link does, ``source.record_ack``) and deletes the files it covers. Files not acknowledged stay in the spool;
one still unacknowledged ``resend_after`` seconds after it was written, when a later statement shows the receiver
waiting for it, is written again (a gateway that lost it carries it once more; the receiver ignores a copy).

The spool is bounded (``spool_limit`` bytes): when it is full the link seals no new file, says so in its stats
(``last_error``, ``spool_full``) and in the log, and resumes when acknowledgements free space.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from federation.errors import SunshineError
from sync_agent.errors import FerryFileRefused, SpoolFull
from sync_agent.ferry_files import (
    Statement,
    decode_statement,
    encode_batch_file,
    file_name,
    parse_file_name,
    set_aside,
    write_atomically,
)
from sync_agent.link_stats import LinkStats, OriginStats
from sync_agent.store import SqlBatchSource

__all__ = ["FerryLink", "SpoolFile", "spool_files"]

log = structlog.get_logger(__name__)

Sign = Callable[[bytes], tuple[bytes, tuple[bytes, ...]]]
VerifyStatement = Callable[[Sequence[bytes], bytes, bytes], str]
"""``verify(chain, proof, digest)`` → the receiver's division (the sender trust's ``verify_receiver``)."""


@dataclass(frozen=True, slots=True)
class SpoolFile:
    path: Path
    sender: str
    origin: str
    first_seq: int
    last_seq: int
    size: int
    mtime: float


def spool_files(directory: Path) -> list[SpoolFile]:
    """The batch files in ``directory`` (never a temporary one), in origin and seq order."""
    found = []
    for entry in directory.iterdir():
        parsed = parse_file_name(entry.name)
        if parsed is None:
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:  # taken away meanwhile
            continue
        found.append(SpoolFile(entry, *parsed, st.st_size, st.st_mtime))
    found.sort(key=lambda f: (f.origin, f.first_seq))
    return found


class FerryLink:
    """The link up (or down) of ``node`` as files in ``out_dir``; statements read from ``return_dir``."""

    def __init__(
        self,
        name: str,
        source: SqlBatchSource,
        *,
        node: str,
        out_dir: Path,
        return_dir: Path,
        origins: Callable[[], Sequence[str]],
        spool_limit: int = 1 << 30,
        file_batches: int = 16,
        resend_after: float = 600.0,
        linger: float = 0.05,
        sign: Sign | None = None,
        verify: VerifyStatement | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.node = node
        self._source = source
        self._out = out_dir
        self._return = return_dir
        self._origins = origins
        self._limit = spool_limit
        self._file_batches = file_batches
        self._resend_after = resend_after
        self._linger = linger
        self._sign = sign
        self._verify = verify
        self._clock = clock
        self._lock = threading.Lock()
        self._stats = LinkStats(name, target=f"ferry:{out_dir}")
        self._acked: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._waiting_since: dict[str, float] = {}  # origin → when a statement last showed the receiver behind

    # --- public ------------------------------------------------------------------------------------------------

    def carried_origins(self) -> list[str]:
        """The origins this link carries."""
        return list(dict.fromkeys(self._origins()))

    def stats(self) -> LinkStats:
        with self._lock:
            return copy.deepcopy(self._stats)

    def run_once(self) -> LinkStats:
        """One round: statements read, acknowledged files deleted, new batches sealed and written to files."""
        self._round()
        return self.stats()

    def run_forever(self, stop: threading.Event) -> None:
        log.info("ferry.link_started", link=self.name, spool=str(self._out))
        while not stop.is_set():
            try:
                self._round()
            except SunshineError as exc:
                self._failed(exc.message)
                log.error("ferry.link_failed", link=self.name, error=exc.message, code=exc.code)
                stop.wait(1.0)
            except OSError as exc:  # the spool's disk: the same remedy, wait and retry
                self._failed(f"摆渡目录读写失败：{exc}")
                log.error("ferry.spool_io_failed", link=self.name, error=str(exc))
                stop.wait(1.0)
            except Exception:  # a bug must not kill the agent
                self._failed("摆渡链路内部错误（详情已记录日志）")
                log.exception("ferry.link_crashed", link=self.name)
                stop.wait(1.0)
            stop.wait(self._linger)
        log.info("ferry.link_stopped", link=self.name)

    def acked(self, origin: str) -> int:
        return self._acked.get(origin, 0)

    # --- one round ---------------------------------------------------------------------------------------------

    def _round(self) -> None:
        origins = list(dict.fromkeys(self._origins()))
        new = [o for o in origins if o not in self._acked]
        if new:  # at start, and when an origin appears (a relay's new child)
            self._start(new)
        self._read_statements()
        files = self._prune(spool_files(self._out))
        self._source.seal()
        used = sum(f.size for f in files)
        full: SpoolFull | None = None
        for origin in origins:
            try:
                used = self._write_files(origin, used)
            except SpoolFull as exc:
                full = exc
                break
        held = len(spool_files(self._out))
        with self._lock:
            self._stats.spool_bytes = used
            self._stats.spool_files = held
            self._stats.spool_limit = self._limit
            was_full = self._stats.spool_full
            self._stats.spool_full = full is not None
            self._stats.connected = True
            if full is not None and self._stats.current_error != full.message:
                self._stats.fail(full.message, self._now(), count=False)
            elif full is None and was_full:
                self._stats.recover(self._now())
        if full is not None and not was_full:
            log.warning("ferry.spool_full", link=self.name, used=full.used, limit=full.limit)
        self._resend(files)

    def _start(self, origins: Sequence[str]) -> None:
        """Resume: what was acknowledged (``link_acks``), and what the spool already holds (written, not acked)."""
        acks = {a.origin: a.acked_seq for a in self._source.link_acks() if a.link == self.name}
        for origin in origins:
            self._acked[origin] = acks.get(origin, 0)
            self._written[origin] = self._acked[origin]
        for f in spool_files(self._out):
            if f.sender == self.node and f.origin in origins:
                self._written[f.origin] = max(self._written[f.origin], f.last_seq)
        with self._lock:
            for origin in origins:
                s = self._stats.origins.setdefault(origin, OriginStats())
                s.acked_high_water = self._acked[origin]
                s.source_high_water = max(self._written.get(origin, 0), self._acked[origin])

    def _write_files(self, origin: str, used: int) -> int:
        while True:
            after = max(self._written[origin], self._acked[origin])
            batches = self._source.batches_after(origin, after, self._file_batches)
            if not batches:
                return used
            data, parts = encode_batch_file(self.node, batches, self._sign)
            if used and used + len(data) > self._limit:
                raise SpoolFull(
                    f"摆渡目录 {self._out} 已满（已用 {used} 字节，上限 {self._limit} 字节）：暂停封装新文件，"
                    "待接收端回执确认后自动恢复；请检查网闸是否在运送文件、回执是否送回",
                    used=used,
                    limit=self._limit,
                )
            write_atomically(self._out, file_name(*parts), data)
            used += len(data)
            self._written[origin] = batches[-1].last_seq
            with self._lock:
                s = self._stats.origins.setdefault(origin, OriginStats())
                s.sent_batches += len(batches)
                s.sent_records += sum(b.record_count for b in batches)
                s.source_high_water = max(s.source_high_water, batches[-1].last_seq)

    # --- statements --------------------------------------------------------------------------------------------

    def _read_statements(self) -> None:
        for entry in sorted(self._return.glob("statement.*.json")):
            try:
                data = entry.read_bytes()
            except FileNotFoundError:
                continue
            try:
                self._accept(decode_statement(data, entry.name))
            except FerryFileRefused as exc:
                log.warning("ferry.statement_refused", link=self.name, file=entry.name, error=exc.message)
                self._failed(exc.message)
                set_aside(entry, exc.message)
                continue
            entry.unlink(missing_ok=True)

    def _accept(self, read: tuple[Statement, bytes, bytes, tuple[bytes, ...]]) -> None:
        statement, digest, proof, chain = read
        name = f"回执（{statement.receiver} 于 {statement.issued_at_us}）"
        if statement.sender != self.node:
            raise FerryFileRefused(f"{name}是写给 {statement.sender} 的，不是本节点", reason="foreign")
        if self._verify is not None:
            try:
                receiver = self._verify(chain, proof, digest)
            except SunshineError as exc:
                raise FerryFileRefused(f"{name}签名验证失败：{exc.message}", reason="foreign") from exc
            if receiver != statement.receiver:
                raise FerryFileRefused(f"{name}的签名者是 {receiver}", reason="foreign")
        issued = statement.issued_at_us / 1e6
        for mark in statement.marks:
            if mark.origin not in self._acked:
                continue
            if mark.high_water > 0 and mark.high_water > self._acked[mark.origin]:
                held = self._source.batch_hash_at(mark.origin, mark.high_water)
                if held != mark.last_hash:
                    text = (
                        f"{name}称来源 {mark.origin} 已接收到 {mark.high_water}，其摘要与本节点封装的批次不符："
                        "接收端持有的数据与本节点不一致，请两端管理员核查"
                    )
                    log.error("ferry.statement_divergent", link=self.name, origin=mark.origin, seq=mark.high_water)
                    self._failed(text)
                    continue
                before = self._acked[mark.origin]
                self._acked[mark.origin] = mark.high_water
                self._source.record_ack(self.name, mark.origin, mark.high_water)
                with self._lock:
                    self._stats.recover(self._now())  # an acknowledgement: the link works again
                    s = self._stats.origins.setdefault(mark.origin, OriginStats())
                    s.acked_high_water = mark.high_water
                    s.acked_records += mark.high_water - before
                    s.acked_batches += 1
            if mark.high_water < self._written.get(mark.origin, 0):
                self._waiting_since[mark.origin] = max(self._waiting_since.get(mark.origin, 0.0), issued)
            else:
                self._waiting_since.pop(mark.origin, None)
        log.info("ferry.statement_accepted", link=self.name, receiver=statement.receiver, origins=len(statement.marks))

    def _prune(self, files: list[SpoolFile]) -> list[SpoolFile]:
        """Delete the files every record of which the receiver acknowledged; return the others."""
        kept = []
        for f in files:
            if f.sender == self.node and f.last_seq <= self._acked.get(f.origin, 0):
                f.path.unlink(missing_ok=True)
            else:
                kept.append(f)
        return kept

    def _resend(self, files: Sequence[SpoolFile]) -> None:
        """Write again the first unacknowledged file of an origin the receiver has been waiting on (a statement
        issued ``resend_after`` seconds after the file was written still shows it missing)."""
        for origin, since in list(self._waiting_since.items()):
            first = next((f for f in files if f.origin == origin and f.sender == self.node), None)
            if first is None or since - first.mtime < self._resend_after:
                continue
            write_atomically(self._out, first.path.name, first.path.read_bytes())
            log.info("ferry.file_resent", link=self.name, file=first.path.name)
            self._waiting_since.pop(origin, None)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _failed(self, message: str) -> None:
        with self._lock:
            self._stats.fail(message, self._now())
