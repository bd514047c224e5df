"""The pure decision core: who is who, and where a call goes. No I/O, no clock reads."""

from callguard.policy.decisions import CallRequest, Decision, Refuse, Route
from callguard.policy.directory import Directory, Party
from callguard.policy.routing import decide_call

__all__ = ["CallRequest", "Decision", "Directory", "Party", "Refuse", "Route", "decide_call"]
