"""XFER-3 in the console through the lab: a caller leaves a real message in Asterisk, and the
person it is for plays it in the console, which fetches it from Asterisk over ARI
(`GET /recordings/stored/{name}/file`, [console] recordings_dir empty)."""

from __future__ import annotations

import httpx
import pytest

from callguard.config import load_config
from callguard.lab import Lab
from callguard.store import list_messages, make_engine
from callguard.store.accounts import add_account, create_token, find_account
from callguard.store.audit import list_entries
from callguard.web.app import create_app
from callguard.web.auth import hash_password
from tests.integration.harness import Harness, now

pytestmark = pytest.mark.lab


async def test_a_message_left_in_asterisk_plays_in_the_console(harness: Harness, lab: Lab) -> None:
    t0 = now()
    phones = [await harness.phone(ext, "no_answer") for ext in ("1003", "8000", "8001")]
    caller = await harness.outside_call("13512345678", "1003", talk_ms=None, dtmf=((9000, "~~#"),))
    assert await caller.wait(timeout=60) == 0
    for phone in phones:
        assert await phone.wait() == 0
    rec = await harness.wait_record(t0, "1003", disposition="message")
    config = load_config(harness.state.config_path)
    config = config.model_copy(update={"console": config.console.model_copy(update={"recordings_dir": ""})})
    engine = make_engine(harness.state.database_url)
    try:
        # The suite's lab is shared: another console test may have made chen.jie's account already.
        if await find_account(engine, "chen.jie") is None:
            await add_account(engine, "chen.jie", "employee", hash_password("correct horse battery"))
        _ident, token, _expires_at = await create_token(engine, "chen.jie", "lab test")
        app = create_app(config, engine)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:  # fmt: skip
            messages = (await client.get("/api/v1/messages")).json()
            (message,) = [m for m in messages if m["call_id"] == rec["call_id"]]
            assert message["caller"] == "135****5678"  # SEC-2: an employee sees it masked
            audio = await client.get(f"/api/v1/messages/{message['id']}/audio")
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        (stored,) = [m for m in await list_messages(engine, "1003") if m["id"] == message["id"]]
        assert audio.content[:4] == b"RIFF" and len(audio.content) > 8000
        assert audio.content == lab.asterisk_recording(stored["recording"]).read_bytes()
        (played,) = await list_entries(engine, account="chen.jie", action="messages.play", since=t0)
        assert played["count"] == 1
    finally:
        await engine.dispose()
