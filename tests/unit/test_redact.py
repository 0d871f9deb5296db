from __future__ import annotations

import pytest

from dbops import redact as redact_module
from dbops.db.url import parse_url
from dbops.redact import redact, register_secret


@pytest.fixture(autouse=True)
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets registered here must not leak into later tests' output (process-wide registry)."""
    monkeypatch.setattr(redact_module, "_secrets", set())


def test_url_password_is_masked_even_if_never_parsed() -> None:
    assert redact("failed for mysql://root:hunter2@db/app") == "failed for mysql://root:***@db/app"


def test_registered_secret_is_masked_as_a_whole_token() -> None:
    register_secret("postgres")
    assert redact("postgresql+psycopg://postgres:postgres@h/db") == "postgresql+psycopg://***:***@h/db"
    assert redact('user "postgres" failed') == 'user "***" failed'


def test_parse_url_registers_password_and_picks_driver() -> None:
    url = parse_url("postgresql://app:Xy_9-long@h:5432/db")
    assert url.drivername == "postgresql+psycopg"
    assert redact("the password was Xy_9-long") == "the password was ***"
    assert parse_url("mysql://root@h/db").drivername == "mysql+pymysql"
