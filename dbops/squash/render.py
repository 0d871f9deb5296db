"""The baseline revision file: for each kind of database it was proved on, the statements read from the
replayed database as ``op.execute`` calls in a function of their own, chosen by the dialect at run time."""
from __future__ import annotations

from collections import Counter

from dbops.squash.catalog import Statement


def _literal(sql: str) -> str:
    """A Python literal for ``sql``: triple-quoted when that reads as the SQL itself, repr otherwise."""
    if "\n" in sql and '"""' not in sql and "\\" not in sql and not sql.endswith('"'):
        return '"""' + sql + '"""'
    return repr(sql)


def _function(name: str, statements: list[Statement]) -> str:
    body = "".join(f"    op.execute({_literal(s.sql)})\n" for s in statements) or "    pass\n"
    return f"def {name}() -> None:\n{body}"


def summary(statements: list[Statement]) -> dict[str, int]:
    counts = Counter(s.kind for s in statements if s.kind not in ("setting", "comment", "grant", "owned_by"))
    return dict(sorted(counts.items()))


def _dispatch(verb: str, dialects: list[str]) -> str:
    lines = [f"def {verb}() -> None:", "    dialect = op.get_context().dialect"]
    for i, name in enumerate(dialects):
        # MySQL and MariaDB: one DDL, whichever of the two names the project's URL uses
        test = 'in ("mysql", "mariadb")' if name in ("mysql", "mariadb") else f'== "{name}"'
        lines.append(f"    {'if' if i == 0 else 'elif'} dialect.name {test}:")
        lines.append(f"        _{verb}_{name}()")
    lines += ["    else:", "        _not_squashed_for(dialect.name)"]
    return "\n".join(lines) + "\n"


def baseline_module(*, revision: str, branch_labels: tuple[str, ...], message: str,
                    statements: dict[str, tuple[list[Statement], list[Statement]]], squashed: list[str],
                    archive: str, kept_data: list[str], created: str) -> str:
    dialects = list(statements)
    counts = "; ".join(f"{d}: " + (", ".join(f"{n} {kind}" for kind, n in summary(up).items()) or "no objects")
                       for d, (up, _down) in statements.items())
    first, last = squashed[0], squashed[-1]
    keep_calls = "".join(f"    {fn.split('(', 1)[0].removeprefix('def ')}()\n" for fn in kept_data)
    labels = repr(tuple(branch_labels)) if branch_labels else "None"
    upgrade = _dispatch("upgrade", dialects)
    if keep_calls:
        upgrade += keep_calls
    parts = [f'''"""{message}

Squashed by dbops squash: {len(squashed)} revision(s) ({first} .. {last}) replaced by this baseline.
It was rendered from the catalog of a database built by replaying them ({", ".join(dialects)}), and
proved catalog-equal to it (dbops squash --check replays both again). It keeps the revision id of
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

SQUASHED_FOR = {tuple(dialects)!r}


def _not_squashed_for(name: str) -> None:
    raise RuntimeError(f"This baseline holds the DDL of {{', '.join(SQUASHED_FOR)}} databases, proved there; it "
                       f"cannot build a {{name}} database. Squash with --also-on a {{name}} database too, or keep "
                       "the old chain.")
''', upgrade, _dispatch("downgrade", dialects)]
    for name, (up, down) in statements.items():
        parts += [_function(f"_upgrade_{name}", up), _function(f"_downgrade_{name}", down)]
    parts += kept_data
    return "\n\n".join(p.rstrip("\n") + "\n" for p in parts)
