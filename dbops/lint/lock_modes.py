"""PostgreSQL's table lock modes (docs: "Table-Level Locks"), weakest first, which ones conflict, and
what each stops the application from doing. Shared by `dbops plan`, lint and the pytest plugin's
measured lock footprint."""
from __future__ import annotations

ACCESS_SHARE = "AccessShareLock"
ROW_SHARE = "RowShareLock"
ROW_EXCLUSIVE = "RowExclusiveLock"
SHARE_UPDATE_EXCLUSIVE = "ShareUpdateExclusiveLock"
SHARE = "ShareLock"
SHARE_ROW_EXCLUSIVE = "ShareRowExclusiveLock"
EXCLUSIVE = "ExclusiveLock"
ACCESS_EXCLUSIVE = "AccessExclusiveLock"
MODES = (ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
         ACCESS_EXCLUSIVE)

# PostgreSQL's conflict table ("Conflicting Lock Modes"): mode -> the modes it waits for
CONFLICTS: dict[str, frozenset[str]] = {
    ACCESS_SHARE: frozenset({ACCESS_EXCLUSIVE}),
    ROW_SHARE: frozenset({EXCLUSIVE, ACCESS_EXCLUSIVE}),
    ROW_EXCLUSIVE: frozenset({SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE}),
    SHARE_UPDATE_EXCLUSIVE: frozenset({SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
                                       ACCESS_EXCLUSIVE}),
    SHARE: frozenset({ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE}),
    SHARE_ROW_EXCLUSIVE: frozenset({ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
                                    ACCESS_EXCLUSIVE}),
    EXCLUSIVE: frozenset({ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
                          ACCESS_EXCLUSIVE}),
    ACCESS_EXCLUSIVE: frozenset(MODES),
}
# what each mode stops the application from doing while it is held (or waited for: a waiting lock
# queues every later conflicting request behind it)
BLOCKS = {
    ACCESS_SHARE: "nothing but ACCESS EXCLUSIVE",
    ROW_SHARE: "EXCLUSIVE locks",
    ROW_EXCLUSIVE: "CREATE INDEX and other SHARE-level DDL",
    SHARE_UPDATE_EXCLUSIVE: "VACUUM, ANALYZE and other DDL, not reads or writes",
    SHARE: "writes (INSERT, UPDATE, DELETE)",
    SHARE_ROW_EXCLUSIVE: "writes (INSERT, UPDATE, DELETE)",
    EXCLUSIVE: "writes and SELECT ... FOR UPDATE",
    ACCESS_EXCLUSIVE: "everything, reads included",
}


def mode_name(mode: str) -> str:
    """AccessExclusiveLock -> ACCESS EXCLUSIVE (the spelling of LOCK TABLE and the docs); another kind
    of lock pg_locks may show (SIReadLock, ...) as it is."""
    if mode not in MODES:
        return mode
    words: list[str] = []
    for ch in mode.removesuffix("Lock"):
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch.upper())
    return "".join(words)


def parse_mode(text: str) -> str:
    """'ACCESS EXCLUSIVE', 'access exclusive', 'AccessExclusiveLock' -> 'AccessExclusiveLock'."""
    wanted = "".join(text.split()).lower().removesuffix("lock")
    for mode in MODES:
        if mode.lower().removesuffix("lock") == wanted:
            return mode
    raise ValueError(f"{text!r} is not a PostgreSQL table lock mode; one of: "
                     + ", ".join(mode_name(m) for m in MODES))


def stronger(a: str, b: str) -> bool:
    """Whether table lock mode ``a`` is stronger than ``b`` (False for modes that are not table locks)."""
    return MODES.index(a) > MODES.index(b) if a in MODES and b in MODES else False
