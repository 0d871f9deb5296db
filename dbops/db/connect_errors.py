"""Turn driver connect errors into one-paragraph :class:`ConnectionFailed` messages."""
from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from dbops.errors import ConnectionFailed
from dbops.redact import redact

if TYPE_CHECKING:  # no SQLAlchemy import at runtime: the probe uses this module without it
    from sqlalchemy.engine import URL

# (needle in the driver's message, cause, what it usually means)
_CAUSES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("password authentication failed", "access denied", "invalidpassword", "no password supplied",
      "invalidauthorizationspecification"),
     "the server rejected the login",
     "the user name or password in the URL is wrong, or the user may not log in from this host"),
    (("role \"", "role '") , "the server rejected the login",
     "the user in the URL does not exist on this server"),
    (("does not exist", "unknown database", "invalidcatalogname"),
     "the database does not exist",
     "the server is up but the database name in the URL is wrong or was never created"),
    (("timeout", "timed out", "timeouterror"),
     "the connection attempt timed out",
     "the host is unreachable from here (firewall, wrong host, server still starting)"),
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
    text = _driver_text(exc)
    low = text.lower()
    cause, meaning = "the connection failed", ""
    if isinstance(exc, (TimeoutError, socket.timeout)):
        cause, meaning = next((c, m) for needles, c, m in _CAUSES if "timed out" in needles)
    else:
        for needles, c, m in _CAUSES:
            if any(n in low for n in needles):
                cause, meaning = c, m
                break
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


def is_read_only(exc: BaseException) -> bool:
    """The database refused a write because it is read-only for this connection (SQLite, PostgreSQL and
    MariaDB wordings): a replica or standby, default_transaction_read_only, a file it may not write."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(words in text for words in ("readonly database", "read-only transaction", "--read-only option",
                                           "read only database"))
