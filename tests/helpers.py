"""Small helpers shared by tests (real databases, no mocks)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dbops.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]


def config_for(url: str, cwd: Path = REPO, **kw: Any) -> Config:
    return load_config(database_url=url, cwd=cwd, environ={}, **kw)


def sync_url(url: str) -> str:
    """The same database through a sync driver, for assertions."""
    return url.replace("+asyncpg", "+psycopg").replace("+aiosqlite", "")


def schema_of(url: str) -> dict[str, Any]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            bookkeeping = {"alembic_version", "dbops_history", "dbops_data_migrations"}
            tables = sorted(t for t in insp.get_table_names() if t not in bookkeeping)
            indexes = {t: sorted(i["name"] for i in insp.get_indexes(t)) for t in tables}
            version = None
            if insp.has_table("alembic_version"):
                version = sorted(r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version")))
            return {"tables": tables, "indexes": indexes, "version": version}
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> list[Any]:
    engine = sa.create_engine(sync_url(url))
    out = []
    try:
        with engine.begin() as conn:
            for stmt in statements:
                result = conn.execute(sa.text(stmt))
                out.append(result.fetchall() if result.returns_rows else None)
    finally:
        engine.dispose()
    return out


# A revision file: format with doc, rev, down (repr'd), up and down_body (indented code).
REVISION_TEMPLATE = '''"""{doc}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{up}


def downgrade():
{down_body}
'''
