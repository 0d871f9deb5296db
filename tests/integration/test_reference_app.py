"""The reference app's migrations on SQLite, PostgreSQL (psycopg and asyncpg) and MariaDB."""
from __future__ import annotations

from decimal import Decimal

from dbops import command
from tests.helpers import config_for, execute, schema_of

TABLES = ["order_items", "orders", "products", "users"]


def test_upgrade_base_head_base_head(any_url: str) -> None:
    config = config_for(any_url)

    first = command.upgrade(config)
    assert first.from_revisions == ()
    assert first.to_revisions == ("0002",)
    assert [s.revision for s in first.steps] == ["0001", "0002"]
    assert all(s.duration_ms > 0 for s in first.steps)
    schema = schema_of(any_url)
    assert schema["tables"] == TABLES
    assert schema["version"] == ["0002"]
    assert "ix_products_category_price" in schema["indexes"]["products"]
    # the trigram GIN index exists on PostgreSQL only
    assert ("ix_products_name_trgm" in schema["indexes"]["products"]) == any_url.startswith("postgresql")

    down = command.downgrade(config, "base")
    assert [s.revision for s in down.steps] == ["0002", "0001"]
    assert all(s.direction == "downgrade" for s in down.steps)
    assert down.to_revisions == ()
    assert schema_of(any_url)["tables"] == []

    again = command.upgrade(config)
    assert again.to_revisions == ("0002",)
    noop = command.upgrade(config)
    assert noop.steps == () and noop.from_revisions == ("0002",) and not noop.changed
    assert command.current(config, check=True).at_head


def test_backfill_revision_computes_order_totals(any_url: str) -> None:
    config = config_for(any_url)
    command.upgrade(config, "0001")
    execute(
        any_url,
        "INSERT INTO users (id, email, is_active, hashed_password) VALUES (1, 'a@example.com', true, 'x')",
        "INSERT INTO products (id, name, category, price, version_id) VALUES (1, 'pen', 'office', 2.50, 1)",
        "INSERT INTO orders (id, user_id, status) VALUES (1, 1, 'paid'), (2, 1, 'pending'), (25000, 1, 'paid')",
        "INSERT INTO order_items (id, order_id, product_id, quantity, unit_price) VALUES "
        "(1, 1, 1, 3, 2.50), (2, 1, 1, 1, 10.00), (3, 25000, 1, 2, 1.25)",
    )
    report = command.upgrade(config)
    assert [s.revision for s in report.steps] == ["0002"]
    rows = execute(any_url, "SELECT id, total FROM orders ORDER BY id")[0]
    assert [(r[0], Decimal(str(r[1])).quantize(Decimal("0.01"))) for r in rows] == [
        (1, Decimal("17.50")), (2, Decimal("0.00")), (25000, Decimal("2.50")),
    ]


def test_autogenerate_finds_nothing_after_upgrade_on_postgresql(pg_url: str, project) -> None:  # type: ignore[no-untyped-def]
    config = config_for(pg_url, cwd=project)
    command.upgrade(config)
    report = command.revision(config, "should be empty", autogenerate=True)
    assert report.changes == ()


def test_autogenerate_finds_nothing_after_upgrade_on_sqlite(sqlite_url: str, project) -> None:  # type: ignore[no-untyped-def]
    config = config_for(sqlite_url, cwd=project)
    command.upgrade(config)
    report = command.revision(config, "should be empty", autogenerate=True)
    assert report.changes == ()
