"""Checksums and lint rules on revision source (no database)."""
from __future__ import annotations

import textwrap

import pytest

from dbops.lint.rules import RULES, lint_source
from dbops.safety.checksum import checksum_like, file_checksum, module_checksum, revision_checksum

BASE = '''
"""add a thing"""
import sqlalchemy as sa
from alembic import op

revision = "0009"


def upgrade():
    """docstring"""
    op.add_column("users", sa.Column("nickname", sa.String(30)))  # a comment


def downgrade():
    op.drop_column("users", "nickname")
'''


def test_checksum_ignores_comments_docstrings_and_formatting() -> None:
    reformatted = BASE.replace('"""docstring"""', '"""another docstring entirely"""').replace(
        '    op.add_column("users", sa.Column("nickname", sa.String(30)))  # a comment',
        "    # moved comment\n    op.add_column(\n        'users',\n"
        "        sa.Column('nickname', sa.String(30)),\n    )",
    ).replace('"""add a thing"""', '"""module docstring changed"""')
    assert revision_checksum(BASE) == revision_checksum(reformatted)
    assert len(revision_checksum(BASE) or "") == 64


HELPER = BASE.replace("def upgrade():", "def _column():\n    return sa.Column('nickname', sa.String(30))\n\n\n"
                      "def upgrade():")


def test_v2_covers_the_whole_module_and_says_its_algorithm() -> None:
    value = module_checksum(HELPER)
    assert value.startswith("v2:") and len(value) == 64  # fits dbops_history.checksum
    helper_edited = HELPER.replace("'nickname', sa.String(30)", "'nickname', sa.String(40)")
    assert module_checksum(helper_edited) != value  # the helper counts
    assert revision_checksum(helper_edited) == revision_checksum(HELPER)  # v1 was blind to it
    reformatted = HELPER.replace('"""docstring"""', '"""other"""').replace("# a comment", "# another")
    assert module_checksum(reformatted) == value


def test_v1_values_stay_verifiable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    legacy = """
def upgrade() -> None:
    def helper(x) -> int:
        \"\"\"doc\"\"\"
        return x
    op.execute("x")

def downgrade():
    pass
"""
    # the value dbops 0.1 recorded for this file (pinned: v1 must never change)
    v1 = "1c55eb527e52477569d63c75b374fb8a7cc4065f91ffc00b033b0d0f2510d505"
    path = tmp_path / "0001.py"
    path.write_text(legacy)
    assert revision_checksum(legacy) == v1
    assert checksum_like(v1, path) == v1
    assert checksum_like(module_checksum(legacy), path) == file_checksum(path) == module_checksum(legacy)
    path.write_text(legacy.replace('"x"', '"y"'))
    assert checksum_like(v1, path) != v1


def test_checksum_changes_with_code() -> None:
    assert revision_checksum(BASE) != revision_checksum(BASE.replace("String(30)", "String(40)"))
    assert revision_checksum(BASE) != revision_checksum(BASE.replace('op.drop_column("users", "nickname")', "pass"))
    assert revision_checksum("x = 1\n") is None


def _rev(body: str) -> str:
    return "import sqlalchemy as sa\nfrom alembic import op\n\n\ndef upgrade():\n" + textwrap.indent(
        textwrap.dedent(body).strip("\n"), "    ") + "\n\n\ndef downgrade():\n    op.drop_table('users')\n"


