"""history --applied, verify and lint at the command level."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dbops.bridge.project import database_heads, load_scripts
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.url import parse_url
from dbops.errors import ChecksumMismatch, ConfigError, LintFailed, RevisionError
from dbops.reports import (
    AppliedHistoryReport,
    AppliedRow,
    LintFinding,
    LintReport,
    VerifyItem,
    VerifyReport,
)
from dbops.safety import history
from dbops.safety.checksum import checksum_like, file_checksum


def applied_history(config: Config, *, limit: int | None = 200) -> AppliedHistoryReport:
    """The newest ``limit`` audit rows (None: all), and how many there are."""
    rows, total = run_with_connection(parse_url(config.url), lambda c: history.read(c, limit=limit),
                                      connect_timeout=config.connect_timeout)
    return AppliedHistoryReport(command="history", database=config.masked_url, target=config.target,
                                rows=tuple(AppliedRow(**{k: v for k, v in r.items() if k != "id"}) for r in rows),
                                total=total)


def verify(config: Config, *, baseline: bool = False) -> VerifyReport:
    """Applied revisions vs their files. ``baseline``: first record the files as they are now for
    applied revisions that have no audit row (a database migrated before dbops, or by plain
    alembic), under the migration lock; said so in dbops_history (outcome ``baseline``)."""
    script = load_scripts(config)
    if baseline:
        _baseline(config, script)

    def read(conn: sa.Connection) -> tuple[tuple[str, ...], dict[str, str | None]]:
        return database_heads(conn, config), history.latest_checksums(conn, schema=config.tenant_schema)

    current, recorded = run_with_connection(parse_url(config.url), read, connect_timeout=config.connect_timeout)
    items: list[VerifyItem] = []
    applied: list[str] = []
    if current:
        try:
            applied = [s.revision for s in script.iterate_revisions(current, "base")]
        except Exception:
            applied = [r for r in current if _exists(script, r)]
    for rev in dict.fromkeys([*applied, *(r for r in current if r not in applied)]):
        script_rev = _get(script, rev)
        was = recorded.get(rev)
        now = checksum_like(was, script_rev.path) if script_rev is not None else None
        if script_rev is None:
            status = "removed"
        elif rev not in recorded or was is None:
            status = "unrecorded"  # applied before dbops recorded checksums
        else:
            status = "ok" if now == was else "edited"
        items.append(VerifyItem(rev, status, was, now, script_rev.path if script_rev else None))
    report = VerifyReport(command="verify", database=config.masked_url, target=config.target, current=current,
                          items=tuple(items))
    bad = [f"{i.revision} ({i.status})" for i in items if i.status in ("edited", "removed")]
    if bad:
        raise ChecksumMismatch(
            f"{len(bad)} applied revision(s) no longer match what ran: {', '.join(bad)}. An edited revision means "
            "databases migrated before and after the edit differ; a removed one cannot be downgraded.",
            hint="Restore the file as applied (git log -p on it), and put new changes in a new revision: "
            "dbops revision -m '...'",
            report=report,
        )
    unrecorded = [i.revision for i in items if i.status == "unrecorded"]
    if unrecorded:
        raise ChecksumMismatch(
            f"{len(unrecorded)} applied revision(s) have no audit row, so nothing says the files are what ran: "
            f"{', '.join(unrecorded[:20])}{' ...' if len(unrecorded) > 20 else ''}. Usually the database was "
            "migrated before dbops was adopted, by plain alembic, or stamped; rarely a run was killed between a "
            "revision's commit and its row (dbops writes the row in the revision's own transaction).",
            hint="Check what ran with: dbops history --applied; then record the files as they are now, once: "
            "dbops verify --baseline",
            report=report,
        )
    return report


def _baseline(config: Config, script: Any) -> None:
    from dbops.safety.guard import migration_guard
    from dbops.safety.history import now

    with migration_guard(config, lock_wait=config.lock_wait) as guard:
        current = guard.heads(config)
        recorded = history.latest_checksums(guard.conn, schema=config.tenant_schema)
        try:
            applied = [s for s in script.iterate_revisions(current, "base")] if current else []
        except Exception:
            applied = [s for s in (_get(script, r) for r in current) if s is not None]
        rows = [{"run_id": "baseline", "command": "baseline", "revision": s.revision, "direction": "upgrade",
                 "from_revisions": None, "to_revisions": ",".join(current), "started_at": now(),
                 "duration_ms": None, "outcome": "baseline", "checksum": file_checksum(s.path)}
                for s in reversed(applied) if recorded.get(s.revision) is None]
        guard.prepare_history()
        guard.record(rows)


def _excluded(path: str, config: Config) -> bool:
    import fnmatch

    if not config.lint_exclude:
        return False
    try:
        relative = Path(path).resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        relative = Path(path).as_posix()
    return any(fnmatch.fnmatch(relative, pattern) for pattern in config.lint_exclude)


def _baseline_key(f: LintFinding) -> tuple[str, str, str]:
    # not the line: an edit above a known finding must not bring it back
    return (f.rule, f.revision, f.message)


def _write_baseline(path: Path, findings: list[LintFinding]) -> None:
    import json

    entries = sorted({_baseline_key(f) for f in findings})
    body = {"comment": "dbops lint --baseline: findings accepted when lint was adopted; new ones still fail",
            "version": 1, "findings": [{"rule": r, "revision": rev, "message": m} for r, rev, m in entries]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    tmp.replace(path)  # never half-written


def _read_baseline(path: Path) -> set[tuple[str, str, str]]:
    import json

    try:
        body = json.loads(path.read_text())
        return {(e["rule"], e["revision"], e["message"]) for e in body["findings"]}
    except FileNotFoundError as exc:
        raise ConfigError(f"The lint baseline {path} does not exist, so nothing could be compared with it.",
                          hint=f"Record one first: dbops lint --write-baseline {path}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"The lint baseline {path} is not one dbops wrote ({exc}).",
                          hint=f"Record it again: dbops lint --write-baseline {path}") from exc


def _walk(config: Config, rev_range: str | None) -> list[tuple[str, str]]:
    """(revision, path) base first. Every revision is found without importing one (their files read as
    text: lint needs neither the app's settings nor its packages); a range is resolved by Alembic."""
    if rev_range is None:
        found = _static_chain(config)
        if found is not None:
            return found
    script = load_scripts(config)
    base, _, head = (rev_range or "base:heads").partition(":")
    if not head:  # a single revision
        base, head = None, base  # type: ignore[assignment]
    try:
        if base is None:
            revisions = [script.get_revision(head)]
        else:
            revisions = list(script.walk_revisions(base=base or "base", head=head or "heads"))
    except Exception as exc:
        raise RevisionError(f"Cannot resolve revision range {rev_range!r}: {exc}.",
                            hint="Use REV, BASE:HEAD (e.g. 0002:heads), or nothing for every revision.") from exc
    return [(s.revision, s.path) for s in reversed(revisions)]


def _static_chain(config: Config) -> list[tuple[str, str]] | None:
    """Every revision file of the project's version directories, parents before children, read with
    ``ast``; None when one cannot be read that way (its revision is not a literal)."""
    from alembic.script import ScriptDirectory

    from dbops.bridge.project import alembic_config, env_settings
    from dbops.safety.lint import revision_links

    acfg = alembic_config(config, env_settings(config, with_metadata=False))
    script = ScriptDirectory.from_config(acfg)
    directories = script.version_locations or [script.versions]  # Alembic's default: <script_location>/versions
    nodes: dict[str, tuple[str, tuple[str, ...]]] = {}
    pattern = "**/*.py" if getattr(script, "recursive_version_locations", False) else "*.py"
    for directory in directories:
        for path in sorted(Path(directory).glob(pattern)):
            links = revision_links(path.read_text(encoding="utf-8"))
            if links is None:
                if path.name == "__init__.py":
                    continue
                return None
            nodes[links[0]] = (str(path), links[1])
    order: list[tuple[str, str]] = []
    placed: set[str] = set()
    pending = dict(nodes)
    while pending:
        ready = sorted((rev for rev, (_, downs) in pending.items() if all(d in placed or d not in nodes
                                                                          for d in downs)),
                       key=lambda rev: pending[rev][0])
        if not ready:  # a cycle: let Alembic say what is wrong
            return None
        for rev in ready:
            order.append((rev, pending.pop(rev)[0]))
            placed.add(rev)
    return order


def _get(script: Any, rev: str) -> Any:
    try:
        return script.get_revision(rev)
    except Exception:
        return None


def _exists(script: Any, rev: str) -> bool:
    return _get(script, rev) is not None


def lint(config: Config, rev_range: str | None = None, *, files: tuple[str, ...] = (),
         rules: tuple[str, ...] | None = None, baseline: str | None = None,
         write_baseline: str | None = None) -> LintReport:
    """Lint the revisions in ``rev_range`` (default: all), or only ``files`` (read as text: no revision
    module is imported, so a pre-commit hook needs neither the app's settings nor its models).
    ``rules``: only these rule ids. ``write_baseline``: record today's findings in that file (and pass);
    ``baseline``: report only findings that file does not hold (adopting lint on a legacy chain).
    The config's [lint] disable and exclude apply throughout."""
    from dbops.safety.lint import FILE_RULES, FILENAME_RULE, RULES, lint_source, revision_id

    if rules is not None and FILENAME_RULE in rules and not config.revision_filename:
        raise ConfigError(
            f"Rule {FILENAME_RULE} checks revision file names against revision_filename, and the dbops config "
            f"({config.config_file or 'none found'}) does not set one, so no name was checked.",
            hint='Set it in dbops.toml or [tool.dbops], e.g. revision_filename = "^\\d{4}_[a-z0-9_]+\\.py$"',
        )
    known = [*RULES, *(FILE_RULES if config.revision_filename else ())]
    wanted = [r for r in known if (rules is None or r in rules) and r not in config.lint_disable]
    todo: list[tuple[str, str]] = []  # (revision, path)
    skipped: list[str] = []
    if files:
        for name in files:
            rev = revision_id(Path(name).read_text(encoding="utf-8")) if Path(name).is_file() else None
            if rev is None:
                skipped.append(name)
            else:
                todo.append((rev, name))
    else:
        todo = _walk(config, rev_range)
    todo = [(rev, path) for rev, path in todo if not _excluded(path, config)]
    findings: list[LintFinding] = []
    for rev, path in todo:
        source = Path(path).read_text(encoding="utf-8")
        findings += [LintFinding(f.rule, f.title, rev, path, f.line, f.message, f.rationale)
                     for f in lint_source(source) if f.rule in wanted]
        name = Path(path).name
        if FILENAME_RULE in wanted and not re.fullmatch(config.revision_filename or "", name):
            title, rationale = FILE_RULES[FILENAME_RULE]
            findings.append(LintFinding(FILENAME_RULE, title, rev, path, 1, f"revision file name {name!r} does not "
                                        f"match revision_filename {config.revision_filename!r}", rationale))
    known_before = 0
    if write_baseline:
        _write_baseline(Path(write_baseline), findings)
        known_before, findings = len(findings), []
    elif baseline:
        recorded = _read_baseline(Path(baseline))
        kept = [f for f in findings if _baseline_key(f) not in recorded]
        known_before, findings = len(findings) - len(kept), kept
    report = LintReport(command="lint", revisions=tuple(rev for rev, _ in todo), findings=tuple(findings),
                        rules=tuple(wanted), clean=not findings, skipped=tuple(skipped), baselined=known_before)
    if findings:
        raise LintFailed(
            f"{len(findings)} lint finding(s) in {len({f.revision for f in findings})} revision(s). Each names an "
            "operation that locks or breaks a live database; the rationale says what to do instead.",
            hint="Fix them, or silence a reviewed one on its line: # dbops: noqa DB002",
            report=report,
        )
    return report
