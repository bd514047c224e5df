"""The strict base of every settings model, and shapes several groups share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


# Directory strings end up in record columns (ids String(64), names String(128)): longer ones
# are refused here rather than clipped in every record.
ID_MAX, NAME_MAX = 64, 128
