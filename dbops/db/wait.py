"""Wait until a database accepts connections (what apps' backend_pre_start.py scripts do)."""
from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import URL

from dbops.db.engine import run_with_connection
from dbops.errors import ConnectionFailed


def wait_for_database(
    url: URL,
    seconds: float,
    *,
    connect_timeout: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Poll ``SELECT 1`` until it succeeds or ``seconds`` run out. Returns the attempts made."""
    deadline = clock() + seconds
    attempts = 0
    delay = 0.25
    while True:
        attempts += 1
        remaining = deadline - clock()
        try:
            run_with_connection(
                url, lambda conn: conn.execute(text("SELECT 1")),
                connect_timeout=max(0.5, min(connect_timeout, remaining)) if remaining > 0 else 0.5,
            )
            return attempts
        except ConnectionFailed as exc:
            remaining = deadline - clock()
            if remaining <= 0:
                tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
                raise ConnectionFailed(
                    f"Gave up after waiting {seconds:g}s ({tries}). Last error: {exc.message}",
                    hint="Check the URL (--database-url, then DBOPS_DATABASE_URL, DATABASE_URL, the config file) "
                    "and that the server is up; wait longer with a larger --wait.",
                ) from exc
            sleep(min(delay, remaining))
            delay = min(delay * 2, 2.0)
