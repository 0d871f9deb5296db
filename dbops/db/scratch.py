"""Temporary databases (check-drift replays migrations into one; plan asks MariaDB's ALTER algorithms in
one); always dropped afterwards.

PostgreSQL / MariaDB: ``CREATE DATABASE dbops_scratch_<pid>_<random>`` on the server of the
given URL (or ``--scratch-url``); SQLite: a temporary file. The ``finally`` runs on
success, on error and on Ctrl-C (the CLI turns SIGTERM into the same path).
"""
from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL

from dbops.db.engine import run_with_connection
from dbops.db.url import mask
from dbops.errors import DbopsError, ScratchFailed

log = logging.getLogger("dbops.scratch")

PREFIX = "dbops_scratch_"


def _admin_url(url: URL) -> URL:
    """Where CREATE/DROP DATABASE is issued: the URL's own database (it is known to accept
    this login), else the server's maintenance database."""
    if url.database:
        return url
    return url.set(database="postgres") if url.get_backend_name() == "postgresql" else url


def _quote(url: URL, name: str) -> str:
    return f'"{name}"' if url.get_backend_name() == "postgresql" else f"`{name}`"


@contextmanager
def scratch_database(server_url: URL | None, *, connect_timeout: float = 5.0, template: str | None = None,
                     outcome: dict[str, Any] | None = None,
                     purpose: str = "check-drift replays the migrations into a temporary database") -> Iterator[URL]:
    """Yield the URL of a new empty database (PostgreSQL: a copy of ``template`` when given and it can
    be cloned; ``outcome["cloned"]`` says whether it was); drop it on exit, whatever happened."""
    if server_url is None or server_url.get_backend_name() == "sqlite":
        driver = server_url.drivername if server_url is not None else "sqlite"
        with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
            yield URL.create(driver, database=str(Path(tmp) / "scratch.sqlite"))
        return
    name = f"{PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    admin = _admin_url(server_url)
    quoted = _quote(server_url, name)

    def create(conn):  # type: ignore[no-untyped-def]
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if template is not None:
            try:
                conn.execute(text(f"CREATE DATABASE {quoted} TEMPLATE {_quote(server_url, template)}"))
                if outcome is not None:
                    outcome["cloned"] = True
                return
            except Exception as exc:  # noqa: BLE001  in use, or dropped meanwhile: an empty one instead
                log.debug("could not clone %s: %s", template, exc)
        conn.execute(text(f"CREATE DATABASE {quoted}"))

    try:
        run_with_connection(admin, create, connect_timeout=connect_timeout, application_name="dbops-scratch")
    except DbopsError:
        raise
    except Exception as exc:
        raise ScratchFailed(
            f"Could not create the scratch database {name} on {mask(admin)}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}. {purpose[0].upper()}{purpose[1:]}; "
            "the user needs the CREATEDB privilege (PostgreSQL) or CREATE (MariaDB).",
            hint="Grant it, or point --scratch-url at a server where it may create databases.",
        ) from exc
    try:
        yield server_url.set(database=name)
    finally:
        drop = f"DROP DATABASE IF EXISTS {quoted}"
        if server_url.get_backend_name() == "postgresql":
            drop += " WITH (FORCE)"
        run_with_connection(
            admin,
            lambda conn: conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(drop)),
            connect_timeout=connect_timeout, application_name="dbops-scratch",
        )
