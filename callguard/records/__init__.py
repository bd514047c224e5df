"""What a finished call leaves behind (LOG-1): the record types and their one JSON codec,
shared by the session, the journal and the store (none of which the records import)."""

from callguard.records.call import ENDED_UNOBSERVED, IN_PROGRESS, CallRecord, LegRecord
from callguard.records.codec import from_json, to_json

__all__ = ["ENDED_UNOBSERVED", "IN_PROGRESS", "CallRecord", "LegRecord", "from_json", "to_json"]
