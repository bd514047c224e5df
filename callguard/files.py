"""Files that hold caller data (database, journal, rejected records, log): private and durable."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600  # caller numbers and names are confidential (SEC-2): owner only


def sync_dir(directory: Path) -> None:
    """fsync a directory, so that a file just created in it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private(path: Path) -> bool:
    """Create `path` (and its folders) with mode 0600 unless it exists; True if it was created.
    The mode is set at creation, so there is no moment when others may read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return False
    os.close(fd)
    sync_dir(path.parent)
    return True


def open_private_append(path: Path) -> int:
    """An O_APPEND descriptor on `path` (readable too), created 0600 if missing."""
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, PRIVATE)  # read: its last byte
    if created:
        sync_dir(path.parent)
    return fd
