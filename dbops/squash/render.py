"""The baseline revision file: the statements read from the replayed database, as ``op.execute`` calls."""
from __future__ import annotations

from collections import Counter

from dbops.squash.postgresql import Statement


def _literal(sql: str) -> str:
    """A Python literal for ``sql``: triple-quoted when that reads as the SQL itself, repr otherwise."""
    if "\n" in sql and '"""' not in sql and "\\" not in sql and not sql.endswith('"'):
        return '"""' + sql + '"""'
    return repr(sql)


def _calls(statements: list[Statement]) -> str:
    if not statements:
        return "    pass\n"
    return "".join(f"    op.execute({_literal(s.sql)})\n" for s in statements)


def summary(statements: list[Statement]) -> dict[str, int]:
    counts = Counter(s.kind for s in statements if s.kind not in ("setting", "comment", "grant", "owned_by"))
    return dict(sorted(counts.items()))


def baseline_module(*, revision: str, branch_labels: tuple[str, ...], message: str, dialect: str,
                    squashed: list[str], archive: str, up: list[Statement], down: list[Statement],
                    kept_data: list[str], created: str) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in summary(up).items()) or "no objects"
    first, last = squashed[0], squashed[-1]
    keep_calls = "".join(f"    {fn.split('(', 1)[0].removeprefix('def ')}()\n" for fn in kept_data)
    labels = repr(tuple(branch_labels)) if branch_labels else "None"
    return f'''"""{message}

Squashed by dbops squash: {len(squashed)} revision(s) ({first} .. {last}) replaced by this baseline.
It was rendered from the catalog of a {dialect} database built by replaying them, and proved
catalog-equal to it (dbops squash --check replays both again). It keeps the revision id of
{revision}, so databases at that revision or later continue from here. The squashed revisions are
listed in {archive}/squash.json.

Objects: {counts}.

Revision ID: {revision}
Revises:
Create Date: {created}
"""
from alembic import op

revision = "{revision}"
down_revision = None
branch_labels = {labels}
depends_on = None

SQUASHED_FOR = "{dialect}"


def _same_database() -> None:
    name = op.get_context().dialect.name
    if name != SQUASHED_FOR:
        raise RuntimeError(f"This baseline was rendered from a {{SQUASHED_FOR}} database and holds its DDL; "
                           f"it cannot build a {{name}} database. Squash on that database too, or keep the old chain.")


def upgrade() -> None:
    _same_database()
{_calls(up)}{keep_calls}

def downgrade() -> None:
    _same_database()
{_calls(down)}
''' + ("\n\n" + "\n\n".join(kept_data) if kept_data else "")
