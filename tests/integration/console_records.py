"""A console over a real SQLite database filled by the real record writer (write_records, with
the configuration's LOG-5 ladder): the example company's config, five calls of today, an account
per role with an API token, and an httpx client talking to the ASGI app."""

from __future__ import annotations

import shutil
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from callguard.config import Config, load_config
from callguard.policy import Party
from callguard.policy.ladder import Ladder
from callguard.records import CallRecord, LegRecord
from callguard.store import make_engine, migrate, write_records
from callguard.store.accounts import add_account, create_token, find_account, open_session
from callguard.web.app import create_app
from callguard.web.auth import hash_password

REPO = Path(__file__).resolve().parents[2]
# One account per role: the login name is the person's directory id.
ACCOUNTS = {
    "wang.li": "admin",
    "he.gang": "auditor",
    "zhao.min": "finance",
    "liu.yang": "head",  # heads sales in directory.toml
    "chen.jie": "employee",
    "ma.lin": "operations",
    "zhou.qiang": "employee",  # has a violation to appeal
}
OUTSIDE = "13800138000"
CARRIER_NUMBER = "13912345678"
MESSAGE_RECORDING = "msg-console-test.wav"


def _party(number: str, name: str, dept: str, person: str) -> Party:
    return Party(number, name, dept, person=person, internal=True)


CHEN = _party("1003", "陈杰 Chen Jie", "admin", "chen.jie")
WANG = _party("1001", "王丽 Wang Li", "admin", "wang.li")
LIU = _party("2001", "刘洋 Liu Yang", "sales", "liu.yang")
ZHOU = _party("2003", "周强 Zhou Qiang", "sales", "zhou.qiang")


def _call(call_id: str, minutes: int, direction: str, dialed: str, caller: Party, **kw: Any) -> CallRecord:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
    rec = CallRecord(call_id, "node1", direction, dialed, caller, started_at=start, **kw)
    rec.legs.append(LegRecord("caller", f"{call_id}-c", caller.number, started_at=start))
    return rec


def _at(rec: CallRecord, seconds: int = 0) -> str:
    assert rec.started_at is not None
    return (rec.started_at + timedelta(seconds=seconds)).isoformat()


def _rang(rec: CallRecord, ext: str, rings: int | None, after_s: int = 0) -> LegRecord:
    assert rec.started_at is not None
    at = rec.started_at + timedelta(seconds=after_s)
    leg = LegRecord("callee", f"{rec.call_id}-{ext}", ext, started_at=at, ringing_at=at)
    if rings is not None:
        leg.answered_at = at + timedelta(seconds=rings)
        leg.rings_at_answer = rings
        rec.answered_at = leg.answered_at
    rec.legs.append(leg)
    return leg


def records() -> list[CallRecord]:
    """internal-1: 王丽 calls 陈杰, answered at ring 2. inbound-2: an outside caller for 刘洋,
    who lets it ring out (ANS-1); 周强 answers at ring 1. outbound-3: 陈杰 calls a mobile,
    0.44 元, matter 42. outbound-4: 周强 dials a 168 number, refused (OUT-1). message-5: an
    outside caller leaves 陈杰 a message."""
    internal = _call("internal-1", 50, "internal", "1003", WANG, callee=CHEN, disposition="answered")
    _rang(internal, "1003", 2)
    internal.decisions = [{"action": "route", "target": "1003", "reason": "extension", "rule": None}]
    inbound = _call("inbound-2", 40, "inbound", "2001", Party(OUTSIDE), callee=ZHOU, disposition="answered")
    _rang(inbound, "2001", None)
    _rang(inbound, "2003", 1, after_s=15)
    inbound.decisions = [
        {
            "action": "route",
            "target": "2001",
            "reason": "extension",
            "rule": "ANS-3",
            "greeting": "greeting_sales",
        }
    ]
    inbound.violations = [
        {"rule": "ANS-1", "extension": "2001", "person": "liu.yang", "reason": "not answered within 3 rings",
         "fine_yuan": "0", "severity": "minor", "at": _at(inbound, 15)}
    ]  # fmt: skip
    outbound = _call(
        "outbound-3", 30, "outbound", CARRIER_NUMBER, CHEN, callee=Party(CARRIER_NUMBER),
        disposition="answered", number_class="mobile", matter="42", cost=Decimal("0.44"), tariff="mobile",
        budget="department:admin",
    )  # fmt: skip
    _rang(outbound, CARRIER_NUMBER, 1)
    outbound.decisions = [
        {"action": "dial_out", "number": CARRIER_NUMBER, "reason": "allowed", "rule": "OUT-3"}
    ]
    premium = _call(
        "outbound-4", 20, "outbound", "16812345", ZHOU, disposition="premium_number", number_class="premium"
    )
    premium.decisions = [
        {"action": "refuse", "reason": "premium", "rule": "OUT-1", "prompt": "premium_refused"}
    ]
    premium.violations = [
        {"rule": "OUT-1", "extension": "2003", "person": "zhou.qiang", "reason": "premium-rate number",
         "fine_yuan": "50", "severity": "serious", "at": _at(premium)}
    ]  # fmt: skip
    message = _call(
        "message-5", 10, "inbound", "1003", Party("13800001111"), callee=CHEN, disposition="message"
    )
    _rang(message, "1003", None)
    message.message = {
        "for_ext": "1003", "for_person": "chen.jie", "caller_number": "13800001111", "caller_name": None,
        "left_at": _at(message, 20), "duration_s": 4.5,
        "recording": MESSAGE_RECORDING,
    }  # fmt: skip
    for rec in (internal, inbound, outbound, premium, message):
        assert rec.started_at is not None
        rec.ended_at = rec.started_at + timedelta(seconds=60)
    return [internal, inbound, outbound, premium, message]


