"""dbops lint: static review of revision files for operations that lock or break a live database.

rules.py (the rule registry and lint_source), operations.py (the Alembic operations a revision
performs, read from its AST, helpers and dialect branches included), sql.py (op.execute SQL read
with PostgreSQL's parser), check.py (the verb: files, chain, range, [lint] settings, baseline).
Nothing here imports a revision or connects to a database.
"""
