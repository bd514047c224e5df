"""LOG-3 / SEC-2, the role × endpoint matrix: every route the console serves, asked by every role
(and by nobody), over a real uvicorn server on a real SQLite database filled by the real record
writer. Each cell's answer is written down here; a route with no row fails the test. Every read,
allowed or refused, leaves an audit entry; no role without the right sees an outside number."""

from __future__ import annotations

import asyncio
import importlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute
from sqlalchemy import select, update

from callguard.store.audit import list_entries
from callguard.store.models import CallRow, MessageRow, ViolationRow
from callguard.web.app import ROUTER_MODULES
from tests.integration.console_records import CARRIER_NUMBER, OUTSIDE, Console, console

ROLES = ("admin", "auditor", "finance", "head", "employee", "operations")
PERSON = {  # one account per role (tests/integration/console_records.py makes them)
    "admin": "wang.li",
    "auditor": "he.gang",
    "finance": "zhao.min",
    "head": "liu.yang",  # heads sales
    "employee": "chen.jie",  # admin department, extension 1003
    "operations": "ma.lin",
}
# Outside numbers in the records: only admin and auditor ([console] unmasked_roles) may see them.
OUTSIDE_NUMBERS = (OUTSIDE, CARRIER_NUMBER, "13800001111")
MONTH = datetime.now().strftime("%Y-%m")  # the records are from the last hour


def cells(allowed: str, ok: int = 200, **special: int) -> dict[str, int]:
    """Each role's answer: `ok` for the roles in `allowed`, 403 for the others, unless `special`."""
    return {role: special.get(role, ok if role in allowed.split() else 403) for role in ROLES}


@dataclass(frozen=True)
class Row:
    url: str  # with the path parameters filled in; {call} is each role's own sample call
    answers: dict[str, int]
    what: str  # the kind of data (access.WHATS): refusals are audited as `<what>.refused`
    body: dict[str, str] = field(default_factory=dict)  # for POST
    employee: str = "chen.jie"  # who asks for the employee role

    def person(self, role: str) -> str:
        return self.employee if role == "employee" else PERSON[role]


# Who may read each kind of data (README "The console": the role × data matrix).
CALLS = "admin auditor finance head employee"
VIOLATIONS = MESSAGES = "admin auditor head employee"
REPORTS = "admin auditor head"
BILLS = "admin auditor finance head"
WALLBOARD = "admin auditor head operations"
AUDIT = RECORDINGS = "admin auditor"
SUPERVISION_RECORDING = "supervision-inbound-2.wav"  # LOG-6: the sampled call inbound-2 was recorded
# A call each role may open: the head's is a sales call, the others' 陈杰's.
SAMPLE_CALL = {"head": "node1/inbound-2"}
DEFAULT_CALL = "node1/internal-1"

MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/calls"): Row("/api/v1/calls", cells(CALLS), "calls"),
    ("GET", "/calls"): Row("/calls", cells(CALLS), "calls"),
    ("GET", "/calls.csv"): Row("/calls.csv", cells(CALLS), "calls"),
    ("GET", "/api/v1/calls/{node}/{call_id}"): Row("/api/v1/calls/{call}", cells(CALLS), "calls"),
    ("GET", "/calls/{node}/{call_id}"): Row("/calls/{call}", cells(CALLS), "calls"),
    ("GET", "/api/v1/violations"): Row("/api/v1/violations", cells(VIOLATIONS), "violations"),
    ("GET", "/violations"): Row("/violations", cells(VIOLATIONS), "violations"),
    ("GET", "/violations.csv"): Row("/violations.csv", cells(VIOLATIONS), "violations"),
    ("GET", "/api/v1/messages"): Row("/api/v1/messages", cells(MESSAGES), "messages"),
    ("GET", "/messages"): Row("/messages", cells(MESSAGES), "messages"),
    ("GET", "/messages.csv"): Row("/messages.csv", cells(MESSAGES), "messages"),
    # The message is 陈杰's (admin): the sales head may read messages, but not this one.
    ("GET", "/api/v1/messages/{message_id}/audio"): Row(
        "/api/v1/messages/1/audio", cells(MESSAGES, head=404), "messages"
    ),
    ("GET", "/messages/{message_id}/audio"): Row("/messages/1/audio", cells(MESSAGES, head=404), "messages"),
    ("GET", "/api/v1/reports/compliance"): Row(
        f"/api/v1/reports/compliance?period={MONTH}", cells(REPORTS), "reports"
    ),
    ("GET", "/reports/compliance"): Row(f"/reports/compliance?period={MONTH}", cells(REPORTS), "reports"),
    ("GET", "/reports/compliance.csv"): Row(
        f"/reports/compliance.csv?period={MONTH}", cells(REPORTS), "reports"
    ),
    ("GET", "/api/v1/reports/person/{person}"): Row(
        "/api/v1/reports/person/zhou.qiang", cells(REPORTS), "reports"
    ),
    ("GET", "/reports/person/{person}"): Row("/reports/person/zhou.qiang", cells(REPORTS), "reports"),
    ("GET", "/reports"): Row("/reports", cells(REPORTS, ok=303), "reports"),
    ("GET", "/api/v1/bills/{month}"): Row(f"/api/v1/bills/{MONTH}", cells(BILLS), "bills"),
    ("GET", "/bills/{month}"): Row(f"/bills/{MONTH}", cells(BILLS), "bills"),
    ("GET", "/bills/{month}.csv"): Row(f"/bills/{MONTH}.csv", cells(BILLS), "bills"),
    ("GET", "/bills"): Row("/bills", cells(BILLS, ok=303), "bills"),
    ("GET", "/api/v1/wallboard"): Row("/api/v1/wallboard", cells(WALLBOARD), "wallboard"),
    ("GET", "/wallboard"): Row("/wallboard", cells(WALLBOARD), "wallboard"),
    ("GET", "/wallboard/events"): Row("/wallboard/events", cells(WALLBOARD), "wallboard"),
    ("GET", "/api/v1/recordings"): Row("/api/v1/recordings", cells(RECORDINGS), "recordings"),
    ("GET", "/recordings"): Row("/recordings", cells(RECORDINGS), "recordings"),
    ("GET", "/recordings.csv"): Row("/recordings.csv", cells(RECORDINGS), "recordings"),
    ("GET", "/api/v1/recordings/{recording_id}/audio"): Row(
        "/api/v1/recordings/{recording}/audio", cells(RECORDINGS), "recordings"
    ),
    ("GET", "/recordings/{recording_id}/audio"): Row(
        "/recordings/{recording}/audio", cells(RECORDINGS), "recordings"
    ),
    ("GET", "/api/v1/audit"): Row("/api/v1/audit", cells(AUDIT), "audit"),
    ("GET", "/audit"): Row("/audit", cells(AUDIT), "audit"),
    ("GET", "/audit.csv"): Row("/audit.csv", cells(AUDIT), "audit"),
}
# Changes (LOG-5, XFER-3): only the named person appeals (周强's violation: 陈杰 cannot read it),
# only an administrator decides, only the person a message is for (or an admin) passes it on
# (陈杰's message is outside the sales head's reach: absent to him, 404).
APPEAL = {"reason": "the caller hung up at once"}
DECISION = {"decision": "overturn", "reason": "the line was out of order"}
CHANGES: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/violations/{violation_id}/appeal"): Row(
        "/api/v1/violations/2/appeal", cells("employee"), "violations", APPEAL, "zhou.qiang"
    ),
    ("POST", "/violations/{violation_id}/appeal"): Row(
        "/violations/2/appeal", cells("employee", ok=303), "violations", APPEAL, "zhou.qiang"
    ),
    ("POST", "/api/v1/violations/{violation_id}/decision"): Row(
        "/api/v1/violations/2/decision", cells("admin"), "violations", DECISION
    ),
    ("POST", "/violations/{violation_id}/decision"): Row(
        "/violations/2/decision", cells("admin", ok=303), "violations", DECISION
    ),
    ("POST", "/api/v1/messages/{message_id}/passed-on"): Row(
        "/api/v1/messages/1/passed-on", cells("admin employee", head=404), "messages"
    ),
    ("POST", "/messages/{message_id}/passed-on"): Row(
        "/messages/1/passed-on", cells("admin employee", ok=303, head=404), "messages"
    ),
}

# Open to everyone: signing in and out, the API's description; they read no records.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/"),
    ("GET", "/api/docs"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/v1/me"),
}


def served_routes() -> set[tuple[str, str]]:
    found = {("GET", "/api/openapi.json")}
    for name in ROUTER_MODULES:
        for route in importlib.import_module(name).router.routes:
            assert isinstance(route, APIRoute)
            found |= {(method, route.path) for method in route.methods}
    return found


