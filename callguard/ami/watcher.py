"""Watches Asterisk's device states over AMI (panoramisk, which reconnects by itself)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from panoramisk import Manager

from callguard.config import AmiSettings

log = structlog.get_logger("callguard.ami")


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager, remembering a refused login (it only sets `authenticated`, and
    Asterisk then drops the connection, which looks like an unreachable server)."""

    login_refused = False

    def login(self, future: Any) -> bool:
        ok: bool = super().login(future)
        self.login_refused = not ok
        return ok


class AmiWatcher:
    """Keeps `device_states` current ("PJSIP/1001" → "NOT_INUSE", "RINGING", "INUSE", ...)."""

    def __init__(
        self,
        settings: AmiSettings,
        on_user_event: Callable[[Mapping[str, Any]], None] | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_user_event = on_user_event
        self._on_connected = on_connected  # LOG-1: the CDR import runs at each (re)connect
        self.device_states: dict[str, str] = {}
        self.connected = False
        self._tasks: set[asyncio.Task[None]] = set()

    def state_of(self, extension: str) -> str | None:
        return self.device_states.get(f"PJSIP/{extension}")

    # panoramisk loses exceptions raised in async handlers: every handler here is sync.
    def _on_device_state(self, _manager: Any, message: Any) -> None:
        device, state = message.get("Device"), message.get("State")
        if device and state:
            self.device_states[device] = state

    def _on_user(self, _manager: Any, message: Any) -> None:
        if self._on_user_event is not None:
            try:
                self._on_user_event(message)
            except Exception as exc:  # a bad event must not stop the watcher
                log.exception("ami.user_event_failed", error=repr(exc))

    def _on_login(self, manager: Any) -> None:
        self.connected = True
        log.info("ami.connected", host=self._settings.host, port=self._settings.port)
        task = asyncio.ensure_future(self._load_states(manager))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._on_connected is not None:
            self._on_connected()

    def _on_disconnect(self, _manager: Any, exc: Any) -> None:
        if self.connected:
            log.warning("ami.disconnected", host=self._settings.host, error=str(exc or ""))
        self.connected = False

    async def run(self) -> None:
        manager = _Manager(
            host=self._settings.host,
            port=self._settings.port,
            username=self._settings.user,
            secret=self._settings.password,
            ping_delay=10,
            reconnect_timeout=2,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            log=logging.getLogger("callguard.ami.panoramisk"),
        )
        manager.register_event("DeviceStateChange", self._on_device_state)
        manager.register_event("UserEvent", self._on_user)
        manager.connect()
        reported = ""
        try:
            while True:
                await asyncio.sleep(2)
                # panoramisk retries on its own but says nothing useful; report what is wrong once.
                if self.connected:
                    reported = ""
                    continue
                if manager.login_refused:
                    problem = "ami.login_failed"
                elif not getattr(manager, "_connected", False):
                    problem = "ami.unreachable"
                else:
                    continue
                if problem != reported:
                    log.warning(
                        problem, host=self._settings.host, port=self._settings.port, user=self._settings.user
                    )
                    reported = problem
        finally:
            manager.close()

    async def _load_states(self, manager: Any) -> None:
        # The events this user receives are filtered by Asterisk itself (`eventfilter` in
        # dialplan/manager.conf): a Filter action would need the `system` write right.
        try:
            replies = await asyncio.wait_for(manager.send_action({"Action": "DeviceStateList"}), 10)
        except (TimeoutError, OSError) as exc:
            log.warning("ami.device_list_failed", error=str(exc))
            return
        messages = replies if isinstance(replies, list) else [replies]
        if messages and messages[0].get("Response") == "Error":
            # e.g. "Permission denied": the AMI user lacks `write = reporting` (manager.conf).
            log.warning("ami.device_list_failed", error=str(messages[0].get("Message")))
            return
        for msg in messages:
            if msg.get("Event") == "DeviceStateChange":
                self._on_device_state(manager, msg)
        log.info("ami.device_states", count=len(self.device_states))
