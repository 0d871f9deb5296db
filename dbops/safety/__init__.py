"""Migration safety and audit: checksums of revisions, the dbops_history table, the migration
lock (guard.py), pre-flight lock scan, and lint rules over Alembic operations."""
