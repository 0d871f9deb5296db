"""`dbops plan` for MariaDB / MySQL: the algorithm and lock level the server accepts for each pending
statement (asked on an empty copy of the schema in a scratch database, see mysql.py), the live table's
rows and size, and the open transactions an ALTER's metadata lock would wait behind."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dbops.config import Config
from dbops.plan.mysql import Answer, ask, builds_index, copy_schema, open_transactions, table_facts
from dbops.reports.plan import PlanEffect, PlanReport, PlanRevision, PlanSession, PlanStatement

# MariaDB/MySQL have no server-side sample here: fixed, deliberately slow figures (bytes/s)
COPY_SPEED, INPLACE_SPEED, INDEX_SPEED = 20e6, 40e6, 40e6


def plan_mysql(config: Config, url: sa.engine.URL, revision: str, preview: Any,
               chunks: list[tuple[str, str, str]]) -> PlanReport:
    from dbops.db.engine import run_with_connection
    from dbops.db.scratch import scratch_database

    messages = {s.revision: s.message for s in preview.steps}
    schema = url.database or ""
    from dbops.bridge.env_settings import not_app_tables

    skip = not_app_tables(config.version_table)  # Alembic's and dbops's bookkeeping

    def read_live(live: sa.Connection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        names = [r[0] for r in live.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema})]
        return {n: table_facts(live, schema, n) for n in names}, open_transactions(live)

    facts, sessions = run_with_connection(url, read_live, connect_timeout=config.connect_timeout)
    revisions: list[PlanRevision] = []
    with scratch_database(url, connect_timeout=config.connect_timeout,
                          purpose="dbops plan asks the server which ALTER algorithm each statement can use on an "
                          "empty copy of the schema") as scratch_url:

        def replay(scratch: sa.Connection) -> None:
            run_with_connection(url, lambda live: copy_schema(live, scratch, schema),
                                connect_timeout=config.connect_timeout)
            for before, after, sql in chunks:
                statements = []
                for text in _statements(sql):
                    answer = ask(scratch, text)
                    if answer.table in skip:
                        continue
                    statements.append(_statement(answer, facts, sessions))
                revisions.append(PlanRevision(
                    revision=after, down_revisions=tuple(r for r in before.split(",") if r),
                    message=messages.get(after), statements=tuple(statements),
                    estimated_seconds=round(sum(s.estimated_seconds for s in statements), 3)))

        run_with_connection(scratch_url, replay, connect_timeout=config.connect_timeout)
    return PlanReport(command="plan", database=config.masked_url, target=config.target,
                      from_revisions=preview.from_revisions, to_revision=revision, revisions=tuple(revisions),
                      throughput={"copy": COPY_SPEED, "inplace": INPLACE_SPEED, "index_build": INDEX_SPEED,
                                  "measured": 0.0},
                      estimated_seconds=round(sum(r.estimated_seconds for r in revisions), 3))


def _statements(sql: str) -> list[str]:
    """Alembic's offline MySQL output: one statement per ``;`` at a line end (its own rendering)."""
    out: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).strip().rstrip(";"))
            current = []
    if current and "".join(current).strip():
        out.append("\n".join(current).strip())
    return [s for s in out if s.upper() not in ("BEGIN", "COMMIT")]


def _statement(answer: Answer, facts: dict[str, Any], sessions: list[dict[str, Any]]) -> PlanStatement:
    if answer.table is None:
        return PlanStatement(sql=answer.statement, kind="other", concurrent=False,
                             note=answer.error or "not an ALTER: no table lock assessed", effects=(),
                             estimated_seconds=0.0)
    fact = facts.get(answer.table)
    new = fact is None
    rows, size = (None, None) if fact is None else (fact.rows, fact.bytes)
    if answer.algorithm is None:
        if answer.error:
            what, lock, blocks = (f"the server refused it on the empty copy: {answer.error}", "unknown",
                                  "unknown; assume writes wait")
        elif new:
            what, lock, blocks = answer.meaning, "new table", "nothing (nobody uses it yet)"
        else:
            what, lock, blocks = answer.meaning, "row locks", "writers of the same rows"
        effect = PlanEffect(relation=answer.table, lock=lock, blocks=blocks, what=what, rewrite=False,
                            scan=lock == "row locks", index_build=False, new=new, certain=not answer.error,
                            rows=rows, bytes=size,
                            estimated_seconds=0.0)
    else:
        index = builds_index(answer.statement)
        speed = COPY_SPEED if answer.algorithm == "COPY" else INPLACE_SPEED if answer.algorithm == "INPLACE" \
            else INDEX_SPEED if index else 0.0
        waits = "writes (INSERT, UPDATE, DELETE)" if answer.lock == "SHARED" else "nothing but a brief metadata lock"
        effect = PlanEffect(
            relation=answer.table, lock=f"LOCK={answer.lock}", blocks=waits,
            what=f"ALGORITHM={answer.algorithm}: {answer.meaning}" + (f" ({answer.reason})" if answer.reason else ""),
            rewrite=answer.rewrite, scan=False, index_build=index, new=new, certain=True,
            rows=rows, bytes=size,
            estimated_seconds=round(size / speed, 3) if speed and size else 0.0,
            sessions=() if new else tuple(PlanSession(s["pid"], s["application"], s["user"], s["state"],
                                                      s["transaction_seconds"], "metadata lock", True, s["query"])
                                          for s in sessions))
    return PlanStatement(sql=answer.statement, kind=answer.algorithm or "other", concurrent=False, note="",
                         effects=(effect,), estimated_seconds=effect.estimated_seconds)
