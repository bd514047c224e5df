"""Call control: one session per call, driven by ARI events; decisions come from `policy/`."""

from callguard.calls.context import SessionContext
from callguard.calls.manager import CallManager
from callguard.calls.session import CallSession, CallState

__all__ = ["CallManager", "CallSession", "CallState", "SessionContext"]
