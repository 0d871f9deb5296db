"""A project shaped like mealie: env.py's target_metadata lives in a base module that defines no table,
and the models are registered by a module env.py imports only for that side effect; its alembic.ini
carries the old template's `version_path_separator = os  # comment`. `dbops init` names the side-effect
import (metadata_imports), check-drift then compares the real models, and without it refuses instead of
comparing nothing; squash replays through version_locations despite the commented separator."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.helpers import REVISION_TEMPLATE, STOCK_ENV_ONLINE

ENV = """from alembic import context
from sqlalchemy import engine_from_config, pool

import {pkg}.models  # noqa: F401
from {pkg}.base import metadata

config = context.config
target_metadata = metadata

""" + STOCK_ENV_ONLINE

INI = '''[alembic]
script_location = migrations
prepend_sys_path = .
version_path_separator = os  # Use os.pathsep. Default configuration used for new projects.
sqlalchemy.url = sqlite:///app.sqlite
'''


def _project(root: Path) -> tuple[Path, str]:
    pkg = f"mealie_like_{uuid.uuid4().hex[:6]}"
    app = root / "app"
    (app / pkg).mkdir(parents=True)
    (app / pkg / "__init__.py").write_text("")
    (app / pkg / "base.py").write_text("import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n")
    (app / pkg / "models.py").write_text(f"import sqlalchemy as sa\n\nfrom {pkg}.base import metadata\n\n"
                                         "recipes = sa.Table('recipes', metadata, sa.Column('id', sa.Integer, "
                                         "primary_key=True), sa.Column('name', sa.String(100)))\n")
    (app / "alembic.ini").write_text(INI)
    (app / "migrations" / "versions").mkdir(parents=True)
    (app / "migrations" / "env.py").write_text(ENV.format(pkg=pkg))
    for rev, down, up in (("m1", None, "    op.create_table('recipes', sa.Column('id', sa.Integer, primary_key=True))"),
                          ("m2", "m1", "    op.add_column('recipes', sa.Column('name', sa.String(100)))")):
        (app / "migrations" / "versions" / f"{rev}.py").write_text(
            REVISION_TEMPLATE.format(doc=rev, rev=rev, down=down, up=up, down_body="    pass"))
    return app, pkg


def test_side_effect_imports_register_the_models(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    app, pkg = _project(tmp_path)
    init = invoke("init", cwd=app)
    assert init.exit_code == 0, init.stderr
    toml = (app / "dbops.toml").read_text()
    assert f'metadata = "{pkg}.base:metadata"' in toml and f'metadata_imports = ["{pkg}.models"]' in toml

    drift = invoke("check-drift", "--against", "migrations", "--format", "json", cwd=app)
    assert drift.exit_code == 0, drift.stdout + drift.stderr
    assert json.loads(drift.stdout)["items"] == []

    squash = invoke("squash", "--dry-run", "--format", "json", cwd=app)  # sets version_locations itself
    assert squash.exit_code == 0, squash.stdout + squash.stderr
    assert json.loads(squash.stdout)["proven"] is True

    # without it, in a fresh interpreter (this one has imported the models by now): refused, not compared
    (app / "dbops.toml").write_text(toml.replace(f'metadata_imports = ["{pkg}.models"]', ""))
    refused = subprocess.run([sys.executable, "-m", "dbops", "check-drift", "--against", "migrations", "--format",
                              "json"], cwd=app, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["error"]["message"].startswith(
        f"The models' metadata ({pkg}.base:metadata) holds no tables")


def test_init_names_side_effect_imports_in_every_spelling(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    """`from app import models  # noqa: F401` and `from app.models import Recipe  # noqa: F401` (names env.py
    never uses) register the models as `import app.models` does; a used import is not one of them."""
    for n, line in enumerate(("from {pkg} import models  # noqa: F401",
                              "from {pkg}.models import recipes  # noqa: F401")):
        app, pkg = _project(tmp_path / str(n))
        env = app / "migrations" / "env.py"
        env.write_text(env.read_text().replace(f"import {pkg}.models  # noqa: F401", line.format(pkg=pkg)))
        assert invoke("init", cwd=app).exit_code == 0
        assert f'metadata_imports = ["{pkg}.models"]' in (app / "dbops.toml").read_text(), line
