"""Each bad input: its one-paragraph message, exit code 1, no traceback, DB unchanged."""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import REPO, schema_of


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_malformed_url(invoke: Callable[..., Result]) -> None:
    result = invoke("current", "--database-url", "postgres//user:pw@host/db")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: The database URL is malformed (scheme '(none)'); it must look like "
        "postgresql+psycopg://user@localhost:5432/app. This usually means a shell variable was empty "
        "or the URL lost its '://'.\nCheck --database-url, DBOPS_DATABASE_URL and DATABASE_URL.\n"
    )


def test_unknown_driver(invoke: Callable[..., Result]) -> None:
    result = invoke("current", "--database-url", "oracle+nope://u:pw@h/d")
    assert result.exit_code == 1
    assert "Unknown database driver 'oracle+nope' in oracle+nope://u:***@h/d." in result.stderr
    _no_traceback(result)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_connection_refused(invoke: Callable[..., Result], driver: str) -> None:
    port = _free_port()
    result = invoke("upgrade", "--database-url", f"postgresql+{driver}://app:topsecret@127.0.0.1:{port}/app")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: Could not connect to postgresql+{driver}://app:***@127.0.0.1:{port}/app: the connection "
        "was refused. This usually means no server is listening at that host and port: it is not "
        "running, or the port is wrong. Driver said: "
    )
    assert "topsecret" not in result.stderr + result.stdout
    _no_traceback(result)


@pytest.mark.parametrize("url", ["postgresql+psycopg://app:topsecret@db.example.invalid/app",
                                 "postgresql+asyncpg://app:topsecret@db.example.invalid/app",
                                 "mysql+pymysql://app:topsecret@db.example.invalid/app"])
def test_host_that_does_not_resolve(invoke: Callable[..., Result], url: str) -> None:
    """MariaDB's driver wraps the resolver's error in its 2003 "can't connect": still a DNS fault."""
    import json

    result = invoke("current", "--database-url", url, "--format", "json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "connection_failed"
    assert ": the host name could not be resolved. This usually means the host in the URL is misspelt" \
        in error["message"]
    assert "topsecret" not in result.stderr + result.stdout
    _no_traceback(result)


@pytest.mark.postgres
@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:5432/postgres?sslmode=require",
                                 "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres?ssl=require"])
def test_tls_required_by_the_url_but_not_offered_by_the_server(invoke: Callable[..., Result], url: str) -> None:
    """The test server runs without TLS (ssl = off, PostgreSQL's default)."""
    result = invoke("current", "--database-url", url)
    assert result.exit_code == 1
    assert ": the TLS (SSL) handshake failed. This usually means the URL's TLS settings and the server's " \
        "disagree" in result.stderr
    _no_traceback(result)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts and never answers: an injected network fault."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_unresponsive_host_times_out(invoke: Callable[..., Result], silent_server: int, driver: str) -> None:
    url = f"postgresql+{driver}://app:topsecret@127.0.0.1:{silent_server}/app"
    result = invoke("current", "--database-url", url, env={"DBOPS_CONNECT_TIMEOUT": "1"})
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: Could not connect to postgresql+{driver}://app:***@127.0.0.1:{silent_server}/app: the "
        "connection attempt timed out (connect timeout 1s). This usually means the host is unreachable "
        "from here (firewall, wrong host, server still starting)."
    )


@pytest.fixture
def mariadb_user() -> Iterator[tuple[str, str]]:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DROP USER IF EXISTS 'dbops_pw'@'%'")
        cur.execute("CREATE USER 'dbops_pw'@'%' IDENTIFIED BY 'right-Pa55'")
    yield "dbops_pw", "right-Pa55"
    with conn.cursor() as cur:
        cur.execute("DROP USER IF EXISTS 'dbops_pw'@'%'")
    conn.close()


@pytest.mark.mariadb
def test_wrong_password(invoke: Callable[..., Result], mariadb_user: tuple[str, str]) -> None:
    user, _ = mariadb_user
    result = invoke("upgrade", "--database-url", f"mysql+pymysql://{user}:Wr0ngPassw0rd@127.0.0.1/test")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: Could not connect to mysql+pymysql://{user}:***@127.0.0.1/test: the server rejected the "
        "login. This usually means the user name or password in the URL is wrong, or the user may not "
        "log in from this host."
    )
    assert "Wr0ngPassw0rd" not in result.stderr + result.stdout


@pytest.mark.postgres
def test_unknown_role_postgresql(invoke: Callable[..., Result], pg_psycopg_url: str) -> None:
    url = pg_psycopg_url.replace("postgres@", "nobody_here:pw123456@", 1)
    result = invoke("current", "--database-url", url)
    assert result.exit_code == 1
    assert "the server rejected the login" in result.stderr
    assert 'role "nobody_here" does not exist' in result.stderr
    assert "pw123456" not in result.stderr


def test_metadata_module_does_not_import(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("revision", "--autogenerate", "-m", "x", "--database-url", sqlite_url,
                    "--metadata", "no_such_pkg.models:metadata")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Could not import 'no_such_pkg.models' (from metadata = 'no_such_pkg.models:metadata'): "
        "ModuleNotFoundError: No module named 'no_such_pkg'"
    )
    assert "Check with: python -c 'import no_such_pkg.models'" in result.stderr
    _no_traceback(result)


