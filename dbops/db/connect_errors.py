"""Turn driver connect errors into one-paragraph :class:`ConnectionFailed` messages."""
from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from dbops.errors import ConnectionFailed
from dbops.faults import connect_cause
from dbops.faults import is_read_only as is_read_only
from dbops.redact import redact

if TYPE_CHECKING:  # no SQLAlchemy import at runtime: the probe uses this module without it
    from sqlalchemy.engine import URL

def _driver_text(exc: BaseException) -> str:
    parts = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {getattr(cur, 'orig', None) or cur}")
        cur = cur.__cause__ or cur.__context__
    return " | ".join(parts)


def translate_connect_error(exc: BaseException, url: URL, connect_timeout: float) -> ConnectionFailed:
    from dbops.db.url import mask

    return describe_connect_error(exc, mask(url), connect_timeout)


def describe_connect_error(exc: BaseException, masked_url: str, connect_timeout: float) -> ConnectionFailed:
    """The one-paragraph message for a failed connect, given the URL already masked."""
    cause, meaning = connect_cause(_driver_text(exc), timed_out=isinstance(exc, (TimeoutError, socket.timeout)))
    raw = str(getattr(exc, "orig", None) or exc).strip()
    first_line = redact(raw.splitlines()[0] if raw else type(exc).__name__)
    if len(first_line) > 200:
        first_line = first_line[:197] + "..."
    timeout_note = f" (connect timeout {connect_timeout:g}s)" if "timed out" in cause else ""
    server = not str(masked_url).startswith("sqlite")  # waiting helps a starting server, never a file
    return ConnectionFailed(
        f"Could not connect to {masked_url}: {cause}{timeout_note}. "
        + (f"This usually means {meaning}. " if meaning else "")
        + f"Driver said: {first_line}",
        hint="Check the URL (--database-url, then DBOPS_DATABASE_URL, DATABASE_URL, the config file)"
        + ("; to wait for a starting server run: dbops upgrade --wait 30" if server else "."),
    )
