"""The documentation site: generated pages match the code, every config key is documented, and
MkDocs builds it in strict mode (a broken link or a page missing from nav fails)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

BIN = Path(sys.executable).parent


def test_generated_reference_pages_are_current() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_docs.py"), "--check"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_cli_reference_is_what_the_cli_prints() -> None:
    text = (REPO / "docs" / "reference" / "cli.md").read_text()
    block = text.split("## dbops upgrade\n\n```text\n", 1)[1].split("\n```", 1)[0]
    env = {**os.environ, "COLUMNS": "100"}
    printed = subprocess.run([str(BIN / "dbops"), "upgrade", "--help"], capture_output=True, text=True, env=env)
    assert printed.stdout.rstrip("\n") == block.rstrip("\n")


def test_every_configuration_key_is_documented() -> None:
    from dbops.config import _KNOWN_KEYS

    page = (REPO / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^### ([a-z_]+)$", page, re.M))
    assert documented == set(_KNOWN_KEYS)


def test_every_lint_rule_and_error_kind_has_its_section() -> None:
    from dbops import errors
    from dbops.lint.rules import FILE_RULES, RULES

    rules = (REPO / "docs" / "reference" / "lint-rules.md").read_text()
    assert set(re.findall(r"^## (DB\d{3})$", rules, re.M)) == set(RULES) | set(FILE_RULES)
    kinds = (REPO / "docs" / "reference" / "errors.md").read_text()
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.DbopsError)]
    assert {c.kind for c in classes} <= set(re.findall(r"^\| `([a-z_]+)` \|", kinds, re.M))


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").exists()
