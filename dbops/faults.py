"""The fault catalogue: which driver / server / OS error is which fault, what it usually means and
what to run next. One place, used by every layer that turns an exception into a DbopsError
(``db/connect_errors.py`` for connects, ``migrate/environment.py`` for a failing revision,
``safety/guard.py`` for the audit table). Each row has a test in tests/cli/test_fault_catalogue.py.

No SQLAlchemy or driver import: errors are recognised by SQLSTATE, MySQL error number and the
driver's wording, looked up along the exception's cause/context chain.
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass


def chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, each unwrapped to the driver's own error (``.orig``)."""
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(getattr(cur, "orig", None) or cur)
        cur = cur.__cause__ or cur.__context__
    return out


def sqlstate(err: BaseException) -> str:
    return str(getattr(err, "sqlstate", "") or getattr(err, "pgcode", "") or "")


def mysql_code(err: BaseException) -> int | None:
    args = getattr(err, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _any(exc: BaseException, test: Callable[[BaseException], bool]) -> bool:
    return any(test(err) for err in chain(exc))


# -- runtime faults: a statement of a revision failed -------------------------------------------------

LOCK_TIMEOUT_CODES = ("55P03", "40P01")  # PostgreSQL lock_not_available, deadlock_detected
MYSQL_LOCK_TIMEOUT = (1205, 1213)  # lock wait timeout, deadlock


def is_lock_timeout(exc: BaseException) -> bool:
    """It could not get a lock in time, or lost a deadlock (worth a retry); SQLite's "database is
    locked" is the same fault (another writer held the file past the busy timeout)."""
    return _any(exc, lambda e: sqlstate(e) in LOCK_TIMEOUT_CODES or mysql_code(e) in MYSQL_LOCK_TIMEOUT
                or "database is locked" in str(e))


def is_statement_timeout(exc: BaseException) -> bool:
    """The server canceled a statement for running past statement_timeout (PostgreSQL 57014 with that
    reason), max_statement_time (MariaDB 1969) or max_execution_time (MySQL 3024)."""
    return _any(exc, lambda e: (sqlstate(e) == "57014" and "statement timeout" in str(e))
                or mysql_code(e) in (1969, 3024))


def is_packet_too_large(exc: BaseException) -> bool:
    """MariaDB/MySQL refused a statement larger than max_allowed_packet (1153, or the connection
    dropped with it: 2006/2013 while sending a statement of more than 1 MB)."""
    if _any(exc, lambda e: mysql_code(e) in (1153, 1301)):
        return True
    statement = getattr(exc, "statement", None)
    return bool(isinstance(statement, str) and len(statement) > 1 << 20
                and _any(exc, lambda e: mysql_code(e) in (2006, 2013)))


def is_connection_lost(exc: BaseException) -> bool:
    """The session ended under the migration: server restart or failover, pg_terminate_backend, a proxy."""
    words = ("server closed the connection unexpectedly", "connection was closed in the middle of operation",
             "terminating connection due to")
    return _any(exc, lambda e: sqlstate(e) in ("57P01", "57P02", "57P03", "08006", "08003")
                or mysql_code(e) in (2006, 2013) or any(w in str(e).lower() for w in words))


def is_disk_full(exc: BaseException) -> bool:
    """No room left: SQLite SQLITE_FULL, PostgreSQL disk_full (53100) or "No space left on device",
    MariaDB "The table is full" (1114), an OS ENOSPC."""
    return _any(exc, lambda e: sqlstate(e) == "53100" or mysql_code(e) == 1114
                or getattr(e, "errno", None) == errno.ENOSPC
                or any(w in str(e).lower() for w in ("database or disk is full", "no space left on device")))


def is_read_only(exc: BaseException) -> bool:
    """The database refused a write because it is read-only for this connection (SQLite, PostgreSQL and
    MariaDB wordings): a replica or standby, default_transaction_read_only, a file it may not write."""
    words = ("readonly database", "read-only transaction", "--read-only option", "read only database")
    return _any(exc, lambda e: any(w in str(e).lower() for w in words))


@dataclass(frozen=True)
class Fault:
    """One row: how to recognise it, what happened (after "Revision X (doc) "), the next step."""

    name: str
    detect: Callable[[BaseException], bool]
    happened: str
    hint: str
    means: str = ""  # what it usually means, after the driver's words


NEXT = "see where the database stands with: dbops current"

# First match wins: the specific causes before the generic "the connection was lost".
RUNTIME_FAULTS: tuple[Fault, ...] = (
    Fault("statement_timeout", is_statement_timeout,
          "ran a statement longer than the statement timeout, and the server canceled it",
          "If the statement is expected to be long (a backfill, an index build), raise the limit for this run "
          "(dbops upgrade --statement-timeout SECONDS, 0 = none) or split the work (batches, CREATE INDEX "
          f"CONCURRENTLY in autocommit_block()); {NEXT}"),
    Fault("packet_too_large", is_packet_too_large,
          "sent a statement larger than the server's max_allowed_packet, and the server dropped it (and the "
          "connection)",
          "Insert large data in smaller statements (op.bulk_insert in chunks, or load it outside the revision), or "
          f"raise max_allowed_packet on the server (SET GLOBAL max_allowed_packet = ...); {NEXT}"),
    Fault("disk_full", is_disk_full,
          "ran out of disk space (the database could not grow its files)",
          "Free space on the database's volume (or raise its quota / SQLite max_page_count), then re-run "
          f"dbops upgrade; {NEXT}"),
    Fault("connection_lost", is_connection_lost,
          "lost its connection to the server while it ran",
          "Check the server is back (dbops probe), " + NEXT + ", then re-run dbops upgrade (add --wait 60 to wait "
          "for a restarting server)",
          means="Usually the server restarted or failed over, or an administrator or a proxy ended the session "
          "(pg_terminate_backend, an idle timeout)"),
)


def runtime_fault(exc: BaseException) -> Fault | None:
    return next((fault for fault in RUNTIME_FAULTS if fault.detect(exc)), None)


# -- connect faults: (needles in the driver's message, cause, what it usually means) ------------------

CONNECT_CAUSES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("password authentication failed", "access denied", "invalidpassword", "no password supplied",
      "invalidauthorizationspecification"),
     "the server rejected the login",
     "the user name or password in the URL is wrong, or the user may not log in from this host"),
    (("role \"", "role '"), "the server rejected the login",
     "the user in the URL does not exist on this server"),
    (("does not exist", "unknown database", "invalidcatalogname"),
     "the database does not exist",
     "the server is up but the database name in the URL is wrong or was never created"),
    (("timeout", "timed out", "timeouterror"),
     "the connection attempt timed out",
     "the host is unreachable from here (firewall, wrong host, server still starting)"),
    # DNS before "refused": MariaDB's driver wraps a resolution failure in 2003 "can't connect"
    (("name or service not known", "nodename nor servname", "could not translate host name",
      "temporary failure in name resolution", "gaierror", "getaddrinfo"),
     "the host name could not be resolved",
     "the host in the URL is misspelt or only resolvable inside another network"),
    (("ssl was required", "does not support ssl", "certificate verify failed", "sslcertverificationerror",
      "self signed certificate", "self-signed certificate", "ssl: ", "tlsv1", "ssl connection has been closed",
      "rejected ssl upgrade"),
     "the TLS (SSL) handshake failed",
     "the URL's TLS settings and the server's disagree: sslmode=require (or ssl=true) against a server "
     "without TLS, or a server certificate this client does not trust (sslrootcert, ssl_ca)"),
    (("connection refused", "connectionrefused", "can't connect", "could not connect",
      "errno 111", "connect call failed"),
     "the connection was refused",
     "no server is listening at that host and port: it is not running, or the port is wrong"),
    (("ssl upgrade", "ssl negotiation", "wrong version number", "packet sequence", "lost connection to"),
     "something other than the expected database server answered",
     "the port belongs to another service or a proxy, or the URL names the wrong dialect"),
    (("unable to open database file",),
     "the SQLite file could not be opened",
     "its directory does not exist or is not writable"),
)
TIMED_OUT = CONNECT_CAUSES[3]


def connect_cause(text: str, *, timed_out: bool = False) -> tuple[str, str]:
    """(cause, what it usually means) for a failed connect; ("the connection failed", "") when unknown."""
    if timed_out:
        return TIMED_OUT[1], TIMED_OUT[2]
    low = text.lower()
    for needles, cause, meaning in CONNECT_CAUSES:
        if any(n in low for n in needles):
            return cause, meaning
    return "the connection failed", ""
