"""Database settings from environment variables (prefix ``DBOPS_DB_`` by default)."""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from dbops.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _default_application_name() -> str:
    name = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "app"
    return (name or "app")[:63]


@dataclass(frozen=True)
class DatabaseSettings:
    """Engine and pool settings. ``from_env`` reads ``<PREFIX>URL`` (else ``DATABASE_URL``),
    ``<PREFIX>POOL_SIZE``, ``MAX_OVERFLOW``, ``POOL_TIMEOUT``, ``POOL_PRE_PING``, ``POOL_RECYCLE``,
    ``ECHO``, ``APPLICATION_NAME``, ``CONNECT_TIMEOUT``."""

    url: str
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pool_pre_ping: bool = True
    pool_recycle: int = 1800
    echo: bool = False
    application_name: str = ""
    connect_timeout: float = 5.0

    @property
    def capacity(self) -> int:
        """Connections one process may hold: pool_size + max_overflow."""
        return self.pool_size + self.max_overflow

    @property
    def effective_application_name(self) -> str:
        return self.application_name or _default_application_name()

    @classmethod
    def from_env(cls, prefix: str = "DBOPS_DB_", environ: Mapping[str, str] | None = None) -> DatabaseSettings:
        env = os.environ if environ is None else environ
        url = env.get(f"{prefix}URL") or env.get("DATABASE_URL")
        if not url:
            raise ConfigError(
                f"No database URL: set {prefix}URL or DATABASE_URL.",
                hint=f"Example: export {prefix}URL=postgresql+asyncpg://app:secret@localhost/app",
            )
        values: dict[str, object] = {"url": url}
        for f in fields(cls):
            if f.name == "url":
                continue
            raw = env.get(f"{prefix}{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(f"{prefix}{f.name.upper()}", raw, type(getattr(cls, f.name)))
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a valid {kind.__name__}.", hint=f"Fix or unset {name}."
        ) from None
