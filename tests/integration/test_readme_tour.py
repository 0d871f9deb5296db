"""The README's tour, replayed: every ```console block under "## Tour" runs as written (in a bash
session per `<!-- tour: session=... -->` tag, in order, on a fresh copy of the reference app) and its
output must match the README, with only what changes from run to run masked (durations, rates,
timestamps, who ran it, generated revision ids, the temporary directory). A block the README cannot
replay says why in its tag (`<!-- tour: not replayed: ... -->`)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import REPO, dbops_app

BIN = Path(sys.executable).parent
README = REPO / "README.md"
TAG = re.compile(r"^(?P<indent> *)<!-- tour: (?P<tag>.*?) -->\n(?P=indent)```console\n"
                 r"(?P<body>(?:.*\n)*?)(?P=indent)```", re.M)
APP_FILES = ("alembic.ini", "pyproject.toml", "migrations", "shop", "data_migrations")
README_PG = "postgresql+psycopg://postgres@127.0.0.1/app"

COUPON_MODEL = '''

class Coupon(SQLModel, table=True):
    __tablename__ = "coupons"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
'''


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    session: str
    setup: str
    cwd: str
    steps: list[Step]
    line: int
    before: str | None = None  # a hidden step (HOOKS) run before the block: the prose says what it does
    after: str | None = None
    span: tuple[int, int] = (0, 0)  # where the block's body is in README.md
    indent: str = ""


# Hidden steps the prose around a block describes ("after adding a Coupon model ..."), as bash.
HOOKS = {
    "add_coupon_model": "cp shop/models.py .models.py.orig && cat >> shop/models.py <<'EOF'\n"
                        + COUPON_MODEL.strip("\n") + "\nEOF",
    "drop_coupon_model": "mv .models.py.orig shop/models.py && rm -f migrations/versions/*_add_coupons.py",
}


def tour_blocks() -> tuple[list[Block], list[str]]:
    text = README.read_text()
    start = text.index("## Tour")
    tour = text[start:text.index("## Many databases")]
    offset = text[:start].count("\n")
    blocks, skipped = [], []
    for m in TAG.finditer(tour):
        tag, indent = m["tag"], m["indent"]
        if tag.startswith("not replayed:"):
            skipped.append(tag)
            continue
        opts = dict(part.split("=", 1) for part in tag.split())
        steps: list[Step] = []
        for raw in m["body"].splitlines():
            line = raw[len(indent):]
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            else:
                steps[-1].expected.append(line)
        blocks.append(Block(opts["session"], opts.get("setup", opts["session"]), opts.get("cwd", "/tmp/tour"),
                            steps, offset + tour[:m.start()].count("\n") + 1, opts.get("before"), opts.get("after"),
                            (start + m.start("body"), start + m.end("body")), indent))
    return blocks, skipped


def test_every_console_block_of_the_tour_is_replayed_or_says_why() -> None:
    text = README.read_text()
    tour = text[text.index("## Tour"):text.index("## Many databases")]
    consoles = len(re.findall(r"^ *```console$", tour, re.M))
    blocks, skipped = tour_blocks()
    assert consoles == len(blocks) + len(skipped) and len(blocks) >= 10
    assert all(len(reason) > 40 for reason in skipped)


MASKS = [
    (re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b"), "<TIME>"),
    (re.compile(r"\b[\d,]+ rows/s"), "<N> rows/s"),
    (re.compile(r"\(size [\d,]+\)"), "(size <N>)"),  # the batch size adapts to the measured speed
    (re.compile(r"~?\b\d+(\.\d+)? ?(ms|s)\b"), "<DURATION>"),
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])"), "<REV>"),
    (re.compile(r"(?<=  )\S+@\S+$", re.M), "<WHO>"),
]


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, mask in MASKS:
            line = pattern.sub(mask, line)
        out.append(re.sub(r" {2,}", "  ", line.rstrip()))  # column widths follow the masked values
    return out


def setup(name: str, where: Path, pg_url: str | None) -> None:
    where.mkdir(parents=True)
    if name in ("reference", "pg_reference", "coupons"):
        for item in APP_FILES:
            source = REPO / item
            if source.is_dir():
                shutil.copytree(source, where / item, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, where / item)
    if name == "pg_reference":
        assert pg_url is not None
        subprocess.run([str(BIN / "dbops"), "upgrade", "-q", "--database-url", pg_url], cwd=where, check=True,
                       capture_output=True)
    if name == "two_heads":
        where.rmdir()
        dbops_app(where.parent, where.name, [(rev, down, doc, "    pass", "    pass") for rev, down, doc in
                                             (("r1", None, "one"), ("r2a", "r1", "a"), ("r2b", "r1", "b"))])
        shutil.copy(REPO / "migrations" / "script.py.mako", where / "migrations" / "script.py.mako")
    if name == "empty":
        (where / "notes").mkdir()
        (where / "notes" / "__init__.py").write_text("")
        (where / "notes" / "models.py").write_text("from sqlmodel import SQLModel\n")


def run_session(blocks: list[Block], where: Path, pg_url: str | None) -> list[tuple[Block, Step, list[str]]]:
    """One bash process per session, so `$ echo $?` and exports carry over as in a terminal."""
    marker = "@@dbops-tour-step@@"
    script = ["export PATH=" + str(BIN) + ":$PATH", "export PYTHONUNBUFFERED=1 COLUMNS=200 LC_ALL=C.UTF-8",
              "unset DATABASE_URL DBOPS_DATABASE_URL", f"cd {where}", "__rc=0"]
    order = []
    for block in blocks:
        if block.before:
            script.append("{ " + HOOKS[block.before] + "\n} >/dev/null 2>&1")
        for step in block.steps:
            command = step.command
            if pg_url is not None:
                command = command.replace(README_PG, pg_url)
                database = pg_url.rsplit("/", 1)[1]
                command = re.sub(r"^psql app ", f"psql -q -h 127.0.0.1 -U postgres {database} ", command)
            script += [f"(exit $__rc); {command}", "__rc=$?", f"echo {marker}"]
            order.append((block, step))
        if block.after:
            script.append("{ " + HOOKS[block.after] + "\n} >/dev/null 2>&1")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DBOPS_DATABASE_URL")}
    result = subprocess.run(["bash", "-c", "\n".join(script) + "\n"], capture_output=False, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, timeout=600)
    outputs = result.stdout.split(marker + "\n")
    assert len(outputs) == len(order) + 1, result.stdout[-2000:]
    readme_dir = blocks[0].cwd
    shown = []
    for (block, step), output in zip(order, outputs, strict=False):
        text = output.replace(str(where), readme_dir)
        if pg_url is not None:
            text = text.replace(pg_url, README_PG)
        shown.append((block, step, text.splitlines()))
    return shown


def sessions() -> dict[str, list[Block]]:
    out: dict[str, list[Block]] = {}
    for block in tour_blocks()[0]:
        out.setdefault(block.session, []).append(block)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("session", [s for s in sessions() if s != "pg"])
def test_tour_session(session: str, tmp_path: Path) -> None:
    blocks = sessions()[session]
    where = tmp_path / "tour"
    setup(blocks[0].setup, where, None)
    _compare(run_session(blocks, where, None))


@pytest.mark.postgres
def test_tour_session_on_postgresql(tmp_path: Path, pg_psycopg_url: str) -> None:
    blocks = sessions()["pg"]
    where = tmp_path / "tour"
    setup(blocks[0].setup, where, pg_psycopg_url)
    _compare(run_session(blocks, where, pg_psycopg_url))


def _compare(shown: list[tuple[Block, Step, list[str]]]) -> None:
    problems = []
    for block, step, actual in shown:
        if normalise(actual) != normalise(step.expected):
            problems.append(f"README line {block.line}: $ {step.command}\n  README:\n    "
                            + "\n    ".join(step.expected) + "\n  real:\n    " + "\n    ".join(actual))
    assert not problems, "\n\n".join(problems) + "\n\n(After a deliberate change of output, rewrite the README's " \
        "tour from real runs with: python -m tests.integration.test_readme_tour --update)"


def update(pg_url: str) -> None:
    """Rewrite every replayed block's output in README.md from a real run (then review the diff)."""
    import tempfile

    text = README.read_text()
    replaced: dict[tuple[int, int], str] = {}
    for name, blocks in sessions().items():
        with tempfile.TemporaryDirectory() as tmp:
            where = Path(tmp) / "tour"
            setup(blocks[0].setup, where, pg_url if name == "pg" else None)
            shown = run_session(blocks, where, pg_url if name == "pg" else None)
        for block in blocks:
            body = []
            for b, step, actual in shown:
                if b is block:
                    body += [f"$ {step.command}", *actual]
            replaced[block.span] = "".join(f"{block.indent}{line}".rstrip() + "\n" for line in body)
    for (begin, end), body in sorted(replaced.items(), reverse=True):
        text = text[:begin] + body + text[end:]
    README.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.integration.test_readme_tour --update")
    import psycopg

    name = "dbops_tour_update"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        update(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
