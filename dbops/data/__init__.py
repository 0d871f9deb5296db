"""Batched, resumable data migrations.

    from dbops.data import DataMigration, run_data_migration

    backfill = DataMigration(
        name="orders_total_backfill", table="orders", key="id",
        set={"total": "(SELECT COALESCE(SUM(quantity * unit_price), 0) FROM order_items oi "
                      "WHERE oi.order_id = orders.id)"},
        where="total IS NULL", requires="0002",
    )
    run_data_migration(connection, backfill)      # a sync Connection (op.get_bind() in a revision)

declaration.py (the declaration) · sql.py (keyset batch statements) · checkpoint.py (progress table)
· batches.py (the loop: batches, adaptive size, throttling, retries, stop) · discover.py
(the data_migrations/ directory) · lock.py (one runner per migration).
"""
from __future__ import annotations

from dbops.data.batches import run_data_migration
from dbops.data.declaration import DataMigration

__all__ = ["DataMigration", "run_data_migration"]
