"""Parse, normalise and mask database URLs."""
from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from dbops.errors import ConfigError
from dbops.redact import register_secret

# Bare dialect names pick a driver that dbops installs (SQLAlchemy's own default for
# "postgresql://" is psycopg2, which dbops does not depend on).
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_ASYNC_DRIVERS = {"asyncpg", "aiosqlite", "aiomysql", "asyncmy", "psycopg_async"}
_EXAMPLE = "postgresql+psycopg://user@localhost:5432/app"


def parse_url(raw: str) -> URL:
    """Parse ``raw`` into a SQLAlchemy URL with a driver dbops can load.

    Raises :class:`ConfigError` with a one-paragraph message on malformed input.
    """
    try:
        url = make_url(raw.strip())
    except ValueError as exc:  # e.g. a port that is not a number
        scheme = raw.split("://", 1)[0] if "://" in raw else "(none)"
        detail = "its port is not a number" if "int()" in str(exc) else "it cannot be parsed"
        raise ConfigError(
            f"The database URL is malformed ({detail}; scheme {scheme!r}); it must look like {_EXAMPLE}. This "
            "usually means a typo in the host:port part or an unescaped special character in the password "
            "(write it %-encoded).",
            hint="Check --database-url, DBOPS_DATABASE_URL, DATABASE_URL and the url in the config.",
        ) from None
    except ArgumentError:
        # the raw text may hold a password: show only the scheme part
        scheme = raw.split("://", 1)[0] if "://" in raw else "(none)"
        raise ConfigError(
            f"The database URL is malformed (scheme {scheme!r}); it must look like {_EXAMPLE}. "
            "This usually means a shell variable was empty or the URL lost its '://'.",
            hint="Check --database-url, DBOPS_DATABASE_URL and DATABASE_URL.",
        ) from None
    register_secret(url.password if isinstance(url.password, str) else None)
    if url.drivername in _DEFAULT_DRIVERS:
        url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"Unknown database driver {url.drivername!r} in {mask(url)}. dbops supports "
            "postgresql+psycopg, postgresql+asyncpg, sqlite, sqlite+aiosqlite and mysql+pymysql / "
            "mariadb+pymysql.",
            hint=f"Use a URL like {_EXAMPLE}.",
        ) from None
    return url


def mask(url: URL | str) -> str:
    """The URL as text with its password replaced by ***."""
    if isinstance(url, str):
        url = make_url(url)
    return url.render_as_string(hide_password=True)


def is_async(url: URL) -> bool:
    return url.get_driver_name() in _ASYNC_DRIVERS or bool(getattr(url.get_dialect(), "is_async", False))


def dialect_name(url: URL) -> str:
    return url.get_backend_name()


_SYNC = {"asyncpg": "psycopg", "psycopg_async": "psycopg", "aiosqlite": "pysqlite", "aiomysql": "pymysql",
         "asyncmy": "pymysql"}


def sync_url(url: URL) -> URL:
    """The same database through a sync driver (the guard needs no event loop)."""
    driver = url.get_driver_name()
    if driver in _SYNC:
        return url.set(drivername=f"{url.get_backend_name()}+{_SYNC[driver]}")
    return url


def sqlite_file(url: URL) -> str | None:
    """The file a SQLite URL names: ``database``, or the path of a ``file:`` URI (``?uri=true``,
    e.g. ``file:app.db?mode=ro``); None for an in-memory database."""
    database = url.database or ""
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    return None if database in ("", ":memory:") or "mode=memory" in (url.database or "") else database


def sqlite_file_missing(url: URL) -> bool:
    """A SQLite URL naming a file that does not exist yet: connecting would create it, so a read that
    must not write (a preview, an identity check) answers without connecting."""
    import os

    database = url.database or ""
    return (url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
            and not database.startswith("file:") and not os.path.exists(database))


def written_like(url: URL | str, example: str | None) -> str:
    """``url`` rendered (password included: it goes into a child process's environment, never to output)
    with the driver part of ``example``, the value an app's own variable holds: mealie refuses anything but
    ``postgresql://`` in POSTGRES_URL_OVERRIDE, while dbops's URLs name the driver dbops loads. As it is
    when there is no example or it cannot be read."""
    parsed = make_url(url) if isinstance(url, str) else url
    if example:
        try:  # make_url, not parse_url: that one names the driver dbops loads
            parsed = parsed.set(drivername=make_url(example).drivername)
        except Exception:  # noqa: BLE001  an unusual value: the URL as it is
            pass
    return str(parsed.render_as_string(hide_password=False))

