"""Call control: one session per call, driven by ARI events; decisions come from `policy/`."""

from callguard.calls.manager import CallManager
from callguard.calls.session import CallSession, CallState, SessionContext

__all__ = ["CallManager", "CallSession", "CallState", "SessionContext"]
