"""The console's settings: the `[console]` table of callguard.toml (`callguard web`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

CONSOLE_ROLES = ("admin", "auditor", "finance", "head", "employee", "operations")


class ConsoleSettings(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Loopback by default: TLS and the outside world are a reverse proxy's job (README).
    host: str = "127.0.0.1"
    port: int = Field(default=8480, ge=1, le=65535)
    session_hours: float = Field(default=8.0, gt=0, le=24 * 31)
    # Set true behind an HTTPS reverse proxy: the browser then sends the cookie over TLS only.
    secure_cookies: bool = False
    # Failed sign-ins within `login_window_minutes` after which sign-in is refused until they age out:
    # per account (guessing one password) and per address (trying many accounts).
    login_window_minutes: float = Field(default=15.0, gt=0)
    login_max_failures_account: int = Field(default=5, ge=1)
    login_max_failures_address: int = Field(default=20, ge=1)
    # SEC-2: roles that see outside numbers unmasked; every other role sees 138****8000.
    unmasked_roles: tuple[str, ...] = Field(default=("admin", "auditor"))
    min_password_length: int = Field(default=10, ge=8)
    # The reverse proxies whose X-Forwarded-For names the reader (audit address, per-address
    # throttle). Empty: none is trusted, so no local process can claim another's address.
    trusted_proxies: tuple[str, ...] = ()
    # Where messages (XFER-3) and recordings are read: Asterisk's recording spool as a directory,
    # or empty to fetch each over ARI (GET /recordings/stored/{name}/file, [ari] credentials).
    recordings_dir: str = ""

    @field_validator("unmasked_roles")
    @classmethod
    def _known_roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(roles) - set(CONSOLE_ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(CONSOLE_ROLES)}")
        return roles