def admins_own_violation() -> CallRecord:
    """own-6: 王丽, the administrator, dials a 168 number herself: an OUT-1 in her own name
    (LOG-5: she may appeal it like anyone; another administrator decides it)."""
    rec = _call("own-6", 5, "outbound", "16800000000", WANG, disposition="premium_number")
    rec.number_class = "premium"
    rec.ended_at = rec.started_at
    rec.violations = [
        {"rule": "OUT-1", "extension": "1001", "person": "wang.li", "reason": "premium-rate number",
         "fine_yuan": "50", "severity": "serious", "at": _at(rec)}
    ]  # fmt: skip
    return rec


def _silence(path: Path, seconds: float = 1.0) -> None:
    """A playable message: 8 kHz mono 16-bit, as Asterisk records one (a browser can play it)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))


def console_config(tmp: Path, database_url: str | None = None) -> Config:
    """The shipped example config and directory, with the state (SQLite) in `tmp`, or the
    records in `database_url`."""
    for name in ("callguard.toml", "directory.toml", "tariffs.toml", "pins.toml"):
        shutil.copy(REPO / "config" / name, tmp / name)
    recordings = tmp / "recordings"
    recordings.mkdir()
    _silence(recordings / MESSAGE_RECORDING)
    text = (tmp / "callguard.toml").read_text()
    assert "\n[console]\n" in text  # the example documents the table; the test adds one key
    text = text.replace("\n[console]\n", f'\n[console]\nrecordings_dir = "{recordings}"\n', 1)
    (tmp / "callguard.toml").write_text(text)
    env = {
        "CALLGUARD_STATE_DIR": str(tmp),
        "CALLGUARD_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp / 'cg.db'}",
        "CALLGUARD_ARI_PASSWORD": "ari-test-secret",
        "CALLGUARD_AMI_PASSWORD": "ami-test-secret",
    }
    return load_config(tmp / "callguard.toml", env)


@dataclass
class Console:
    config: Config
    engine: Any
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, person: str) -> httpx.AsyncClient:
        """An API client signed in as `person` with a bearer token."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("127.0.0.9", 5000)),
            base_url="http://console",
            headers={"Authorization": f"Bearer {self.tokens[person]}"},
        )

    async def browser(self, person: str) -> tuple[httpx.AsyncClient, str]:
        """A client with a session cookie (as a browser has) and its CSRF token."""
        account = await find_account(self.engine, person)
        assert account is not None
        session_id, csrf = await open_session(self.engine, account.id, 1)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("127.0.0.9", 5000)),
            base_url="http://console",
            cookies={"callguard_session": session_id},
            headers={"Accept": "text/html"},
        )
        return client, csrf


async def console(tmp: Path, database_url: str | None = None) -> AsyncIterator[Console]:
    config = console_config(tmp, database_url)
    engine = make_engine(config.database.url)
    await migrate(engine)
    await write_records(engine, records(), Ladder.from_config(config))
    made = Console(config, engine, create_app(config, engine))
    for person, role in ACCOUNTS.items():
        await add_account(engine, person, role, hash_password("correct horse battery"))
        made.tokens[person] = (await create_token(engine, person, "test"))[1]
    try:
        yield made
    finally:
        await engine.dispose()
