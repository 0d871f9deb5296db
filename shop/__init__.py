"""The reference app: users, orders, order items and products.

SQLModel tables (with Base/Create/Public/Update schema families) plus one plain
SQLAlchemy ``DeclarativeBase`` model (``Product``) on the same MetaData. Its migrations
live in the repository's root ``alembic.ini`` + ``migrations/``.
"""
