"""SQLAlchemy models: one row per call, one per leg (POLICY LOG-1)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that binds every zoned value in UTC, as the values are stored.
    SQLite keeps only a value's wall-clock digits: a bound in local time (the wallboard's local
    midnight, an auditor's "since 08:00") was compared with the stored UTC digits, off by the
    zone's offset. Values read back are as before."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


class Base(DeclarativeBase):
    pass


# LOG-4 (migration 0014): the month's spend reads the priced (outside) calls only.
_PRICED = text("cost IS NOT NULL")


class CallRow(Base):
    __tablename__ = "calls"
    # A call id is unique per Asterisk only: records are keyed by (node, call_id) (migration 0005).
    __table_args__ = (
        Index("ux_calls_node_call_id", "node", "call_id", unique=True),
        Index(
            "ix_calls_priced_department",
            "caller_department",
            "started_at",
            sqlite_where=_PRICED,
            postgresql_where=_PRICED,
        ),
        Index(
            "ix_calls_priced_budget",
            "budget",
            "started_at",
            sqlite_where=_PRICED,
            postgresql_where=_PRICED,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), index=True)
    node: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))
    dialed: Mapped[str] = mapped_column(String(64))
    caller_number: Mapped[str] = mapped_column(String(64), index=True)
    caller_name: Mapped[str | None] = mapped_column(String(128))
    caller_department: Mapped[str | None] = mapped_column(String(64), index=True)  # 0011: console scopes
    caller_line: Mapped[str | None] = mapped_column(String(64))  # the desk phone's PJSIP endpoint
    callee_number: Mapped[str | None] = mapped_column(String(64), index=True)
    callee_name: Mapped[str | None] = mapped_column(String(128))
    callee_department: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    ringing_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    talk_s: Mapped[float | None] = mapped_column(Float)
    disposition: Mapped[str] = mapped_column(String(32), index=True)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_by: Mapped[str | None] = mapped_column(String(16))
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    readopted: Mapped[bool] = mapped_column(Boolean, default=False)
    number_class: Mapped[str | None] = mapped_column(String(16))
    authorized_by: Mapped[str | None] = mapped_column(String(64))
    matter: Mapped[str | None] = mapped_column(String(16))
    transfers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # LOG-4 (migration 0007): the price of an outside call, the tariff entry and the budget.
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 4, asdecimal=True))
    tariff: Mapped[str | None] = mapped_column(String(64))
    budget: Mapped[str | None] = mapped_column(String(96), index=True)
    # LOG-1 (migration 0009): "callguard", or "dialplan" for a call that never entered Stasis.
    handled_by: Mapped[str] = mapped_column(String(16), default="callguard", server_default="callguard")
    # LOG-6 (migration 0012): the supervision recording of a sampled outside call.
    recording: Mapped[str | None] = mapped_column(String(256), index=True)
    # Migration 0013: the prompts callguard played to the caller, in order.
    prompts: Mapped[list[str] | None] = mapped_column(JSON)

    legs: Mapped[list[LegRow]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="LegRow.id", lazy="selectin"
    )


class LegRow(Base):
    __tablename__ = "call_legs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_pk: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(160))
    number: Mapped[str] = mapped_column(String(64), index=True)  # 0011: the phones that rang
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ringing_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(128))
    rings_at_answer: Mapped[int | None] = mapped_column(Integer)

    call: Mapped[CallRow] = relationship(back_populates="legs")


class ViolationRow(Base):
    """The violations ledger (LOG-5): one row per rule broken or attempted on a call."""

    __tablename__ = "violations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), index=True)
    node: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(16), index=True)
    extension: Mapped[str] = mapped_column(String(64), index=True)
    person: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(256))
    fine_yuan: Mapped[Decimal] = mapped_column(Numeric(10, 2, asdecimal=True))
    severity: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # LOG-5 (migration 0008): the ladder step given when it was stored, the appeal status and
    # the last local day an appeal is accepted; no step = a security alert or no person.
    step: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    appeal_by: Mapped[date | None] = mapped_column(Date)


class ViolationEventRow(Base):
    """LOG-5: every change of a violation (step assigned, appealed, upheld, overturned), who and when."""

    __tablename__ = "violation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violations.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    action: Mapped[str] = mapped_column(String(32))
    by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(512))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BlockRow(Base):
    """SEC-1's blocklist: numbers or prefixes refused politely; `until` ends automatic blocks."""

    __tablename__ = "blocklist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(64), index=True)
    prefix: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(256))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class MessageRow(Base):
    """XFER-3: a message an outside caller left for someone who did not answer."""

    __tablename__ = "messages"
    __table_args__ = (Index("ux_messages_node_call_id", "node", "call_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128))
    node: Mapped[str | None] = mapped_column(String(64))
    for_ext: Mapped[str] = mapped_column(String(16), index=True)
    for_person: Mapped[str | None] = mapped_column(String(64), index=True)  # 0011
    caller_number: Mapped[str] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(128))
    left_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    duration_s: Mapped[float | None] = mapped_column(Float)
    recording: Mapped[str] = mapped_column(String(256))
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_by: Mapped[str | None] = mapped_column(String(64))


class PinFailureRow(Base):
    """OUT-3: a wrong authorization code, kept so that a restart does not reset PIN lockouts."""

    __tablename__ = "pin_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    line: Mapped[str] = mapped_column(String(64))
    person: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(128))


class BudgetRow(Base):
    """LOG-4: a monthly budget set with `callguard budget set`; overrides the config's."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("scope", "name", name="ux_budgets_scope_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "person" or "department"
    name: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 4, asdecimal=True))
    action: Mapped[str] = mapped_column(String(16))  # alert | downgrade | block
    downgrade_to: Mapped[str | None] = mapped_column(String(16))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BudgetAlertRow(Base):
    """LOG-4: one row per budget, month and threshold crossed: the unique key makes the alert
    once per month even with several nodes (the one whose insert succeeds announces it)."""

    __tablename__ = "budget_alerts"
    __table_args__ = (UniqueConstraint("budget", "month", "threshold_pct", name="ux_budget_alerts_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    budget: Mapped[str] = mapped_column(String(96))
    month: Mapped[str] = mapped_column(String(7))
    threshold_pct: Mapped[int] = mapped_column(Integer)
    spend: Mapped[Decimal] = mapped_column(Numeric(12, 4, asdecimal=True))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class CdrImportRow(Base):
    """LOG-1: how far `cdr import` has read one CDR file (migration 0009)."""

    __tablename__ = "cdr_imports"

    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(64))  # device:inode: another file starts at 0
    offset: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)  # CDR rows read so far
    imported: Mapped[int] = mapped_column(BigInteger)  # records created from them
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
