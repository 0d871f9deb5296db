"""Checksums and lint rules on revision source (no database)."""
from __future__ import annotations

import textwrap

import pytest

from dbops.safety.checksum import checksum_like, file_checksum, module_checksum, revision_checksum
from dbops.safety.lint import RULES, lint_source

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
}


def test_every_rule_has_cases() -> None:
    assert sorted(CASES) == sorted(RULES)


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