def test_every_route_has_a_row_in_the_matrix() -> None:
    missing = served_routes() - set(MATRIX) - set(CHANGES) - PUBLIC
    assert not missing, f"routes without a row in the role matrix: {sorted(missing)}"
    gone = (set(MATRIX) | set(CHANGES) | PUBLIC) - served_routes()
    assert not gone, f"rows for routes the console no longer serves: {sorted(gone)}"


@dataclass
class Served:
    cons: Console
    base: str
    recording: int  # the id of the one supervision recording


async def _record_a_call(cons: Console) -> int:
    """inbound-2 was sampled for supervision (LOG-6): its recording is in the recordings folder."""
    folder = Path(cons.config.console.recordings_dir)
    (folder / SUPERVISION_RECORDING).write_bytes(b"RIFF....WAVEfmt supervision audio")
    async with cons.engine.begin() as conn:
        await conn.execute(
            update(CallRow).where(CallRow.call_id == "inbound-2").values(recording=SUPERVISION_RECORDING)
        )
        return int(
            (await conn.execute(select(CallRow.id).where(CallRow.call_id == "inbound-2"))).scalar_one()
        )


@asynccontextmanager
async def _serve(tmp: Path) -> AsyncIterator[Served]:
    """The console behind a real uvicorn (its lifespan runs: the wallboard), on a free port."""
    async for cons in console(tmp):
        recording = await _record_a_call(cons)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(cons.app, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            yield Served(cons, f"http://127.0.0.1:{sock.getsockname()[1]}", recording)
        finally:
            server.should_exit = True
            await task
            sock.close()


@pytest.fixture(scope="module")
async def reading(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """One console for the reads (they change nothing but the audit trail)."""
    async with _serve(tmp_path_factory.mktemp("reads")) as served:
        yield served


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A console of its own for each test that changes records."""
    async with _serve(tmp_path) as made:
        yield made


async def _ask(
    served: Served, person: str | None, method: str, url: str, page: bool, body: dict[str, str] | None = None
) -> tuple[int, str]:
    headers = {"accept": "text/html" if page else "application/json"}
    if person is not None:
        headers["authorization"] = f"Bearer {served.cons.tokens[person]}"
    async with httpx.AsyncClient(base_url=served.base, headers=headers, follow_redirects=False) as client:
        if url.endswith("/events"):  # server-sent events: the status and the first event, then hang up
            async with client.stream(method, url, timeout=10) as response:
                if response.status_code != 200:
                    return response.status_code, (await response.aread()).decode()
                async for chunk in response.aiter_text():
                    return 200, chunk
        if body is None:
            response = await client.request(method, url, timeout=30)
        elif page:  # a form (a bearer token needs no CSRF token: no cookie rides along)
            response = await client.request(method, url, data=body, timeout=30)
        else:
            response = await client.request(method, url, json=body, timeout=30)
        return response.status_code, response.text


async def _audit_since(served: Served, seq: int) -> list[dict[str, object]]:
    return [e for e in await list_entries(served.cons.engine, limit=10_000) if int(str(e["seq"])) > seq]


async def _last_seq(served: Served) -> int:
    entries = await list_entries(served.cons.engine, limit=1)
    return int(str(entries[0]["seq"])) if entries else 0


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
async def test_each_role_gets_what_the_matrix_says_and_every_read_is_audited(
    reading: Served, method: str, path: str
) -> None:
    served = reading
    row = MATRIX[(method, path)]
    page = not path.startswith("/api/")
    for role in ROLES:
        url = row.url.replace("{call}", SAMPLE_CALL.get(role, DEFAULT_CALL))
        url = url.replace("{recording}", str(served.recording))
        before = await _last_seq(served)
        status, body = await _ask(served, PERSON[role], method, url, page)
        assert status == row.answers[role], f"{role} {method} {url}: {status} {body[:300]}"
        entries = await _audit_since(served, before)
        actions = [str(e["action"]) for e in entries]
        assert all(e["account"] == PERSON[role] and e["role"] == role for e in entries), entries
        assert all(e["address"] == "127.0.0.1" for e in entries), entries  # from which address
        if status == 200:
            assert actions and not any(a.endswith(".refused") for a in actions), (role, url, actions)
        elif status == 403:
            assert actions == [f"{row.what}.refused"], (role, url, actions)
            assert "refused" in body
        elif status == 404:  # a record outside the viewer's reach, answered as an absent one; audited
            assert len(actions) == 1, (role, url, actions)
        if role not in ("admin", "auditor"):  # SEC-2 in every surface: JSON, CSV, pages, streams
            leaked = [n for n in OUTSIDE_NUMBERS if n in body]
            assert not leaked, f"{role} {url} shows outside numbers {leaked}"


# Records the role may read in general, but not these: answered as absent ones (404), audited.
OUT_OF_REACH = [
    ("employee", "/api/v1/calls/node1/inbound-2"),  # a sales call; 陈杰 is in admin
    ("employee", "/calls/node1/outbound-4"),
    ("head", "/api/v1/calls/node1/internal-1"),  # an admin call; 刘洋 heads sales
    ("head", "/api/v1/reports/person/chen.jie"),
    ("head", "/reports/person/chen.jie"),
    ("head", "/api/v1/messages/1/audio"),  # 陈杰's message
]


@pytest.mark.parametrize(("role", "url"), OUT_OF_REACH)
async def test_a_record_out_of_reach_is_absent_and_the_attempt_audited(
    reading: Served, role: str, url: str
) -> None:
    before = await _last_seq(reading)
    status, body = await _ask(reading, PERSON[role], "GET", url, page=not url.startswith("/api/"))
    assert status == 404, body[:300]
    entries = await _audit_since(reading, before)
    assert [(e["account"], e["count"]) for e in entries] == [(PERSON[role], 0)], entries


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
async def test_nobody_signed_in_reads_nothing(reading: Served, method: str, path: str) -> None:
    served = reading
    url = (
        MATRIX[(method, path)]
        .url.replace("{call}", DEFAULT_CALL)
        .replace("{recording}", str(served.recording))
    )
    before = await _last_seq(served)
    status, _body = await _ask(served, None, method, url, page=False)
    assert status == 401
    if not path.startswith("/api/"):
        async with httpx.AsyncClient(base_url=served.base, headers={"accept": "text/html"}) as client:
            response = await client.get(url)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    assert await _last_seq(served) == before  # nothing was read, so nothing to audit


async def _undo_changes(served: Served) -> None:
    async with served.cons.engine.begin() as conn:
        await conn.execute(update(MessageRow).values(done_at=None, done_by=None))
        await conn.execute(update(ViolationRow).values(status="open"))


@pytest.mark.parametrize(("method", "path"), sorted(CHANGES))
async def test_each_role_may_change_only_what_the_matrix_says(served: Served, method: str, path: str) -> None:
    row = CHANGES[(method, path)]
    page = not path.startswith("/api/")
    for role in ROLES:
        await _undo_changes(served)  # each cell starts from the same records
        status, body = await _ask(served, row.person(role), method, row.url, page, row.body)
        assert status == row.answers[role], f"{role} {method} {row.url}: {status} {body[:300]}"
        leaked = [n for n in OUTSIDE_NUMBERS if n in body]
        assert role in ("admin", "auditor") or not leaked, f"{role} {row.url} shows outside numbers {leaked}"
    status, _body = await _ask(served, None, method, row.url, page=False, body=row.body)
    assert status == 401


@pytest.mark.parametrize(("method", "path"), sorted(CHANGES))
async def test_every_post_with_a_session_needs_its_csrf_token(served: Served, method: str, path: str) -> None:
    """A browser's session cookie rides along with a forged form from another site: every POST
    made with a session is refused without the session's own CSRF token, whoever may make it."""
    row = CHANGES[(method, path)]
    allowed = next(role for role in ROLES if row.answers[role] != 403)
    client, csrf = await served.cons.browser(row.person(allowed))
    async with client:
        for forged in ({}, {"csrf": "forged"}):
            response = await client.post(row.url, data={**row.body, **forged})
            assert response.status_code == 403, (path, forged, response.text[:200])
        accepted = await client.post(row.url, data={**row.body, "csrf": csrf})
        assert accepted.status_code == row.answers[allowed], accepted.text[:300]


async def test_admin_and_auditor_see_outside_numbers_unmasked(reading: Served) -> None:
    served = reading
    for role in ("admin", "auditor"):
        status, body = await _ask(served, PERSON[role], "GET", "/api/v1/calls", page=False)
        assert status == 200 and OUTSIDE in body and CARRIER_NUMBER in body


async def test_the_api_description_is_served_without_a_cdn(reading: Served) -> None:
    served = reading
    async with httpx.AsyncClient(base_url=served.base) as client:
        docs = await client.get("/api/docs")
        schema = await client.get("/api/openapi.json")
    assert docs.status_code == 200 and "/api/v1/calls" in docs.text
    assert "cdn" not in docs.text.lower() and "<script" not in docs.text
    assert "/api/v1/audit" in schema.json()["paths"]
