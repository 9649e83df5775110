"""Deleting recording files: the port a purge uses, and its adapter for a directory of exported recordings.

The adapter only ever touches files under its root: a segment URI (``file:///…`` or a path, absolute or relative
to the root) that resolves outside the root — through ``..`` or a symbolic link — is refused, never deleted.
"""

from __future__ import annotations

import enum
import os
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


class DirectoryFiles:
    """Recordings stored as files under ``root`` (an NVR export folder or a hall's video share).

    A purge removes a day's recordings — a hundred thousand files and more — so each directory is resolved once
    per call (``realpath`` of every component of every file's path was most of a purge's time) and each file costs
    one ``lstat`` and one ``unlink``; a file that is itself a symbolic link is resolved in full and removed only
    when its target is a regular file under the root (the target is removed, the link then dangles, as before)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._root = str(self.root)

    def _raw(self, uri: str) -> str | None:
        """The path ``uri`` names (absolute, not yet resolved); None for a URI that is no file of this adapter."""
        if "://" not in uri and not uri.startswith("file:"):
            raw = uri  # a plain path, the common case: no URL parsing
        else:
            parsed = urlparse(uri)
            if parsed.scheme == "file":
                raw = unquote(parsed.path)
            elif len(parsed.scheme) == 1:  # a Windows drive letter
                raw = uri
            else:
                return None  # rtsp://, http://: not a file this adapter owns
        return raw if os.path.isabs(raw) else os.path.join(self._root, raw)

    def _inside(self, resolved: str) -> bool:
        return resolved != self._root and resolved.startswith(self._root.rstrip(os.sep) + os.sep)

    def _path(self, uri: str, dirs: dict[str, str]) -> str | None:
        """The resolved path of ``uri`` under the root, its directory resolved once per call (``dirs``); None when
        it lies outside the root."""
        raw = self._raw(uri)
        if raw is None:
            return None
        head, name = os.path.split(raw)
        if name in {"", ".", ".."}:
            resolved = os.path.realpath(raw)
        else:
            parent = dirs.get(head)
            if parent is None:
                parent = dirs[head] = os.path.realpath(head)
            resolved = os.path.join(parent, name)
        return resolved if self._inside(resolved) else None

    def remove(self, uris: Iterable[str]) -> dict[str, FileResult]:
        results: dict[str, FileResult] = {}
        problems: dict[FileResult, list[str]] = {FileResult.REFUSED: [], FileResult.FAILED: []}
        dirs: dict[str, str] = {}
        for uri in uris:
            result, detail = self._remove_one(uri, dirs)
            results[uri] = result
            if result in problems:
                problems[result].append(f"{uri}: {detail}" if detail else uri)
        # one line per kind of problem, not one per file: a purge of a day's recordings on a misconfigured root
        # would otherwise write a hundred thousand lines (each file's outcome is in the purge log)
        for result, found in problems.items():
            if found:
                log.warning(f"video.file_{result.value}", count=len(found), root=self._root, first=found[:5])
        return results

    def _remove_one(self, uri: str, dirs: dict[str, str]) -> tuple[FileResult, str]:
        """The outcome for ``uri`` and, for a failure, the system's reason."""
        path = self._path(uri, dirs)
        if path is None:
            return FileResult.REFUSED, ""
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):  # the file is a link: where it really points decides
                path = os.path.realpath(path)
                if not self._inside(path):
                    return FileResult.REFUSED, ""
                mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode):  # a directory or a device: never removed
                return FileResult.REFUSED, ""
            os.unlink(path)
            return FileResult.REMOVED, ""
        except FileNotFoundError:
            return FileResult.MISSING, ""
        except OSError as exc:
            return FileResult.FAILED, str(exc)
