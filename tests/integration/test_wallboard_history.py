"""The wallboard's one start-up read: today's records in a real SQLite database (written by the
record writer) give each department's answering figures, LOG-6's definition; without MQTT the
console says the board is not live and still shows them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callguard.web.board import Board
from callguard.web.wallboard import Hub, follow, make_board
from tests.integration.console_records import console


def departments(board: Board) -> dict[str, tuple[int, int, int]]:
    rows = board.view(None, lambda row: row)["departments"]
    return {d["id"]: (d["offered"], d["chances"], d["answered_in_limit"]) for d in rows}


async def test_todays_records_give_the_departments_figures_without_mqtt(tmp_path: Path) -> None:
    async for made in console(tmp_path):
        config = made.config.model_copy(
            update={"mqtt": made.config.mqtt.model_copy(update={"enabled": False})}
        )
        hub = Hub(make_board(config))
        await asyncio.wait_for(follow(hub, config, made.engine), 10)  # returns: nothing to follow
        # internal-1: admin's 1003 answered at ring 2, in the limit. message-5: admin's 1003 rang
        # unanswered. inbound-2: sales' 2001 rang out (ANS-1) and 2003 answered at its first ring:
        # the call was answered within the limit of the phone that answered (LOG-6's definition).
        assert departments(hub.board) == {"admin": (2, 2, 1), "sales": (1, 1, 1), "security": (0, 0, 0)}
