"""Log lines to stderr (-v: Alembic's progress, -vv: also SQL), passwords masked."""
from __future__ import annotations

import logging
import sys

from dbops.logs import enable_dbops_loggers
from dbops.redact import redact


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(verbose: int, *, quiet: bool = False) -> None:
    """-q: nothing; default: dbops's warnings (e.g. "waiting for the lock ...") as ``dbops: ...``
    lines; -v: Alembic's and dbops's progress; -vv: also SQL."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting("%(levelname)-5.5s [%(name)s] %(message)s"))
    for name in ("alembic", "dbops", "sqlalchemy.engine"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = False
    enable_dbops_loggers()
    if verbose == 0 and not quiet:
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(_Redacting("dbops: %(message)s"))
        logging.getLogger("dbops").addHandler(plain)
        logging.getLogger("dbops").setLevel(logging.WARNING)
    if verbose >= 1:
        for name in ("alembic", "dbops"):
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.INFO)
    if verbose >= 2:
        logging.getLogger("sqlalchemy.engine").addHandler(handler)
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)

