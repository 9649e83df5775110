"""Deleting recording files: the port a purge uses, and its adapter for a directory of exported recordings.

The adapter only ever touches files under its root: a segment URI (``file:///…`` or a path, absolute or relative
to the root) that resolves outside the root — through ``..`` or a symbolic link — is refused, never deleted.
"""

from __future__ import annotations

import enum
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
    """Recordings stored as files under ``root`` (an NVR export folder or a hall's video share)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, uri: str) -> Path | None:
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            raw = Path(unquote(parsed.path))
        elif parsed.scheme in {"", None} or len(parsed.scheme) == 1:  # a plain path (or a Windows drive letter)
            raw = Path(uri)
        else:
            return None  # rtsp://, http://: not a file this adapter owns
        path = raw if raw.is_absolute() else self.root / raw
        resolved = path.resolve()
        if resolved == self.root or not resolved.is_relative_to(self.root):
            return None
        return resolved

    def remove(self, uris: Iterable[str]) -> dict[str, FileResult]:
        results: dict[str, FileResult] = {}
        for uri in uris:
            path = self._path(uri)
            if path is None:
                log.warning("video.file_refused", uri=uri, root=str(self.root))
                results[uri] = FileResult.REFUSED
                continue
            try:
                if not path.is_file():
                    exists = path.exists()  # a directory or a device: never removed
                    results[uri] = FileResult.REFUSED if exists else FileResult.MISSING
                    continue
                path.unlink()
                results[uri] = FileResult.REMOVED
            except FileNotFoundError:
                results[uri] = FileResult.MISSING
            except OSError as exc:
                log.warning("video.file_failed", uri=uri, error=str(exc))
                results[uri] = FileResult.FAILED
        return results
