"""The false-positive corpus: a model declaration, and the DDL a real migration chain (or the server)
produced for it. check-drift must report nothing on each: a CI gate that cries wolf gets switched
off. Every class also has true positives (the same construct really changed) that stay caught.

The comparison is the one `check-drift --against database` makes on PostgreSQL: the live catalog
against the models, whose expressions the server spells itself (dbops/drift/canonical.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from dbops.drift.canonical import canonicalize, suspects
from dbops.drift.compare import Difference, compare
from dbops.drift.from_models import models_spec
from dbops.drift.reflect import default_schema_of, reflect_schema

pytestmark = pytest.mark.postgres


@dataclass
class Case:
    name: str
    model: Callable[[sa.MetaData], object]
    ddl: list[str]
    setup: list[str] = field(default_factory=list)  # extensions, types the chain made first


def _diff(url: str, case: Case, *, canonical: bool = True) -> list[Difference]:
    meta = sa.MetaData()
    case.model(meta)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in [*case.setup, *case.ddl]:
                conn.execute(sa.text(stmt))
        with engine.connect() as conn:
            live = reflect_schema(conn)
            default = default_schema_of(conn)
            models = models_spec(meta, conn.dialect, default)
            if canonical:  # as check-drift does: the server's spelling for the tables dbops's differs on
                canonicalize(conn, meta, models, default, only=suspects(models, live))
            # nothing the canonical step made is left behind
            assert conn.execute(sa.text("SELECT count(*) FROM pg_class WHERE relname LIKE 'dbops_canon_%'")).scalar() \
                == 0
    finally:
        engine.dispose()
    return compare(models, live)


def t(meta: sa.MetaData, *columns: object, name: str = "t") -> sa.Table:
    return sa.Table(name, meta, sa.Column("id", sa.Integer, primary_key=True), *columns)


T = "CREATE TABLE t (id serial PRIMARY KEY, {})"


def _convention(meta: sa.MetaData, *, table: Callable[[], sa.Table], **convention: str) -> sa.Table:
    meta.naming_convention = convention  # type: ignore[assignment]
    return table()


def _long_fk(meta: sa.MetaData) -> None:
    meta.naming_convention = {"fk": "fk_%(table_name)s__%(column_0_name)s__%(referred_table_name)s"}  # type: ignore[assignment]
    sa.Table("block_document", meta, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table("block_document_reference", meta, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("reference_block_document_id", sa.Integer, sa.ForeignKey("block_document.id")))


def _created_by_sqlalchemy(model: Callable[[sa.MetaData], object]) -> list[str]:
    """The DDL SQLAlchemy itself emits for the model on PostgreSQL (what create_all or autogenerate made)."""
    from sqlalchemy.schema import CreateTable

    meta = sa.MetaData()
    model(meta)
    return [str(CreateTable(table).compile(dialect=pg.dialect())) for table in meta.sorted_tables]


def test_the_long_name_case_really_is_cut() -> None:
    assert any("_block_document_i_" in stmt for stmt in _created_by_sqlalchemy(_long_fk))


CORPUS = [
    # -- server defaults: function-name case, the server's rewrites, boolean spellings
    Case("default uppercase function",
         lambda m: t(m, sa.Column("u", pg.UUID, server_default=sa.text("GEN_RANDOM_UUID()"))),
         [T.format("u uuid DEFAULT gen_random_uuid()")]),
    Case("default now() vs CURRENT_TIMESTAMP",
         lambda m: t(m, sa.Column("at", sa.DateTime, server_default=sa.func.now())),
         [T.format("at timestamp DEFAULT CURRENT_TIMESTAMP")]),
    Case("default timezone('utc', now())",
         lambda m: t(m, sa.Column("at", sa.DateTime, server_default=sa.text("timezone('utc', now())"))),
         [T.format("at timestamp DEFAULT timezone('utc'::text, now())")]),
    Case("default now() + interval", lambda m: t(m, sa.Column("at", sa.DateTime(timezone=True),
                                                              server_default=sa.text("now() + interval '1 day'"))),
         [T.format("at timestamptz DEFAULT (now() + '1 day'::interval)")]),
    Case("default CURRENT_DATE", lambda m: t(m, sa.Column("d", sa.Date, server_default=sa.text("CURRENT_DATE"))),
         [T.format("d date DEFAULT CURRENT_DATE")]),
    Case("boolean default 't'", lambda m: t(m, sa.Column("b", sa.Boolean, server_default="t")),
         [T.format("b boolean DEFAULT true")]),
    Case("boolean default 'true'", lambda m: t(m, sa.Column("b", sa.Boolean, server_default="true")),
         [T.format("b boolean DEFAULT 't'")]),
    Case("boolean default 'false'", lambda m: t(m, sa.Column("b", sa.Boolean, server_default="false")),
         [T.format("b boolean DEFAULT false")]),
    Case("boolean default '0'", lambda m: t(m, sa.Column("b", sa.Boolean, server_default="0")),
         [T.format("b boolean DEFAULT false")]),
    Case("boolean default sa.false()", lambda m: t(m, sa.Column("b", sa.Boolean, server_default=sa.false())),
         [T.format("b boolean DEFAULT 'f'")]),
    Case("boolean default text('false')", lambda m: t(m, sa.Column("b", sa.Boolean, server_default=sa.text("false"))),
         [T.format("b boolean DEFAULT FALSE")]),
    Case("integer default '0'", lambda m: t(m, sa.Column("n", sa.Integer, server_default="0")),
         [T.format("n integer DEFAULT 0")]),
    Case("numeric default '0.00'", lambda m: t(m, sa.Column("p", sa.Numeric(10, 2), server_default="0.00")),
         [T.format("p numeric(10,2) DEFAULT 0")]),
    Case("string default", lambda m: t(m, sa.Column("s", sa.String(20), server_default="new")),
         [T.format("s varchar(20) DEFAULT 'new'::character varying")]),
    Case("jsonb default", lambda m: t(m, sa.Column("j", pg.JSONB, server_default=sa.text("'{}'::jsonb"))),
         [T.format("j jsonb DEFAULT '{}'")]),
    Case("array default", lambda m: t(m, sa.Column("a", pg.ARRAY(sa.Text), server_default=sa.text("'{}'"))),
         [T.format("a text[] DEFAULT ARRAY[]::text[]")]),
    # -- indexes: ordering, NULLS, operator classes, methods, INCLUDE, expressions, predicates
    Case("index DESC", lambda m: sa.Index("ix_t_at", t(m, sa.Column("at", sa.DateTime)).c.at.desc()),
         [T.format("at timestamp"), "CREATE INDEX ix_t_at ON t (at DESC)"]),
    Case("index DESC NULLS LAST",
         lambda m: sa.Index("ix_t_at", t(m, sa.Column("at", sa.DateTime)).c.at.desc().nulls_last()),
         [T.format("at timestamp"), "CREATE INDEX ix_t_at ON t (at DESC NULLS LAST)"]),
    Case("index operator class", lambda m: sa.Index("ix_t_s", t(m, sa.Column("s", sa.Text)).c.s,
                                                  postgresql_ops={"s": "text_pattern_ops"}),
         [T.format("s text"), "CREATE INDEX ix_t_s ON t (s text_pattern_ops)"]),
    Case("index gin_trgm_ops", lambda m: sa.Index("ix_t_s", t(m, sa.Column("s", sa.Text)).c.s, postgresql_using="gin",
                                                postgresql_ops={"s": "gin_trgm_ops"}),
         [T.format("s text"), "CREATE INDEX ix_t_s ON t USING gin (s gin_trgm_ops)"],
         setup=["CREATE EXTENSION IF NOT EXISTS pg_trgm"]),
    Case("index USING gin", lambda m: sa.Index("ix_t_j", t(m, sa.Column("j", pg.JSONB)).c.j, postgresql_using="gin"),
         [T.format("j jsonb"), "CREATE INDEX ix_t_j ON t USING GIN (j)"]),
    Case("index USING brin", lambda m: sa.Index("ix_t_at", t(m, sa.Column("at", sa.DateTime)).c.at,
                                              postgresql_using="brin"),
         [T.format("at timestamp"), "CREATE INDEX ix_t_at ON t USING brin (at)"]),
    Case("index INCLUDE", lambda m: sa.Index("ix_t_a", t(m, sa.Column("a", sa.Integer), sa.Column("b", sa.Text)).c.a,
                                           postgresql_include=["b"]),
         [T.format("a int, b text"), "CREATE INDEX ix_t_a ON t (a) INCLUDE (b)"]),
    Case("expression index lower(varchar)", lambda m: sa.Index("ix_t_lower", sa.func.lower(
        t(m, sa.Column("code", sa.String(20))).c.code)),
         [T.format("code varchar(20)"), "CREATE INDEX ix_t_lower ON t (lower(code))"]),
    Case("expression index with a cast", lambda m: sa.Index("ix_t_day", sa.cast(
        t(m, sa.Column("at", sa.DateTime)).c.at, sa.Date)),
         [T.format("at timestamp"), "CREATE INDEX ix_t_day ON t ((at::date))"]),
    Case("partial index IS NULL", lambda m: sa.Index("ix_t_live", (tab := t(m, sa.Column("deleted_at", sa.DateTime),
                                                                          sa.Column("a", sa.Integer))).c.a,
                                                   postgresql_where=tab.c.deleted_at.is_(None)),
         [T.format("deleted_at timestamp, a int"), "CREATE INDEX ix_t_live ON t (a) WHERE (deleted_at IS NULL)"]),
    Case("partial index text predicate",
         lambda m: sa.Index("ix_t_open", t(m, sa.Column("status", sa.String(10))).c.status,
                            postgresql_where=sa.text("status <> 'shipped'")),
         [T.format("status varchar(10)"),
          "CREATE INDEX ix_t_open ON t (status) WHERE status::text <> 'shipped'::text"]),
    Case("unique partial index", lambda m: sa.Index("uq_t_email", (tab := t(m, sa.Column("email", sa.Text),
                                                                          sa.Column("active", sa.Boolean))).c.email,
                                                  unique=True, postgresql_where=tab.c.active),
         [T.format("email text, active boolean"), "CREATE UNIQUE INDEX uq_t_email ON t (email) WHERE active"]),
    # -- CHECK constraints
    Case("check IN list", lambda m: t(m, sa.Column("kind", sa.Text), sa.CheckConstraint("kind IN ('a', 'b')",
                                                                                       name="ck_t_kind")),
         [T.format("kind text, CONSTRAINT ck_t_kind CHECK (kind = ANY (ARRAY['a'::text, 'b'::text]))")]),
    Case("check with cast on the catalog side", lambda m: t(m, sa.Column("price", sa.Numeric(10, 2)),
                                                         sa.CheckConstraint("price >= 0")),
         [T.format("price numeric(10,2) CHECK (price >= 0::numeric)")]),
    Case("check length(varchar)", lambda m: t(m, sa.Column("code", sa.String(10)),
                                            sa.CheckConstraint("length(code) > 2", name="ck_t_code")),
         [T.format("code varchar(10), CONSTRAINT ck_t_code CHECK (length(code::text) > 2)")]),
    Case("check BETWEEN", lambda m: t(m, sa.Column("qty", sa.Integer),
                                    sa.CheckConstraint("qty BETWEEN 1 AND 10", name="ck_t_qty")),
         [T.format("qty int, CONSTRAINT ck_t_qty CHECK (qty >= 1 AND qty <= 10)")]),
    Case("non-native Enum CHECK", lambda m: t(m, sa.Column("status", sa.Enum("new", "done", name="status_kind",
                                                                             native_enum=False,
                                                                             create_constraint=True))),
         [T.format("status varchar(4), CONSTRAINT status_kind CHECK (status::text = ANY "
                   "(ARRAY['new'::character varying, 'done'::character varying]::text[]))")]),
    Case("Boolean(create_constraint=True) CHECK", lambda m: t(m, sa.Column("b", sa.Boolean(create_constraint=True,
                                                                                           name="ck_t_b"))),
         [T.format("b boolean")]),  # PostgreSQL has a native boolean: neither create_all nor Alembic adds it
    Case("the same CHECK declared twice", lambda m: t(m, sa.Column("qty", sa.Integer),
                                                    sa.CheckConstraint("qty > 0", name="ck_t_qty"),
                                                    sa.CheckConstraint("qty > 0")),
         [T.format("qty int, CONSTRAINT ck_t_qty CHECK (qty > 0)")]),
    # -- constraints declared twice, keys, serial/identity
    Case("unique declared twice", lambda m: t(m, sa.Column("email", sa.Text, unique=True),
                                            sa.UniqueConstraint("email", name="uq_t_email")),
         [T.format("email text, CONSTRAINT uq_t_email UNIQUE (email)")]),
    Case("serial vs identity", lambda m: t(m),
         ["CREATE TABLE t (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)"]),
    Case("bigserial primary key", lambda m: sa.Table("t", m, sa.Column("id", sa.BigInteger, primary_key=True)),
         ["CREATE TABLE t (id bigserial PRIMARY KEY)"]),
    Case("a sequence the database's functions use", lambda m: t(m),
         ["CREATE TABLE t (id serial PRIMARY KEY)", "CREATE SEQUENCE order_numbers"]),
    # -- types
    Case("TypeDecorator over String", lambda m: t(m, sa.Column("s", _Trimmed(50))), [T.format("s varchar(50)")]),
    Case("Float is double precision", lambda m: t(m, sa.Column("f", sa.Float)), [T.format("f double precision")]),
    Case("ARRAY of String", lambda m: t(m, sa.Column("tags", pg.ARRAY(sa.String(20)))),
         [T.format("tags varchar(20)[]")]),
    Case("timestamptz", lambda m: t(m, sa.Column("at", sa.DateTime(timezone=True))), [T.format("at timestamptz")]),
    Case("citext from an extension", lambda m: t(m, sa.Column("e", _Citext())), [T.format("e citext")],
         setup=["CREATE EXTENSION IF NOT EXISTS citext"]),
    # -- found on Prefect 3.1 (100 revisions; docs/adoption.md, session 8)
    Case("ASC index key (the server's default order)",
         lambda m: sa.Index("ix_t_at", t(m, sa.Column("at", sa.DateTime)).c.at.asc()),
         [T.format("at timestamp"), "CREATE INDEX ix_t_at ON t (at)"]),
    Case("a naming-convention FK name longer than 63 characters (SQLAlchemy cuts it with a hash)",
         _long_fk, _created_by_sqlalchemy(_long_fk)),
    # FastAPI-boilerplate (session 8): `mapped_column(primary_key=True, unique=True)`; SQLAlchemy emits UNIQUE (id)
    # and PostgreSQL drops it in CREATE TABLE (it repeats the primary key, which already guarantees it)
    Case("unique=True on the primary key", lambda m: sa.Table("t", m, sa.Column("id", sa.Integer, primary_key=True,
                                                                               unique=True)),
         _created_by_sqlalchemy(lambda m: sa.Table("t", m, sa.Column("id", sa.Integer, primary_key=True,
                                                                     unique=True)))),
    Case("one index declared twice: index=True and an Index under the convention's name",
         lambda m: sa.Index("ix_t__key", _convention(m, ix="ix_%(table_name)s__%(column_0_name)s",
                                                     table=lambda: t(m, sa.Column("key", sa.Text, index=True))
                                                     ).c.key),
         [T.format("key text"), "CREATE INDEX ix_t__key ON t (key)"]),
]



class _Trimmed(sa.types.TypeDecorator[str]):
    impl = sa.String
    cache_ok = True


class _Citext(sa.types.UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "CITEXT"


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_no_false_positive(pg_psycopg_url: str, case: Case) -> None:
    assert [d.detail for d in _diff(pg_psycopg_url, case)] == []


# The same constructs really changed: still caught.
TRUE_POSITIVES = [
    (Case("DESC removed", lambda m: sa.Index("ix_t_at", t(m, sa.Column("at", sa.DateTime)).c.at.desc()),
          [T.format("at timestamp"), "CREATE INDEX ix_t_at ON t (at)"]), ("index", "changed")),
    (Case("boolean default flipped", lambda m: t(m, sa.Column("b", sa.Boolean, server_default=sa.false())),
          [T.format("b boolean DEFAULT true")]), ("default", "changed")),
    (Case("operator class dropped", lambda m: sa.Index("ix_t_s", t(m, sa.Column("s", sa.Text)).c.s,
                                                     postgresql_ops={"s": "text_pattern_ops"}),
          [T.format("s text"), "CREATE INDEX ix_t_s ON t (s)"]), ("index", "changed")),
    (Case("IN list changed", lambda m: t(m, sa.Column("kind", sa.Text), sa.CheckConstraint("kind IN ('a', 'b')",
                                                                                          name="ck_t_kind")),
          [T.format("kind text, CONSTRAINT ck_t_kind CHECK (kind IN ('a', 'b', 'c'))")]), ("check", "changed")),
    (Case("INCLUDE dropped", lambda m: sa.Index("ix_t_a", t(m, sa.Column("a", sa.Integer), sa.Column("b", sa.Text)).c.a,
                                              postgresql_include=["b"]),
          [T.format("a int, b text"), "CREATE INDEX ix_t_a ON t (a)"]), ("index", "changed")),
    (Case("predicate changed", lambda m: sa.Index("ix_t_live", (tab := t(m, sa.Column("deleted_at", sa.DateTime),
                                                                       sa.Column("a", sa.Integer))).c.a,
                                                postgresql_where=tab.c.deleted_at.is_(None)),
          [T.format("deleted_at timestamp, a int"), "CREATE INDEX ix_t_live ON t (a) WHERE deleted_at IS NOT NULL"]),
     ("index", "changed")),
    (Case("function default changed", lambda m: t(m, sa.Column("at", sa.DateTime, server_default=sa.func.now())),
          [T.format("at timestamp DEFAULT clock_timestamp()")]), ("default", "changed")),
    (Case("varchar length", lambda m: t(m, sa.Column("s", sa.String(20))), [T.format("s varchar(30)")]),
     ("type", "changed")),
    (Case("a UNIQUE that repeats the primary key, added later", lambda m: t(m),
          ["CREATE TABLE t (id serial PRIMARY KEY)", "ALTER TABLE t ADD CONSTRAINT uq_t_id UNIQUE (id)"]),
     ("unique", "extra")),
    (Case("unique=True on one column of a composite key", lambda m: sa.Table(
        "t", m, sa.Column("a", sa.Integer, primary_key=True, unique=True),
        sa.Column("b", sa.Integer, primary_key=True)),
          ["CREATE TABLE t (a int, b int, PRIMARY KEY (a, b))"]), ("unique", "missing")),
]


MINOR = [
    Case("VARCHAR without a length", lambda m: t(m, sa.Column("s", sa.String)), [T.format("s varchar(255)")]),
    Case("composite primary key order", lambda m: sa.Table("t", m, sa.Column("b", sa.Integer, primary_key=True),
                                                         sa.Column("a", sa.Integer, primary_key=True)),
         ["CREATE TABLE t (a int, b int, PRIMARY KEY (a, b))"]),
    # a table renamed by a revision that kept its FK's old name (Prefect's block -> block_document): the same
    # behaviour, but a later revision that drops it by the model's name fails, so it is said
    Case("foreign key under another name", lambda m: (sa.Table("p", m, sa.Column("id", sa.Integer, primary_key=True)),
                                                     t(m, sa.Column("p", sa.Integer, sa.ForeignKey("p.id",
                                                                                                   name="fk_t_p_p")))),
         ["CREATE TABLE p (id serial PRIMARY KEY)",
          T.format("p int, CONSTRAINT fk_block_p_p FOREIGN KEY (p) REFERENCES p (id)")]),
]


@pytest.mark.parametrize("case", MINOR, ids=[c.name for c in MINOR])
def test_minor_differences_are_warnings(pg_psycopg_url: str, case: Case) -> None:
    """Real but minor: reported with severity "warning", which never fails the gate."""
    diffs = _diff(pg_psycopg_url, case)
    assert [d.severity for d in diffs] == ["warning"], [d.detail for d in diffs]


@pytest.mark.parametrize(("case", "expected"), TRUE_POSITIVES, ids=[c[0].name for c in TRUE_POSITIVES])
def test_real_differences_stay_caught(pg_psycopg_url: str, case: Case, expected: tuple[str, str]) -> None:
    diffs = _diff(pg_psycopg_url, case)
    assert [(d.kind, d.change, d.severity) for d in diffs] == [(*expected, "error")], [d.detail for d in diffs]


CHAIN_MODELS = '''import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", pg.UUID, server_default=sa.text("GEN_RANDOM_UUID()")),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("done", sa.Boolean, server_default="f"),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("timezone('utc', now())")),
    sa.Column("code", sa.String(20)),
    sa.Column("deleted_at", sa.DateTime),
    sa.CheckConstraint("kind IN ('a', 'b')", name="ck_events_kind"),
)
sa.Index("ix_events_at", events.c.at.desc())
sa.Index("ix_events_lower_code", sa.func.lower(events.c.code), postgresql_where=events.c.deleted_at.is_(None))
'''

# what a hand-written (or years-old) revision left in the database for the same models
CHAIN_UP = """    op.execute('''CREATE TABLE events (
        id serial PRIMARY KEY, uid uuid DEFAULT gen_random_uuid(), kind text NOT NULL,
        done boolean DEFAULT false, at timestamptz DEFAULT timezone('utc'::text, now()), code varchar(20),
        deleted_at timestamp,
        CONSTRAINT ck_events_kind CHECK (kind = ANY (ARRAY['a'::text, 'b'::text])))''')
    op.execute("CREATE INDEX ix_events_at ON events (at DESC)")
    op.execute("CREATE INDEX ix_events_lower_code ON events (lower((code)::text)) WHERE deleted_at IS NULL")"""


def test_check_drift_three_ways_on_a_chain_that_spells_it_differently(invoke: Callable[..., object], tmp_path,
                                                                     pg_psycopg_url: str) -> None:
    """The whole command, models vs replayed chain vs live: nothing to report; then one real change."""
    import json

    from tests.helpers import execute, models_app

    app, _ = models_app(tmp_path, "fp", CHAIN_MODELS, [("0001", None, "events", CHAIN_UP,
                                                        "    op.drop_table('events')")])
    up = invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    clean = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert clean.exit_code == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["items"] == []
    execute(pg_psycopg_url, "DROP INDEX ix_events_at", "CREATE INDEX ix_events_at ON events (at)")
    drift = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert drift.exit_code == 3, drift.stdout + drift.stderr
    items = json.loads(drift.stdout)["items"]
    assert [(i["verdict"], i["kind"], i["name"]) for i in items] == [("out_of_band", "index", "ix_events_at")]


def test_upgrade_code_never_crashes_on_what_alembic_cannot_render(pg_psycopg_url: str) -> None:
    """A server default made of a construct with a PostgreSQL-only compiler: the comparison result is
    reported, and its line of upgrade_code is a commented placeholder instead of a crash."""
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.sql.functions import FunctionElement

    from dbops.drift.classify import Verdict
    from dbops.drift.ops import upgrade_code

    class GenerateUUID(FunctionElement[str]):
        name = "generate_uuid"
        inherit_cache = True

    @compiles(GenerateUUID, "postgresql")
    def _pg(element: object, compiler: object, **kw: object) -> str:
        return "gen_random_uuid()"

    case = Case("custom construct", lambda m: t(m, sa.Column("u", pg.UUID, server_default=GenerateUUID()),
                                                sa.Column("n", sa.Integer)),
                [T.format("u uuid, n int")])
    meta = sa.MetaData()
    case.model(meta)
    diffs = _diff(pg_psycopg_url, case)
    assert [(d.kind, d.name, d.expected, d.actual) for d in diffs] == [("default", "u", "gen_random_uuid()", None)]
    extra = Difference("column", "extra", None, "t", "legacy", None, "TEXT NULL", "column t.legacy is extra")
    code = upgrade_code([Verdict("drift", d) for d in [*diffs, extra]], meta)
    assert code is not None
    assert "# op.execute(...)  # AlterColumn t.u: Alembic cannot render it" in code
    assert "op.drop_column('t', 'legacy')" in code  # the rest is still rendered


def test_upgrade_code_replaces_an_index_defined_otherwise(pg_psycopg_url: str) -> None:
    from dbops.drift.classify import Verdict
    from dbops.drift.ops import upgrade_code

    case = TRUE_POSITIVES[0][0]  # DESC removed: an index of that name exists with another definition
    meta = sa.MetaData()
    case.model(meta)
    code = upgrade_code([Verdict("drift", d) for d in _diff(pg_psycopg_url, case)], meta) or ""
    assert code.index("op.drop_index('ix_t_at', table_name='t')") < code.index("op.create_index('ix_t_at'")


def test_an_index_the_server_refuses_leaves_the_rest_of_its_table_in_the_servers_spelling(pg_psycopg_url: str) -> None:
    """Prefect's models declare `Index(..., "name", postgresql_using="gin")` with no operator class, which the
    server refuses on a varchar; its chain made the index with gin_trgm_ops. The refused index keeps the models'
    own form (a real difference, reported), while the table's defaults still get the server's spelling: 33
    differences on Prefect before, of which 21 were defaults of the seven tables with such an index."""
    case = Case("gin without an operator class",
                lambda m: sa.Index("trgm_ix_t_name", t(m, sa.Column("u", pg.UUID, server_default=sa.text(
                    "(GEN_RANDOM_UUID())")), sa.Column("b", sa.Boolean, server_default="0"),
                    sa.Column("name", sa.String)).c.name, postgresql_using="gin"),
                [T.format("u uuid DEFAULT gen_random_uuid(), b boolean DEFAULT false, name varchar"),
                 "CREATE INDEX trgm_ix_t_name ON t USING gin (name gin_trgm_ops)"],
                setup=["CREATE EXTENSION IF NOT EXISTS pg_trgm"])
    diffs = _diff(pg_psycopg_url, case)
    assert [(d.kind, d.change, d.name) for d in diffs] == [("index", "changed", "trgm_ix_t_name")], \
        [d.detail for d in diffs]
