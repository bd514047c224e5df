"""The AMI watcher: device state of every endpoint, for availability checks and operations."""

from callguard.ami.watcher import AmiWatcher

__all__ = ["AmiWatcher"]
