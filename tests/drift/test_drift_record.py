"""Drift on a schedule: check-drift --record, dbops drift log, --notify (a real local webhook) and
--format prometheus, on the reference app. Three runs: clean, a difference appears, it goes away."""
from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.helpers import execute, sync_url


class Webhook:
    """A local HTTP server that keeps what was POSTed and answers with ``status``."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append({"path": self.path, "type": self.headers["Content-Type"],
                                   "body": json.loads(body)})
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def _set_default(url: str, value: str | None) -> None:
    clause = f"SET DEFAULT '{value}'" if value is not None else "DROP DEFAULT"
    execute(url, f"ALTER TABLE orders ALTER COLUMN status {clause}")


@pytest.mark.postgres
def test_three_runs_record_log_and_notify(invoke: Callable[..., Result], pg_psycopg_url: str,
                                           webhook: Webhook) -> None:
    assert invoke("upgrade", "--database-url", pg_psycopg_url).exit_code == 0
    args = ("check-drift", "--database-url", pg_psycopg_url, "--notify", webhook.url, "--format", "json")

    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    rec = json.loads(first.stdout)["recorded"]
    assert rec["run_id"] == 1 and rec["table"] == "dbops_drift_runs" and rec["changed"] is False
    assert rec["previous_run_at"] is None and rec["notified"] is False
    assert webhook.posts == []  # clean from the start: nothing changed, nobody is paged

    _set_default(pg_psycopg_url, "zzz")
    second = invoke(*args)
    assert second.exit_code == 3, second.stderr  # the check's own verdict is kept
    rec = json.loads(second.stdout)["recorded"]
    key = "out_of_band default changed orders.status"
    assert rec["changed"] is True and rec["appeared"] == [key] and rec["resolved"] == [] and rec["notified"] is True
    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    assert post["type"] == "application/json" and post["path"] == "/hooks/T000/secret-token"
    body = post["body"]
    assert body["event"] == "dbops.drift.changed" and body["clean"] is False and body["run_id"] == 2
    assert body["counts"] == {"missing_migration": 0, "out_of_band": 1, "drift": 0, "pending_migration": 0}
    assert [e["key"] for e in body["appeared"]] == [key] and body["resolved"] == []
    assert "'zzz'" in body["items"][0]["detail"]

    same = invoke(*args)  # the same difference again: recorded, no second notification
    assert same.exit_code == 3
    assert json.loads(same.stdout)["recorded"]["changed"] is False
    assert len(webhook.posts) == 1

    _set_default(pg_psycopg_url, None)  # the model has no server default: the difference goes away
    fourth = invoke(*args)
    assert fourth.exit_code == 0, fourth.stdout + fourth.stderr
    rec = json.loads(fourth.stdout)["recorded"]
    assert rec["changed"] is True and rec["appeared"] == [] and rec["resolved"] == [key]
    assert len(webhook.posts) == 2 and webhook.posts[1]["body"]["resolved"] == [key]
    assert webhook.posts[1]["body"]["clean"] is True

    log = invoke("drift", "log", "--database-url", pg_psycopg_url, "--format", "json")
    assert log.exit_code == 0, log.stderr
    data = json.loads(log.stdout)
    assert [r["run_id"] for r in data["runs"]] == [4, 3, 2, 1] and data["total_runs"] == 4
    assert [r["clean"] for r in data["runs"]] == [True, False, False, True]
    (item,) = data["differences"]
    assert item["key"] == key and item["runs"] == 2
    assert item["first_seen"] == data["runs"][2]["run_at"] and item["last_seen"] == data["runs"][1]["run_at"]
    assert item["resolved_at"] == data["runs"][0]["run_at"]

    table = invoke("drift", "log", "--database-url", pg_psycopg_url)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["status", "verdict", "kind", "object", "first", "seen", "last", "seen", "gone", "since"]
    assert lines[1].split()[:4] == ["gone", "out_of_band", "default", "orders.status"]
    assert lines[-1].startswith("4 recorded run(s); the latest (") and lines[-1].endswith(
        "was clean; 0 difference(s) open, 1 gone.")
    # dbops's own table is bookkeeping, never drift
    again = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["items"] == []


@pytest.mark.postgres
def test_a_webhook_that_refuses_fails_the_run_after_recording(invoke: Callable[..., Result], pg_psycopg_url: str,
                                                               webhook: Webhook) -> None:
    assert invoke("upgrade", "--database-url", pg_psycopg_url).exit_code == 0
    _set_default(pg_psycopg_url, "zzz")
    webhook.status = 500
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--notify", webhook.url, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["error"]["kind"] == "notification_failed" and data["recorded"]["run_id"] == 1
    assert data["recorded"]["notified"] is False and len(data["items"]) == 1
    assert "answered HTTP 500" in result.stderr and "secret-token" not in result.stdout + result.stderr
    with sa.create_engine(sync_url(pg_psycopg_url)).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dbops_drift_runs")).scalar() == 1

    # unchanged since run 1, but the webhook never accepted it: the next run tries again
    webhook.close()  # and now it cannot be reached at all
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--notify", webhook.url)
    assert result.exit_code == 1
    assert "could not be reached" in result.stderr and "secret-token" not in result.stdout + result.stderr
    hook = Webhook()
    try:
        result = invoke("check-drift", "--database-url", pg_psycopg_url, "--notify", hook.url, "--format", "json")
        assert result.exit_code == 3  # delivered this time; the drift itself still fails the check
        assert json.loads(result.stdout)["recorded"]["notified"] is True
        assert [e["key"] for e in hook.posts[0]["body"]["appeared"]] == ["out_of_band default changed orders.status"]
        again = invoke("check-drift", "--database-url", pg_psycopg_url, "--notify", hook.url)
        assert again.exit_code == 3 and len(hook.posts) == 1  # accepted once: not sent again
    finally:
        hook.close()


def test_notify_needs_an_http_url(invoke: Callable[..., Result], sqlite_url: str) -> None:
    assert invoke("upgrade", "--database-url", sqlite_url).exit_code == 0
    execute(sqlite_url, "CREATE TABLE extra_thing (id INTEGER PRIMARY KEY)")
    result = invoke("check-drift", "--database-url", sqlite_url, "--notify", "ftp://example.com/x")
    assert result.exit_code == 1
    assert "--notify needs an http(s) URL" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "mariadb_url"])
def test_record_and_drift_log_before_any_run(invoke: Callable[..., Result], request: pytest.FixtureRequest,
                                             url_fixture: str) -> None:
    sqlite_url = request.getfixturevalue(url_fixture)
    assert invoke("upgrade", "--database-url", sqlite_url).exit_code == 0
    empty = invoke("drift", "log", "--database-url", sqlite_url)
    assert empty.exit_code == 0
    assert empty.stdout.startswith("No recorded check-drift runs on ")
    result = invoke("check-drift", "--database-url", sqlite_url, "--record")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ("Recorded as run 1 in dbops_drift_runs: unchanged since the first "
                                              "recorded run.")
    log = json.loads(invoke("drift", "log", "--database-url", sqlite_url, "--format", "json").stdout)
    assert [r["clean"] for r in log["runs"]] == [True] and log["differences"] == []
    assert log["runs"][0]["run_at"].endswith("Z")


def test_record_without_a_database_is_refused(invoke: Callable[..., Result], project: Path) -> None:
    result = invoke("check-drift", "--against", "migrations", "--record", cwd=project)
    assert result.exit_code == 1
    assert "needs the database whose drift it records" in result.stderr
    assert not (project / "dbops.sqlite").exists()


def test_prometheus_format(invoke: Callable[..., Result], sqlite_url: str, tmp_path: Path) -> None:
    assert invoke("upgrade", "--database-url", sqlite_url).exit_code == 0
    execute(sqlite_url, "CREATE TABLE extra_thing (id INTEGER PRIMARY KEY)")
    result = invoke("check-drift", "--database-url", sqlite_url, "--format", "prometheus")
    assert result.exit_code == 3
    samples = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()
               if not line.startswith("#")}
    assert samples['dbops_drift_items{verdict="out_of_band"}'] == "1"
    assert samples['dbops_drift_items{verdict="missing_migration"}'] == "0"
    assert samples["dbops_drift_clean"] == "0" and samples["dbops_drift_check_success"] == "1"
    assert "# TYPE dbops_drift_items gauge" in result.stdout

    broken = invoke("check-drift", "--database-url", f"sqlite:///{tmp_path}/no/such/dir/x.db",
                    "--format", "prometheus")
    assert broken.exit_code == 1
    assert broken.stdout.splitlines()[-1] == "dbops_drift_check_success 0"
