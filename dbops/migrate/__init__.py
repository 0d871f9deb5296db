"""Migration verbs over Alembic's Python API: each returns a report, none prints."""
