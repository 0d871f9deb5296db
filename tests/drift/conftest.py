from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import REVISION_TEMPLATE as REVISION

MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
widgets = sa.Table(
    "widgets", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("color", sa.String(20), nullable=True),
    sa.Column("weight", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_widgets_name", "name"),
)
'''


@pytest.fixture
def mini_app(tmp_path: Path) -> Path:
    """An app with its own MetaData and three revisions: 0001 widgets, 0002 color, 0003 weight+index."""
    module = f"inv_{uuid.uuid4().hex[:8]}"
    app = tmp_path / "app"
    (app / module).mkdir(parents=True)
    (app / module / "__init__.py").write_text("")
    (app / module / "models.py").write_text(MODELS)
    versions = app / "migrations" / "versions"
    versions.mkdir(parents=True)
    (app / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
    (app / "migrations" / "script.py.mako").write_text((Path(__file__).parents[2] / "migrations" /
                                                        "script.py.mako").read_text())
    (app / "dbops.toml").write_text(f'metadata = "{module}.models:metadata"\nscript_location = "migrations"\n')
    revs = [
        ("0001", None, "widgets", "    op.create_table('widgets', sa.Column('id', sa.Integer, primary_key=True),\n"
         "                    sa.Column('name', sa.String(100), nullable=False))", "    op.drop_table('widgets')"),
        ("0002", "0001", "color", "    op.add_column('widgets', sa.Column('color', sa.String(20)))",
         "    op.drop_column('widgets', 'color')"),
        ("0003", "0002", "weight and index",
         "    op.add_column('widgets', sa.Column('weight', sa.Integer, nullable=False, server_default='0'))\n"
         "    op.create_index('ix_widgets_name', 'widgets', ['name'])",
         "    op.drop_index('ix_widgets_name', 'widgets')\n    op.drop_column('widgets', 'weight')"),
    ]
    for rev, down, doc, up, down_body in revs:
        (versions / f"{rev}.py").write_text(REVISION.format(doc=doc, rev=rev, down=down, up=up, down_body=down_body))
    return app
