"""Functions, triggers and views (alembic_utils entities) in check-drift: compared by the definition
the server prints, with the three verdicts; a dropped trigger is reported (plain `alembic check`
with alembic_utils reports it too)."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import execute, models_app

pytestmark = pytest.mark.postgres

ENTITIES = '''import sqlalchemy as sa
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.pg_view import PGView

metadata = sa.MetaData()
sa.Table("account", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text))

downcase = PGFunction(schema="public", signature="downcase_email()", definition="""
RETURNS trigger AS $$
BEGIN
  NEW.email = LOWER(NEW.email);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql""")
# spelled as people write it: EXECUTE PROCEDURE, upper case, extra spaces
lower_email = PGTrigger(schema="public", signature="lower_account_email", on_entity="public.account",
                        definition="BEFORE INSERT ON public.account FOR EACH ROW "
                                   "EXECUTE PROCEDURE public.downcase_email()")
emails = PGView(schema="public", signature="account_emails", definition="SELECT id,  EMAIL FROM public.account")
entities = [downcase, lower_email, emails]
'''

UP = """    op.create_table('account', sa.Column('id', sa.Integer, primary_key=True), sa.Column('email', sa.Text))
    op.execute('''CREATE FUNCTION public.downcase_email() RETURNS trigger AS $$
BEGIN
  NEW.email = LOWER(NEW.email);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql''')
    op.execute('CREATE TRIGGER lower_account_email BEFORE INSERT ON account FOR EACH ROW '
               'EXECUTE FUNCTION downcase_email()')
    op.execute('CREATE VIEW account_emails AS SELECT id, email FROM account')"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    app, module = models_app(tmp_path, "ent", ENTITIES, [("0001", None, "account", UP, "    op.drop_table('account')")])
    with (app / "dbops.toml").open("a") as toml:
        toml.write(f'entities = "{module}.models:entities"\n')
    return app


def _items(result: Result) -> list[tuple[str, str, str, str]]:
    return [(i["verdict"], i["kind"], i["change"], i["name"]) for i in json.loads(result.stdout)["items"]]


def test_entities_compare_by_the_servers_definition(invoke: Callable[..., Result], app: Path,
                                                    pg_psycopg_url: str) -> None:
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app).exit_code == 0
    clean = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert clean.exit_code == 0, clean.stdout + clean.stderr
    assert _items(clean) == []

    execute(pg_psycopg_url, "DROP TRIGGER lower_account_email ON account")  # someone "fixed" prod
    dropped = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert dropped.exit_code == 3
    assert _items(dropped) == [("out_of_band", "trigger", "missing", "lower_account_email on account")]

    execute(pg_psycopg_url, "CREATE TRIGGER lower_account_email BEFORE INSERT ON account FOR EACH ROW "
                            "EXECUTE FUNCTION downcase_email()",
            "CREATE OR REPLACE VIEW account_emails AS SELECT id, email, 1 AS one FROM account",
            "CREATE FUNCTION public.stray() RETURNS int AS 'SELECT 1' LANGUAGE sql")
    changed = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert sorted(_items(changed)) == [("out_of_band", "function", "extra", "stray()"),
                                       ("out_of_band", "view", "changed", "account_emails")]


def test_a_declared_entity_no_revision_creates_is_a_missing_migration(invoke: Callable[..., Result], app: Path,
                                                                      pg_psycopg_url: str) -> None:
    models = next(app.glob("ent_*/models.py"))
    models.write_text(models.read_text().replace(
        "entities = [downcase, lower_email, emails]",
        "active = PGView(schema='public', signature='active_accounts', definition='SELECT id FROM public.account')\n"
        "entities = [downcase, lower_email, emails, active]"))
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app).exit_code == 0
    result = invoke("check-drift", "--against", "migrations", "--database-url", pg_psycopg_url, "--format", "json",
                    cwd=app)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert _items(result) == [("missing_migration", "view", "missing", "active_accounts")]


@pytest.fixture
def registry() -> object:
    """alembic_utils's registry is process-wide: emptied after the test (other apps share this process)."""
    from alembic_utils.replaceable_entity import registry

    yield registry
    registry._entities.clear()


def test_entities_registered_with_alembic_utils_are_found(invoke: Callable[..., Result], app: Path,
                                                          pg_psycopg_url: str, registry: object) -> None:
    """No `entities` setting: what the models' modules registered with register_entities() is compared."""
    models = next(app.glob("ent_*/models.py"))
    models.write_text(models.read_text() + "\nfrom alembic_utils.replaceable_entity import register_entities\n"
                                           "register_entities(entities)\n")
    toml = app / "dbops.toml"
    toml.write_text("\n".join(line for line in toml.read_text().splitlines() if not line.startswith("entities")))
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app).exit_code == 0
    execute(pg_psycopg_url, "DROP VIEW account_emails")
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert _items(result) == [("out_of_band", "view", "missing", "account_emails")]
