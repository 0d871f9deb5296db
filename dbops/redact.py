"""Keep passwords out of every message dbops writes.

Whenever dbops parses a URL with a password it registers the password here; the
renderer passes every error and log line through :func:`redact`. No dependencies, so
any layer may use it.
"""
from __future__ import annotations

import re
import threading

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
# user:password@ in anything that looks like a URL, even one we never parsed. Every part is bounded,
# so the scan stays linear: with a bare ``*`` a 17 MB failed statement took minutes (each start position
# swallowed the rest of the text before failing).
_URL_PASSWORD = re.compile(
    r"(?P<pre>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^:/@\s]{0,256}:)(?P<pw>[^@\s]{1,1024})(?P<post>@)")


def register_secret(secret: str | None) -> None:
    """Remember a secret so later output never shows it."""
    if secret:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and URL password masked."""
    text = _URL_PASSWORD.sub(lambda m: m["pre"] + MASK + m["post"], text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        # whole-token matches only, so the password "postgres" does not turn
        # "postgresql+psycopg" into "***ql+psycopg"; a user name equal to the password is masked.
        text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", MASK, text)
    return text
