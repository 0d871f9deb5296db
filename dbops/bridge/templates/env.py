"""Alembic environment: dbops does the work (sync and async drivers, offline --sql,
safe inside a running event loop). Pass context.configure() extras as keyword
arguments, e.g. run_migrations(include_schemas=True)."""
from dbops.alembic_env import run_migrations

run_migrations()
