"""Recompute every order's total from its items (SQL path: rows never enter Python)."""
from dbops.data import DataMigration

migration = DataMigration(
    name="orders_total_recompute",
    table="orders",
    key="id",
    set={"total": "(SELECT COALESCE(SUM(oi.quantity * oi.unit_price), 0) FROM order_items oi "
                  "WHERE oi.order_id = orders.id)"},
    requires="0002",
    description="orders.total = sum of its items",
)