CASES = {
    "DB001": ("op.add_column('users', sa.Column('age', sa.Integer(), nullable=False))",
              "op.add_column('users', sa.Column('age', sa.Integer(), nullable=False, server_default='0'))"),
    "DB002": ("op.create_index('ix_users_age', 'users', ['age'])",
              "with op.get_context().autocommit_block():\n"
              "    op.create_index('ix_users_age', 'users', ['age'], postgresql_concurrently=True)"),
    "DB003": ("op.drop_column('users', 'age')",
              "op.create_table('tmp', sa.Column('id', sa.Integer()))\nop.drop_table('tmp')"),
    "DB004": ("op.alter_column('users', 'age', type_=sa.BigInteger())",
              "op.alter_column('users', 'age', nullable=True)"),
    "DB005": ("op.alter_column('users', 'age', new_column_name='years')",
              "op.add_column('users', sa.Column('years', sa.Integer()))"),
    "DB006": ("op.create_foreign_key('fk_o_u', 'orders', 'users', ['user_id'], ['id'])",
              "op.create_foreign_key('fk_o_u', 'orders', 'users', ['user_id'], ['id'], postgresql_not_valid=True)"),
    "DB007": ("op.execute('ALTER TABLE users ADD COLUMN x int')",
              "op.execute(\"SET lock_timeout = '2s'\")\nop.execute('ALTER TABLE users ADD COLUMN x int')"),
    "DB011": ("op.create_unique_constraint('uq_users_email', 'users', ['email'])",
              "op.create_table('t', sa.Column('id', sa.Integer()))\n"
              "op.create_unique_constraint('uq_t_id', 't', ['id'])"),
    "DB012": ("op.alter_column('users', 'age', nullable=False)",
              "op.execute('DELETE FROM users')\nop.alter_column('users', 'age', nullable=False)"),
    "DB013": ("op.drop_index('ix_users_age', table_name='users')",
              "with op.get_context().autocommit_block():\n"
              "    op.drop_index('ix_users_age', table_name='users', postgresql_concurrently=True)"),
}


