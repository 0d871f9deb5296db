"""Every lint rule against its own pair of examples (the ones its docs and `dbops lint --explain` show):
the rule must find the unsafe one and stay quiet on the safe one. A rule cannot ship without both."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from dbops.lint.registry import example_module
from dbops.lint.rules import RULES, lint_source

MINIMUM_RULES = 30


def _ids(body: str, dialect: str | None = None) -> set[str]:
    return {f.rule for f in lint_source(example_module(body), dialect=dialect)}


def test_there_are_enough_rules_and_each_is_documented() -> None:
    assert len(RULES) >= MINIMUM_RULES
    for r in RULES.values():
        assert r.title and len(r.rationale) > 40 and r.unsafe and r.safe and r.unsafe != r.safe, r.id


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_the_rule_finds_its_unsafe_example(rule_id: str) -> None:
    assert rule_id in _ids(RULES[rule_id].unsafe)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_the_rule_is_quiet_on_its_safe_example(rule_id: str) -> None:
    assert rule_id not in _ids(RULES[rule_id].safe)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_the_safe_example_is_clean_for_every_rule(rule_id: str) -> None:
    """What the docs recommend must not be flagged by another rule either."""
    assert _ids(RULES[rule_id].safe) == set()


@pytest.mark.parametrize("rule_id", sorted(r for r, rule in RULES.items() if rule.scope == "postgresql"))
def test_postgresql_advice_is_not_given_to_a_sqlite_project(rule_id: str) -> None:
    assert rule_id not in _ids(RULES[rule_id].unsafe, dialect="sqlite")


def test_mysql_advice_needs_mysql() -> None:
    body = 'op.execute("ALTER TABLE orders ADD COLUMN note TEXT")'
    assert "DB035" not in _ids(body)  # a project whose database lint does not know
    assert "DB035" not in _ids(body, dialect="postgresql")
    assert "DB035" in _ids(body, dialect="mariadb")
    assert "DB035" not in _ids('op.execute("ALTER TABLE orders ADD COLUMN note TEXT, ALGORITHM=INPLACE, LOCK=NONE")',
                               dialect="mysql")


@pytest.mark.parametrize(("body", "found"), [
    # DB004: what existing_type= says decides; a narrowing or another type is a rewrite
    ('op.alter_column("t", "c", type_=sa.String(length=255), existing_type=sa.VARCHAR(length=100))', False),
    ('op.alter_column("t", "c", type_=sa.Text(), existing_type=sa.String(40))', False),
    ('op.alter_column("t", "c", type_=sa.Numeric(14, 2), existing_type=sa.Numeric(12, 2))', False),
    ('op.alter_column("t", "c", type_=sa.Numeric(14, 3), existing_type=sa.Numeric(12, 2))', True),
    ('op.alter_column("t", "c", type_=sa.String(20), existing_type=sa.String(40))', True),
    ('op.alter_column("t", "c", type_=sa.String(20))', True),  # old type unknown: a rewrite is assumed
    ('op.alter_column("t", "c", type_=sa.String(255), existing_type=sa.String())', True),  # unlimited -> limited
    # DB014: a constant or now() is not volatile; unknown functions are not guessed at
    ('op.add_column("t", sa.Column("c", sa.DateTime(timezone=True), server_default=sa.text("now()")))', False),
    ('op.add_column("t", sa.Column("c", sa.Integer(), server_default="0"))', False),
    ('op.add_column("t", sa.Column("c", sa.Float(), server_default=sa.text("random()")))', True),
    ('op.add_column("t", sa.Column("c", sa.String(), server_default=sa.text("my_function()")))', False),
    # DB017: SQLAlchemy's JSON only; Prefect's prefect.server.utilities.database.JSON is jsonb on PostgreSQL
    ('op.add_column("t", sa.Column("c", sa.JSON()))', True),
    ('op.add_column("t", sa.Column("c", postgresql.JSON(astext_type=sa.Text())))', True),
    ('op.add_column("t", sa.Column("c", JSON()))', True),
    ('op.add_column("t", sa.Column("c", prefect.server.utilities.database.JSON(astext_type=sa.Text())))', False),
    ('op.add_column("t", sa.Column("c", app_types.JSON()))', False),
])
def test_precision_cases(body: str, found: bool) -> None:
    rule_id = "DB004" if "alter_column" in body else "DB017" if "JSON" in body else "DB014"
    assert (rule_id in _ids(body)) is found


def test_new_tables_are_exempt_from_the_lock_rules() -> None:
    body = '''op.create_table("events", sa.Column("id", sa.BigInteger(), primary_key=True))
op.add_column("events", sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))
op.create_primary_key("pk_events2", "events", ["id"])
op.add_column("events", sa.Column("seq", sa.BigInteger(), sa.Identity()))'''
    assert not _ids(body) & {"DB014", "DB016", "DB018"}


def test_tables_created_in_raw_sql_are_new_tables_too() -> None:
    """A baseline `dbops squash` writes (or any revision in SQL) creates its tables, then adds keys and
    indexes to them: nothing the application uses is locked. The same statements on a table the
    revision did not create are still reported."""
    new = '''op.execute('CREATE TABLE "user" (id uuid NOT NULL, email text)')
op.execute('ALTER TABLE "user" ADD CONSTRAINT user_pkey PRIMARY KEY (id)')
op.execute('CREATE INDEX ix_user_email ON public."user" USING btree (email)')
op.execute("CREATE MATERIALIZED VIEW daily AS SELECT 1 AS n WITH DATA")
op.execute("CREATE UNIQUE INDEX ux_daily ON daily (n)")'''
    assert not _ids(new) & {"DB002", "DB007"}
    existing = '''op.execute('ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id)')
op.execute("CREATE INDEX ix_orders_total ON orders (total)")'''
    assert {"DB002", "DB007"} <= _ids(existing)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_a_reviewed_line_is_silenced(rule_id: str) -> None:
    """`# dbops: noqa <ID>` on the line of the call (its first or its last line) silences that rule only."""
    source = example_module(RULES[rule_id].unsafe)
    line = next(f.line for f in lint_source(source) if f.rule == rule_id)
    lines = source.splitlines()
    lines[line - 1] += f"  # dbops: noqa {rule_id}"
    assert rule_id not in {f.rule for f in lint_source("\n".join(lines))}


def test_the_project_database_and_dialect_directories_decide(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    """PostgreSQL advice is not given to a revision in a SQLite version directory, nor to a project whose
    URL is SQLite; a py: URL (which lint must not import) leaves the dialect open."""
    from tests.helpers import dbops_app

    body = '    op.create_index("ix_users_age", "users", ["age"])'
    app = dbops_app(tmp_path, "app", [("0001", None, "index", body, "    pass")])
    sqlite_dir = app / "migrations" / "versions" / "sqlite"
    sqlite_dir.mkdir()
    (sqlite_dir / "0001_index.py").write_text((app / "migrations" / "versions" / "0001.py").read_text())

    def rules(*args: str, env: dict[str, str] | None = None) -> set[str]:
        import json

        result = invoke("lint", "--format", "json", *args, cwd=app, env=env or {})
        return {f["rule"] for f in json.loads(result.stdout)["findings"]}

    assert rules("migrations/versions/0001.py") == {"DB002"}
    assert rules("migrations/versions/sqlite/0001_index.py") == set()
    assert rules("migrations/versions/0001.py", env={"DATABASE_URL": "sqlite:///x.db"}) == set()
    assert rules("migrations/versions/0001.py", env={"DATABASE_URL": "postgresql://u@h/db"}) == {"DB002"}
    (app / "dbops.toml").write_text('script_location = "migrations"\nurl = "py:nowhere.settings:URL"\n')
    assert rules("migrations/versions/0001.py") == {"DB002"}  # not imported, so not known: PostgreSQL assumed
    # an env: URL whose variable is unset (set only where the app is deployed): lint needs no URL
    (app / "dbops.toml").write_text('script_location = "migrations"\nurl = "env:DBOPS_TEST_UNSET_URL"\n')
    assert rules("migrations/versions/0001.py") == {"DB002"}
    assert rules() == {"DB002"}


@pytest.mark.parametrize(("sql", "found"), [
    ("ALTER TABLE orders RENAME COLUMN total TO amount", True),
    ("ALTER TABLE orders RENAME TO purchases", True),
    ("ALTER SCHEMA billing RENAME TO accounting", True),
    ("ALTER INDEX ix_a RENAME TO ix_b", False),  # nothing reads an index by name
])
def test_renames_in_raw_sql(sql: str, found: bool) -> None:
    assert ("DB005" in _ids(f'op.execute("SET LOCAL lock_timeout = \'5s\'")\nop.execute("{sql}")')) is found