def test_metadata_is_not_a_metadata(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("revision", "--autogenerate", "-m", "x", "--database-url", sqlite_url,
                    "--metadata", "shop.models:UserCreate.model_config")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: metadata = 'shop.models:UserCreate.model_config' points at a dict, not a sqlalchemy "
        "MetaData.\nPoint it at your models' MetaData, e.g. 'app.models:SQLModel.metadata'.\n"
    )


def test_metadata_without_colon(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("revision", "--autogenerate", "-m", "x", "--database-url", sqlite_url,
                    "--metadata", "shop.models.metadata")
    assert result.exit_code == 1
    assert "is not in the form 'module:attr'" in result.stderr


def test_missing_alembic_ini_and_script_location(invoke: Callable[..., Result], tmp_path: Path) -> None:
    result = invoke("current", "--database-url", f"sqlite:///{tmp_path}/x.sqlite", cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: The migrations directory {tmp_path / 'migrations'} does not exist (script_location). "
        "Usually dbops runs from the wrong directory, or the project has no migration environment yet.\n"
        "Run from the project root, set script_location in [tool.dbops], or run: dbops init\n"
    )
    assert not (tmp_path / "x.sqlite").exists()


def test_config_file_that_does_not_exist(invoke: Callable[..., Result], tmp_path: Path) -> None:
    result = invoke("current", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Config file {tmp_path / 'nope.toml'} does not exist.")


def test_syntax_error_in_revision(invoke: Callable[..., Result], project: Path, sqlite_url: str) -> None:
    bad = project / "migrations" / "versions" / "0003_broken.py"
    bad.write_text('revision = "0003"\ndown_revision = "0002"\ndef upgrade(:\n    pass\n')
    result = invoke("upgrade", "--database-url", sqlite_url, cwd=project)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Revision file {bad} has a syntax error at line 3: ")
    assert "Fix 0003_broken.py, then check with: dbops history" in result.stderr
    assert not Path(sqlite_url[len("sqlite:///"):]).exists()  # nothing was created
    _no_traceback(result)


def test_unknown_revision(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("upgrade", "abc123", "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Can't locate revision identified by 'abc123'. Usually the revision id is mistyped, or "
        "the database was migrated from a branch whose revision files are not here.\n"
        "List the known revisions with: dbops history\n"
    )
    assert schema_of(sqlite_url)["tables"] == []


def _add_second_head(project: Path) -> None:
    (project / "migrations" / "versions" / "0003_branch.py").write_text(
        'revision = "0003b"\ndown_revision = "0001"\nbranch_labels = None\ndepends_on = None\n'
        "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )


def test_several_heads_on_upgrade_head(invoke: Callable[..., Result], project: Path, sqlite_url: str) -> None:
    _add_second_head(project)
    result = invoke("upgrade", "head", "--database-url", sqlite_url, cwd=project)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: There are several head revisions (0002, 0003b), so 'head' is ambiguous. Usually two "
        "branches each added a revision on the same parent.\nRun: dbops heads to see them; merge them "
        "with: dbops merge -m 'merge heads', or apply every head with: dbops upgrade heads\n"
    )
    assert schema_of(sqlite_url)["tables"] == []


def test_heads_check_exits_3(invoke: Callable[..., Result], project: Path) -> None:
    assert invoke("heads", "--check", cwd=project).exit_code == 0
    _add_second_head(project)
    result = invoke("heads", "--check", "--format", "json", cwd=project)
    assert result.exit_code == 3
    assert '"kind": "multiple_heads"' in result.stdout
    assert result.stderr.startswith("Error: There are 2 head revisions (0002, 0003b); deploys need one.")


def test_failing_revision_mid_chain(invoke: Callable[..., Result], project: Path, any_url: str) -> None:
    (project / "migrations" / "versions" / "0003_fails.py").write_text(
        '"""add a column to a table that is not there"""\n'
        'import sqlalchemy as sa\nfrom alembic import op\n'
        'revision = "0003"\ndown_revision = "0002"\nbranch_labels = None\ndepends_on = None\n'
        "def upgrade():\n    op.add_column('no_such_table', sa.Column('x', sa.Integer()))\n\n"
        "def downgrade():\n    pass\n"
    )
    result = invoke("upgrade", "--database-url", any_url, cwd=project)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Revision 0003 (add a column to a table that is not there) failed: "
    )
    assert "The version table now says 0002 (read after the failure): 0001, 0002 stayed applied." in result.stderr
    assert "Fix 0003_fails.py, then re-run" in result.stderr
    # transaction_per_migration (the default): the database stays at the last good revision
    assert schema_of(any_url)["version"] == ["0002"]
    _no_traceback(result)


def test_verbose_shows_traceback(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("upgrade", "abc123", "--database-url", sqlite_url, "-v")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_unknown_target(invoke: Callable[..., Result]) -> None:
    result = invoke("current", "--target", "prod")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Unknown target 'prod' (known targets: none are configured).")


def test_usage_error_is_exit_2(invoke: Callable[..., Result]) -> None:
    assert invoke("downgrade").exit_code == 2
    assert invoke("upgrade", "--format", "xml").exit_code == 2


def test_repo_root_is_the_reference_project() -> None:
    assert (REPO / "alembic.ini").is_file()