def test_the_first_rules_keep_their_cases() -> None:
    """These cases predate the rules' own example pairs (tests/safety/test_lint_rules.py covers every rule);
    they stay as extra positive/negative/noqa cases."""
    assert set(CASES) <= set(RULES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_positive_negative_and_noqa(rule_id: str) -> None:
    positive, negative = CASES[rule_id]
    found = [f.rule for f in lint_source(_rev(positive))]
    assert found == [rule_id]
    assert [f.rule for f in lint_source(_rev(negative))] == []
    first, *rest = positive.splitlines()
    silenced = "\n".join([f"{first}  # dbops: noqa {rule_id}", *rest])
    assert [f.rule for f in lint_source(_rev(silenced))] == []
    other = "DB999" if rule_id != "DB999" else "DB998"
    not_silenced = "\n".join([f"{first}  # dbops: noqa {other}", *rest])
    assert [f.rule for f in lint_source(_rev(not_silenced))] == [rule_id]


def test_batch_ops_and_new_tables_are_exempt_where_safe() -> None:
    source = _rev("""
        op.create_table('things', sa.Column('id', sa.Integer()))
        op.create_index('ix_things_id', 'things', ['id'])
        op.add_column('things', sa.Column('n', sa.Integer(), nullable=False))
        with op.batch_alter_table('users') as batch_op:
            batch_op.alter_column('age', type_=sa.BigInteger())
    """)
    assert [(f.rule, f.message) for f in lint_source(source)] == [
        ("DB004", "alter_column changes the type of a column of users")]


def test_downgrade_is_not_linted() -> None:
    assert list(lint_source(_rev("pass"))) == []  # downgrade() drops a table: allowed


# Lint precision (issue 17): each false-positive class found on real chains, and the unsafe operation
# next to it that must still be found. (body of upgrade(), expected [(rule, line-in-file)] or rules)
PRECISION = {
    "extension and enum value are not lock-taking DDL": (
        "op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')\n"
        "op.execute(\"ALTER TYPE order_status ADD VALUE 'archived'\")", []),
    "CONCURRENTLY inside autocommit_block is what DB002 asks for": (
        "with op.get_context().autocommit_block():\n"
        "    op.execute('CREATE INDEX CONCURRENTLY ix_users_age ON users (age)')", []),
    "CONCURRENTLY raw outside autocommit_block still waits without a timeout": (
        "op.execute('CREATE INDEX CONCURRENTLY ix_users_age ON users (age)')", ["DB007"]),
    "raw CREATE INDEX without CONCURRENTLY on an existing table": (
        "op.execute(sa.text('CREATE INDEX ix_users_age ON users (age)'))", ["DB002", "DB007"]),
    "raw CREATE INDEX on a table this revision creates": (
        "op.create_table('things', sa.Column('id', sa.Integer()))\n"
        "op.execute('CREATE INDEX ix_things_id ON things (id)')", []),
    "SET LOCAL lock_timeout counts": (
        "op.execute(\"SET LOCAL lock_timeout TO '2s'\")\nop.execute('ALTER TABLE users ADD COLUMN x int')", []),
    "rename of a column of a table created in the same revision": (
        "op.create_table('things', sa.Column('id', sa.Integer()), sa.Column('n', sa.Integer()))\n"
        "op.alter_column('things', 'n', new_column_name='count')", []),
    "NOT NULL column after DELETE FROM emptied the table": (
        "op.execute('DELETE FROM sessions')\n"
        "op.add_column('sessions', sa.Column('token', sa.String(40), nullable=False))", []),
    "NOT NULL column after a DELETE with WHERE: rows remain": (
        "op.execute('DELETE FROM sessions WHERE expired')\n"
        "op.add_column('sessions', sa.Column('token', sa.String(40), nullable=False))",
        ["DB001", "DB026"]),  # and the DELETE is a data change in the revision's transaction (a warning)
    "PostgreSQL advice is not given inside a SQLite-only branch": (
        "if op.get_bind().dialect.name == 'sqlite':\n"
        "    op.create_index('ix_users_age', 'users', ['age'])\n"
        "    op.execute('ALTER TABLE users ADD COLUMN x int')\n"
        "else:\n"
        "    op.create_index('ix_users_age', 'users', ['age'], postgresql_concurrently=True)", ["DB002"]),
    "nor when the branch excludes PostgreSQL": (
        "bind = op.get_bind()\n"
        "if bind.dialect.name != 'postgresql':\n"
        "    op.create_foreign_key('fk_o_u', 'orders', 'users', ['user_id'], ['id'])", []),
    "a PostgreSQL-only branch is linted": (
        "if op.get_bind().dialect.name in ('postgresql',):\n"
        "    op.create_index('ix_users_age', 'users', ['age'])", ["DB002"]),
    "batch_op.create_index is a plain CREATE INDEX on PostgreSQL": (
        "with op.batch_alter_table('users') as batch_op:\n"
        "    batch_op.create_index('ix_users_age', ['age'])", ["DB002"]),
}


@pytest.mark.parametrize("case", sorted(PRECISION))
def test_lint_precision(case: str) -> None:
    body, expected = PRECISION[case]
    assert sorted(f.rule for f in lint_source(_rev(body))) == sorted(expected)


def test_operations_in_helpers_called_from_upgrade_are_linted_at_their_line() -> None:
    source = (
        "import sqlalchemy as sa\nfrom alembic import op\n\n\n"
        "def _add_index(table):\n"
        "    op.create_index('ix_' + table, table, ['age'])\n\n\n"
        "def _unused():\n"
        "    op.drop_table('users')\n\n\n"
        "def _safe():\n"
        "    op.create_index('ix_u', 'users', ['age'])  # dbops: noqa DB002\n\n\n"
        "def upgrade():\n"
        "    op.add_column('users', sa.Column('age', sa.Integer()))\n"
        "    _safe()\n"
        "    op.create_index('ix_users_age', 'users', ['age'])\n\n\n"
        "def downgrade():\n    pass\n")
    assert [(f.rule, f.line) for f in lint_source(source)] == [("DB002", 20)]
    helper = source.replace("    op.create_index('ix_users_age', 'users', ['age'])\n",
                            "    _drop_old()\n").replace("def _unused():", "def _drop_old():")
    assert [(f.rule, f.line) for f in lint_source(helper)] == [("DB003", 10)]  # found in the helper


def test_sql_statements_fall_back_to_the_first_keyword_when_pglast_cannot_parse() -> None:
    from dbops.lint.sql import statements

    (st,) = statements("ALTER TABLE `users` ADD COLUMN x INT ALGORITHM=INPLACE, LOCK=NONE")  # MySQL syntax
    assert st.parsed is False and st.locking is True and st.kind == "ALTER"
    parsed = statements("SET lock_timeout = '1s'; DELETE FROM t; TRUNCATE a, b; CREATE INDEX CONCURRENTLY i ON c (x)")
    assert [s.kind for s in parsed] == ["VariableSetStmt", "DeleteStmt", "TruncateStmt", "IndexStmt"]
    assert parsed[0].sets_lock_timeout and parsed[1].empties == ("t",) and parsed[2].empties == ("a", "b")
    assert parsed[3].concurrent and parsed[3].relation == "c"


def _lint_project(root, revisions: dict[str, str], toml: str = "") -> None:  # type: ignore[no-untyped-def]
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
    (root / "dbops.toml").write_text('script_location = "migrations"\n' + toml)
    down = None
    for rev, body in revisions.items():
        text = _rev(body).replace("import sqlalchemy as sa\n", f"import sqlalchemy as sa\nimport app_settings_{rev}\n"
                                  f"revision = {rev!r}\ndown_revision = {down!r}\n")
        (versions / f"{rev}_x.py").write_text(text)
        down = rev


def test_baseline_accepts_a_legacy_chain_and_fails_only_on_new_findings(invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    _lint_project(tmp_path, {"0001": "op.drop_column('users', 'age')",
                             "0002": "op.create_index('ix_users_age', 'users', ['age'])"})
    versions = tmp_path / "migrations" / "versions"
    files = [str(p) for p in sorted(versions.glob("*.py"))]
    before = invoke("lint", *files, cwd=tmp_path)
    assert before.exit_code == 3 and before.stdout.count(": DB00") == 2
    wrote = invoke("lint", *files, "--write-baseline", "baseline.json", cwd=tmp_path)
    assert wrote.exit_code == 0, wrote.stderr
    recorded = json.loads((tmp_path / "baseline.json").read_text())["findings"]
    assert [(e["rule"], e["revision"]) for e in recorded] == [("DB002", "0002"), ("DB003", "0001")]
    # lines move (a comment added above): the accepted findings stay accepted
    second = versions / "0002_x.py"
    second.write_text(second.read_text().replace("def upgrade():", "# reviewed in 2024\n\ndef upgrade():"))
    accepted = invoke("lint", *files, "--baseline", "baseline.json", cwd=tmp_path)
    assert accepted.exit_code == 0, accepted.stdout
    assert accepted.stdout.splitlines()[-1] == "2 finding(s) in the baseline, not reported."
    (versions / "0003_x.py").write_text(_rev("op.alter_column('users', 'age', new_column_name='years')").replace(
        "import sqlalchemy as sa\n", "import sqlalchemy as sa\nrevision = '0003'\ndown_revision = '0002'\n"))
    new = invoke("lint", *files, str(versions / "0003_x.py"), "--baseline", "baseline.json", "--format", "json",
                 cwd=tmp_path)
    assert new.exit_code == 3
    data = json.loads(new.stdout)
    assert [f["rule"] for f in data["findings"]] == ["DB005"] and data["baselined"] == 2
    missing = invoke("lint", *files, "--baseline", "nope.json", cwd=tmp_path)
    assert missing.exit_code == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_config_disables_rules_and_excludes_files(invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _lint_project(tmp_path, {"0001": "op.drop_column('users', 'age')",
                             "0002": "op.create_index('ix_users_age', 'users', ['age'])"},
                  toml='[lint]\ndisable = ["DB003"]\nexclude = ["migrations/versions/0002_*.py"]\n')
    files = [str(p) for p in sorted((tmp_path / "migrations" / "versions").glob("*.py"))]
    result = invoke("lint", *files, "--format", "json", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "DB003" not in __import__("json").loads(result.stdout)["rules"]
    (tmp_path / "dbops.toml").write_text('script_location = "migrations"\n[lint]\ndisable = ["drop"]\n')
    bad = invoke("lint", *files, cwd=tmp_path)
    assert bad.exit_code == 1 and "which are not rule ids" in bad.stderr


def test_lint_of_the_whole_chain_imports_no_revision(invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    # each revision imports a module that does not exist (an app whose settings need its environment)
    _lint_project(tmp_path, {"0001": "op.create_table('t', sa.Column('id', sa.Integer()))",
                             "0002": "op.create_index('ix_t_id', 't', ['id'])",
                             "0003": "op.drop_column('t', 'id')"})
    result = invoke("lint", "--format", "json", cwd=tmp_path)
    assert result.exit_code == 3, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["revisions"] == ["0001", "0002", "0003"]  # parents first, read as text
    assert [(f["rule"], f["revision"]) for f in data["findings"]] == [("DB002", "0002"), ("DB003", "0003")]
    assert "ModuleNotFoundError" not in result.stderr
