"""LOG-1: calls the dialplan handles alone (emergency calls, OUT-6; the fail-safe paths while
callguard is not connected) still get one record each, marked `handled_by = "dialplan"`: live
from the dialplan's AMI UserEvents while callguard runs, else imported from Asterisk's CDR when
it is back. Both name a call by its caller channel's UNIQUEID, so it is stored once."""

from callguard.dialplan_calls.importer import CdrImporter, ImportResult
from callguard.dialplan_calls.live import USER_EVENT, DialplanCalls
from callguard.dialplan_calls.mapping import DialplanCall, DialplanRecords, parse_cdr_row

__all__ = [
    "USER_EVENT",
    "CdrImporter",
    "DialplanCall",
    "DialplanCalls",
    "DialplanRecords",
    "ImportResult",
    "parse_cdr_row",
]
