"""Deleting recording files: the port a purge uses, and its adapter for a directory of exported recordings.

The adapter only ever touches files under its root: a segment URI (``file:///…`` or a path, absolute or relative
to the root) that resolves outside the root — through ``..`` or a symbolic link — is refused, never deleted.
"""

from __future__ import annotations

import enum
import errno
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import structlog

__all__ = ["DirectoryFiles", "FileResult", "RecordingFiles"]

log = structlog.get_logger(__name__)


class FileResult(enum.StrEnum):
    REMOVED = "removed"  # 已删除
    MISSING = "missing"  # 文件已不存在（不影响清理）
    REFUSED = "refused"  # 不在录像目录内，拒绝删除
    FAILED = "failed"  # 删除失败（权限等）


class RecordingFiles(Protocol):
    def remove(self, uris: Iterable[str]) -> dict[str, FileResult]:
        """Delete the recordings behind ``uris``; the outcome for each (a missing file is not an error)."""
        ...


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_MAX_OPEN_DIRS = 256


class _RootUnusable(Exception):
    """The root cannot be opened as the directory it was: every file of the call gets ``result``."""

    def __init__(self, result: FileResult, detail: str) -> None:
        super().__init__(detail)
        self.result = result
        self.detail = detail


class _Directories:
    """Open descriptors of directories under the root, each opened once per purge and component by component with
    ``O_NOFOLLOW`` — the root itself too, from ``/`` down (it was resolved when the adapter was built: a link on
    its way now means it was swapped). A file is then looked at and unlinked *relative to its directory's
    descriptor*, so a directory swapped for a symbolic link after it was opened cannot lead the purge out of the
    root. The root is opened on first use, so a call that never touches the disk never fails on it."""

    _FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

    def __init__(self, root: str) -> None:
        self._root = root
        self._open: dict[tuple[str, ...], int] = {}
        self.unusable: _RootUnusable | None = None

    def _open_root(self) -> int:
        if self.unusable is not None:
            raise self.unusable
        fd = os.open(os.sep, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in (p for p in self._root.split(os.sep) if p):
                inner = os.open(name, self._FLAGS, dir_fd=fd)
                os.close(fd)
                fd = inner
        except FileNotFoundError:
            os.close(fd)
            self.unusable = _RootUnusable(FileResult.MISSING, f"录像目录 {self._root} 不存在")
            raise self.unusable from None
        except OSError as exc:  # a link or no directory on the way: the root was swapped or replaced
            os.close(fd)
            self.unusable = _RootUnusable(FileResult.REFUSED, f"录像目录 {self._root} 已不是原来的目录：{exc}")
            raise self.unusable from None
        return fd

    def fd(self, parts: tuple[str, ...]) -> int:
        """The descriptor of the directory ``root/parts…``; OSError (ELOOP, ENOTDIR) when a component is a link or
        no directory, FileNotFoundError when one is missing. Iterative: a path of any depth."""
        found = self._open.get(parts)
        if found is not None:
            return found
        if len(self._open) > _MAX_OPEN_DIRS:
            self._close(keep_root=True)
        if () not in self._open:
            self._open[()] = self._open_root()
        depth = len(parts)
        while parts[:depth] not in self._open:  # the deepest directory already open
            depth -= 1
        fd = self._open[parts[:depth]]
        for i in range(depth, len(parts)):
            fd = self._open[parts[: i + 1]] = os.open(parts[i], self._FLAGS, dir_fd=fd)
        return fd

    def _close(self, *, keep_root: bool) -> None:
        for parts, fd in list(self._open.items()):
            if parts or not keep_root:
                os.close(fd)
                del self._open[parts]

    def close(self) -> None:
        self._close(keep_root=False)


class DirectoryFiles:
    """Recordings stored as files under ``root`` (an NVR export folder or a hall's video share).

    A purge removes a day's recordings — a hundred thousand files and more. Each directory on the way is opened
    once per purge (``O_NOFOLLOW``, from the root down) and each file costs one ``lstat`` and one ``unlink``
    relative to its directory's descriptor (``realpath`` of every component of every path was most of a purge's
    time, and a name resolved once and reused would follow a directory swapped for a link in between). A path
    with ``..``, a directory on the way that is a symbolic link, or a file that is one, is resolved in full
    (``realpath``) and then walked the same way — removed only when it is a regular file under the root (for a
    file that is a link, its target; the link then dangles)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._root = str(self.root)
        self._prefix = self._root.rstrip(os.sep) + os.sep

    def _raw(self, uri: str) -> str | None:
        """The path ``uri`` names (absolute, not yet resolved); None for a URI that is no file of this adapter."""
        raw = uri
        if _SCHEME.match(uri):
            parsed = urlparse(uri)
            if parsed.scheme == "file":
                raw = unquote(parsed.path)
            elif len(parsed.scheme) != 1:  # (one letter: a Windows drive)
                return None  # rtsp://, http://: not a file this adapter owns
        return raw if os.path.isabs(raw) else os.path.join(self._root, raw)

    def _parts(self, path: str) -> tuple[str, ...] | None:
        """The components of ``path`` below the root, as written; None when it is not below the root as written or
        goes through ``..`` (resolved in full instead: ``a/..`` is not ``.`` when ``a`` is a link)."""
        if not path.startswith(self._prefix):
            return None
        parts = tuple(p for p in path[len(self._prefix) :].split(os.sep) if p not in {"", "."})
        if not parts or ".." in parts:
            return None
        return parts

    def remove(self, uris: Iterable[str]) -> dict[str, FileResult]:
        results: dict[str, FileResult] = {}
        problems: dict[FileResult, list[str]] = {FileResult.REFUSED: [], FileResult.FAILED: []}
        dirs = _Directories(self._root)
        try:
            for uri in uris:
                result, detail = self._remove_one(uri, dirs)
                results[uri] = result
                if result in problems:
                    problems[result].append(f"{uri}: {detail}" if detail else uri)
        finally:
            dirs.close()
        if dirs.unusable is not None:
            log.warning("video.root_unusable", root=self._root, reason=dirs.unusable.detail, count=len(results))
        # one line per kind of problem, not one per file: a purge of a day's recordings on a misconfigured root
        # would otherwise write a hundred thousand lines (each file's outcome is in the purge log)
        for result, found in problems.items():
            if found:
                log.warning(f"video.file_{result.value}", count=len(found), root=self._root, first=found[:5])
        return results

    def _remove_one(self, uri: str, dirs: _Directories) -> tuple[FileResult, str]:
        """The outcome for ``uri`` and, for a failure, the system's reason."""
        try:
            raw = self._raw(uri)
            if raw is None:
                return FileResult.REFUSED, ""
            parts = self._parts(raw)
            for resolved in (False, True):  # the path as written; then, when a link or ``..`` is met, its real path
                if parts is None or resolved:
                    parts = self._parts(os.path.realpath(raw))
                    if parts is None:
                        return FileResult.REFUSED, ""  # it lies outside the root, or is the root itself
                try:
                    directory = dirs.fd(parts[:-1])
                except OSError as exc:
                    if exc.errno not in {errno.ELOOP, errno.ENOTDIR}:
                        raise  # missing (MISSING below), or a real failure (FAILED, with the system's reason)
                    if resolved:  # its real path still meets a link or a file on the way: no such recording
                        return (FileResult.REFUSED if exc.errno == errno.ELOOP else FileResult.MISSING), ""
                    continue  # a directory on the way is a link (ENOTDIR on Linux, ELOOP elsewhere) or a file
                mode = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):  # the file is a link: where it really points decides
                    continue
                if not stat.S_ISREG(mode):  # a directory or a device: never removed
                    return FileResult.REFUSED, ""
                os.unlink(parts[-1], dir_fd=directory)
                return FileResult.REMOVED, ""
            return FileResult.REFUSED, ""  # still a link after resolving (changed under us): left alone
        except _RootUnusable as exc:
            return exc.result, exc.detail
        except FileNotFoundError:
            return FileResult.MISSING, ""
        except ValueError:  # a NUL in the path: no file can have that name
            return FileResult.REFUSED, ""
        except OSError as exc:
            return FileResult.FAILED, str(exc)
