"""Recordings played in the browser (XFER-3 messages, supervision recordings): read from
`[console] recordings_dir` (Asterisk's recording spool), or fetched from Asterisk over ARI,
`GET /ari/recordings/stored/{name}/file` with the `[ari]` credentials."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import aiohttp

from callguard.ari.http import basic_auth
from callguard.config import Config

# Asterisk names a stored recording without its format; callguard records `<name>.wav`.
_NAME = re.compile(r"^[A-Za-z0-9_.@:-]{1,200}$")
MEDIA_TYPES = {"wav": "audio/wav", "gsm": "audio/x-gsm", "ulaw": "audio/basic", "sln": "audio/L16"}


class RecordingUnavailable(Exception):
    """The recording cannot be read (gone, Asterisk unreachable): one line saying why."""


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def _checked(name: str) -> str:
    # A record's name must never walk out of the spool (../) or into another URL.
    if not _NAME.match(name) or ".." in name or name.startswith("."):
        raise RecordingUnavailable(f"recording {name!r}: not a recording name")
    return name


async def fetch_recording(config: Config, name: str) -> bytes:
    """The recording's bytes (as stored: `name` with its extension, e.g. `msg-1700000000.wav`)."""
    name = _checked(name)
    folder = config.console.recordings_dir
    if folder:
        path = Path(folder) / name
        try:
            return path.read_bytes()
        except OSError as exc:
            raise RecordingUnavailable(f"{path}: {exc.strerror or exc}") from None
    return await _from_ari(config, name)


async def _from_ari(config: Config, name: str) -> bytes:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    url = f"{config.ari.url.rstrip('/')}/ari/recordings/stored/{quote(stem, safe='')}/file"
    # Credentials in the Authorization header, never on the URL.
    headers = {"Authorization": basic_auth(config.ari.user, config.ari.password)}
    timeout = aiohttp.ClientTimeout(total=max(config.ari.request_timeout_s, 10.0))
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status == 404:
                raise RecordingUnavailable(f"recording {name}: Asterisk no longer has it")
            if response.status != 200:
                raise RecordingUnavailable(f"recording {name}: Asterisk answered HTTP {response.status}")
            return await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RecordingUnavailable(
            f"recording {name}: Asterisk unreachable ({exc.__class__.__name__})"
        ) from None
