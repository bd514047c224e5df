"""The local journal (LOG-2): JSON lines appended with fsync while the database is away, replayed
in bounded batches from a byte-offset checkpoint; one process per journal (an flock)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from callguard.files import PRIVATE, create_private, open_private_append, sync_dir


class JournalInUse(Exception):
    """Another callguard process writes this journal: two writers would interleave and replay
    each other's records."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Journal:
    """Records waiting for the database. `offset` is how far replay has committed: lines before
    it are in the database. It is kept in `<journal>.offset` (with the file's inode, so that a
    new journal never inherits an old offset); a crash between a commit and the checkpoint only
    replays a batch twice, which the store ignores."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_path = path.with_name(path.name + ".rejected")
        self._offset_path = path.with_name(path.name + ".offset")
        self._lock_path = path.with_name(path.name + ".lock")
        self._lock: IO[bytes] | None = None
        self.offset = self._load_offset()

    # --- one process per journal -------------------------------------------------------

    def lock(self) -> None:
        """Hold an exclusive flock on `<journal>.lock` for the life of the process.
        Raises JournalInUse if another process holds it; OSError if it cannot be created."""
        create_private(self._lock_path)
        fh = self._lock_path.open("r+b")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = fh.read(20).decode(errors="replace").strip() or "?"
            fh.close()
            raise JournalInUse(
                f"journal {self.path} is in use by another callguard process (pid {pid})"
            ) from None
        fh.truncate(0)
        fh.write(str(os.getpid()).encode())
        fh.flush()
        self._lock = fh

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    # --- appending -----------------------------------------------------------------------

    def append(self, lines: list[str]) -> None:
        """Append lines durably (fsync). On failure nothing of them stays (the file is cut back),
        and OSError says why: the caller keeps the records."""
        data = "".join(line + "\n" for line in lines).encode()
        fd = open_private_append(self.path)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A crash mid-write left a torn last line: end it, or it swallows the next record.
                data = b"\n" + data
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)

    def set_aside(self, line: str) -> None:
        """Append one line to `<journal>.rejected` (durably): kept for an operator, never replayed."""
        fd = open_private_append(self.rejected_path)
        try:
            _write_all(fd, (line.rstrip("\n") + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- replaying -----------------------------------------------------------------------

    def has_records(self) -> bool:
        try:
            return self.path.is_file() and self.path.stat().st_size > self.offset
        except OSError:
            return False

    def pending_lines(self) -> int:
        """Non-empty lines not yet replayed."""
        if not self.has_records():
            return 0
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            return sum(1 for line in fh if line.strip())

    def read(self, max_lines: int) -> list[tuple[str, int]]:
        """Up to `max_lines` lines from the checkpoint on, each with the offset just after it."""
        out: list[tuple[str, int]] = []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            while len(out) < max_lines:
                raw = fh.readline()
                if not raw:
                    break
                out.append((raw.decode("utf-8", errors="replace").strip(), fh.tell()))
        return out

    def advance(self, offset: int) -> None:
        """Everything before `offset` is handled: never replay it again. The checkpoint file is
        best effort (a full disk): the offset in memory holds for this process."""
        self.offset = offset
        with contextlib.suppress(OSError):
            ino = self.path.stat().st_ino
            tmp = self._offset_path.with_name(self._offset_path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
            try:
                _write_all(fd, f"{ino} {offset}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._offset_path)

    def finish(self) -> bool:
        """The whole journal is in the database: remove it (the offset first, so that a crash
        in between replays it again rather than skipping a new journal). True if removed."""
        try:
            self._offset_path.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            sync_dir(self.path.parent)
        except OSError:
            return False
        self.offset = 0
        return True

    def _load_offset(self) -> int:
        try:
            ino, offset = (int(part) for part in self._offset_path.read_text().split())
            stat = self.path.stat()
        except (OSError, ValueError):
            return 0
        return offset if ino == stat.st_ino and 0 <= offset <= stat.st_size else 0
