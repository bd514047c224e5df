"""LOG-5: the escalation ladder, fines at its steps, and appeals."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, field_validator

from callguard.config.base import Strict


class LadderStep(StrEnum):
    """LOG-5's escalation steps, mildest first."""

    verbal_warning = "verbal_warning"  # 口头警告
    written_warning = "written_warning"  # 书面警告
    fine = "fine"  # 罚款
    referral = "referral"  # 移交处理


_RULE_ID = r"^[A-Z]{2,5}-[0-9]{1,2}$"


class ViolationSettings(Strict):
    """LOG-5: a person's n-th violation still counting within `window_days` gets step n of its
    ladder (the last step repeats); serious ones climb `serious_ladder`. Severities in
    `unladdered_severities` (security alerts) are recorded without a step. `fines` (元) apply at
    those steps to rules whose own fine is 0. Appeals within `appeal_working_days`."""

    window_days: int = Field(default=90, ge=1, le=3650)
    ladder: tuple[LadderStep, ...] = Field(default=tuple(LadderStep), min_length=1)
    serious_ladder: tuple[LadderStep, ...] = Field(
        default=(LadderStep.fine, LadderStep.referral), min_length=1
    )
    serious_rules: tuple[str, ...] = ("OUT-1",)
    serious_severities: tuple[str, ...] = ("serious",)
    unladdered_severities: tuple[str, ...] = ("alert",)
    fines: dict[LadderStep, Decimal] = Field(default_factory=lambda: {LadderStep.fine: Decimal(50)})
    appeal_working_days: int = Field(default=5, ge=1, le=60)

    @field_validator("serious_rules", mode="after")
    @classmethod
    def _rule_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for rule in value:
            if not re.fullmatch(_RULE_ID, rule):
                raise ValueError(f"{rule!r} is not a rule ID such as OUT-1 (the policy's rule IDs)")
        return value

    @field_validator("fines", mode="after")
    @classmethod
    def _money(cls, value: dict[LadderStep, Decimal]) -> dict[LadderStep, Decimal]:
        if any(not 0 <= amount < 10**8 for amount in value.values()):
            raise ValueError("each fine is 0 or more 元, below 100000000")
        return value
