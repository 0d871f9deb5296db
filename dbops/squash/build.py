"""dbops squash: replay the chain, render a baseline from the catalog, prove it, then rewrite the files.

1. Replay base..REV into scratch database A (the project's own env.py, as check-drift does).
2. Render the baseline from A's catalog (postgresql.py / other.py) into a file in a temporary version
   directory; replay it into scratch database B; compare the fingerprints of A and B
   (prove.py, fingerprint.py), run the baseline's downgrade() on B and check the schema is empty again.
3. Only then write: the baseline replaces REV's file (same revision id, no parent, so every database at
   REV or later continues), the squashed files move to the archive (or are deleted), and squash.json
   records them. Nothing is written when the proof fails (exit 3) or with --dry-run.

``check`` re-proves an existing baseline against the archived chain (or any directory of the old
revision files), e.g. in CI or after editing the baseline by hand.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from dbops.bridge.project import database_heads, find_revision, load_scripts, revision_message
from dbops.bridge.squashed import Archive, SquashedRevision, archives, default_root
from dbops.bridge.squashed import read as read_archive
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.scratch import scratch_database
from dbops.db.url import parse_url
from dbops.errors import ConfigError, DbopsError, RevisionError, SquashUnproven
from dbops.reports import SquashDatabase, SquashDataRevision, SquashReport
from dbops.squash.data import data_steps, kept_function
from dbops.squash.prove import (
    PURPOSE,
    Built,
    bootstrap_makes_tables,
    prove,
    read,
    replay,
    server_of,
    servers,
    unproven,
)
from dbops.squash.render import baseline_module


def _range(script: Any, revision: str) -> list[Any]:
    """The revisions squashed into ``revision``: it and all its ancestors, base first."""
    return list(reversed(list(script.iterate_revisions(revision, "base"))))


def _outside_dependents(script: Any, squashed: set[str], revision: str) -> list[str]:
    out = []
    for rev in script.walk_revisions():
        if rev.revision in squashed:
            continue
        parents = set(rev._all_down_revisions) | set(getattr(rev, "_resolved_dependencies", ()) or ())
        bad = sorted((parents & squashed) - {revision})
        if bad:
            out.append(f"{rev.revision} (on {', '.join(bad)})")
    return out


def _databases(config: Config, script: Any, squashed: set[str], revision: str) -> tuple[SquashDatabase, ...]:
    if config.uses_default_database:
        return ()
    try:
        heads = run_with_connection(parse_url(config.url), lambda c: database_heads(c, config),
                                    connect_timeout=config.connect_timeout, application_name="dbops-squash")
    except DbopsError as exc:
        return (SquashDatabase(config.masked_url, (), "unreachable", f"not checked: {exc.message.split('. ')[0]}"),)
    if not heads:
        return (SquashDatabase(config.masked_url, (), "base", "empty: the baseline builds it"),)
    behind = [h for h in heads if h in squashed and h != revision]
    if behind:
        return (SquashDatabase(config.masked_url, heads, "behind",
                               f"upgrade it to {revision} with the old chain first (dbops upgrade {revision} on the "
                               "code before the squash); after the squash its revision has no file here"),)
    known = all(find_revision(script, h) is not None for h in heads)
    return (SquashDatabase(config.masked_url, heads, "continues" if known else "unknown",
                           "nothing to do: it continues from the baseline" if known else
                           "its revision is not in this chain (another branch or a newer release)"),)


def _shown(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return path


def _data(squashed: list[Any], keep: set[str], root: Path) -> tuple[list[SquashDataRevision], list[str]]:
    found, kept = [], []
    for rev in squashed:
        steps = data_steps(rev.path)
        if not steps:
            continue
        keeping = rev.revision in keep
        found.append(SquashDataRevision(rev.revision, _shown(rev.path, root),
                                        tuple(f"line {s.line}: {s.what}" for s in steps), keeping))
        if keeping:
            kept.append(kept_function(rev.path, rev.revision, steps))
    return found, kept


def _resolve(script: Any, up_to: str | None) -> Any:
    heads = script.get_heads()
    if up_to is None:
        if len(heads) != 1:
            raise RevisionError(f"There are {len(heads)} heads ({', '.join(sorted(heads))}), so which one to squash "
                                "up to is ambiguous.", hint="Name it: dbops squash --up-to REV (or merge first).")
        up_to = heads[0]
    try:
        rev = script.get_revision(up_to)
    except Exception as exc:
        raise RevisionError(f"--up-to {up_to!r} names no revision of this chain: {exc}",
                            hint="See the revisions with: dbops history") from exc
    if rev is None:
        raise RevisionError(f"--up-to {up_to!r} names no revision.", hint="See the revisions with: dbops history")
    return rev


def _version_dirs(script: Any) -> list[Path]:
    return [Path(d).resolve() for d in script._version_locations]


def squash(config: Config, up_to: str | None = None, *, message: str | None = None, archive: str | None = None,
           delete: bool = False, keep_data: tuple[str, ...] = (), dry_run: bool = False,
           scratch_url: str | None = None, also_on: tuple[str, ...] = ()) -> SquashReport:
    started = time.perf_counter()
    script = load_scripts(config)
    target = _resolve(script, up_to)
    revision = target.revision
    squashed = _range(script, revision)
    ids = {r.revision for r in squashed}
    if len(squashed) < 2:
        raise RevisionError(f"{revision} has no ancestors, so there is nothing to squash into it.",
                            hint="Name a later revision: dbops squash --up-to REV")
    outside = _outside_dependents(script, ids, revision)
    if outside:
        raise RevisionError(
            f"Revisions after the squashed range depend on revisions inside it other than {revision}: "
            f"{', '.join(outside)}. They would lose their parent when the range becomes one baseline.",
            hint="Merge those branches first (dbops merge heads) or squash up to a revision every later one "
            "descends from.")
    unknown_keep = sorted(set(keep_data) - ids)
    if unknown_keep:
        raise ConfigError(f"--keep-data names revision(s) outside the squashed range: {', '.join(unknown_keep)}.",
                          hint="Name revisions from dbops history that are at or before --up-to.")
    archive_dir = Path(archive).resolve() if archive else default_root(config.script_location).resolve() / revision
    dirs = _version_dirs(script)
    if any(archive_dir == d or d in archive_dir.parents for d in dirs):
        raise ConfigError(f"The archive directory {archive_dir} is inside a version location, where Alembic would "
                          "load the squashed revisions again.", hint="Choose another: --archive DIR")
    if (archive_dir / "squash.json").exists():
        raise ConfigError(f"{archive_dir} already holds a squash archive.", hint="Choose another: --archive DIR")
    where = servers(config, scratch_url, also_on)
    absorbed = bootstrap_makes_tables(config, where[0])

    data_revisions, kept = _data(squashed, set(keep_data), config.root)
    chains: list[tuple[URL | None, Built]] = []
    for server in where:
        with scratch_database(server, connect_timeout=config.connect_timeout, purpose=PURPOSE) as a_url:
            replay(config, a_url, revision, None, "the chain")
            chains.append((server, read(a_url, config, render=True)))
    baseline_path = Path(target.path)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        archive_label = os.path.relpath(archive_dir, config.root)
    except ValueError:
        archive_label = str(archive_dir)
    source = baseline_module(
        revision=revision, branch_labels=tuple(target.branch_labels or ()),
        message=(message or f"baseline: {len(squashed)} revisions squashed").replace('"""', "'''"),
        statements={chain.dialect: (chain.up or [], chain.down or []) for _, chain in chains},
        squashed=[r.revision for r in squashed], archive=archive_label, kept_data=kept, created=created)
    with tempfile.TemporaryDirectory(prefix="dbops_squash_") as tmp:
        (Path(tmp) / baseline_path.name).write_text(source, encoding="utf-8")
        proofs = tuple(prove(config, server, revision, chain, Path(tmp), "the rendered baseline", absorbed)
                       for server, chain in chains)
    report = SquashReport(
        command="squash", mode="dry_run" if dry_run else "squash", revision=revision,
        squashed=tuple(r.revision for r in squashed), baseline_file=str(baseline_path),
        archive=None if dry_run else str(archive_dir), proofs=proofs, proven=all(p.proven for p in proofs),
        data_revisions=tuple(data_revisions), databases=_databases(config, script, ids, revision), written=False,
        duration_ms=round((time.perf_counter() - started) * 1000, 1), notes=_notes(config) if absorbed else ())
    if not report.proven:
        raise SquashUnproven(unproven(proofs), hint="Nothing was written. Keep the chain, or tell the team what "
                             "dbops cannot render (docs/squash.md lists what it covers).", report=report)
    if dry_run:
        return report
    _write(squashed, target, archive_dir, source, delete, tuple(p.dialect for p in proofs), created,
           config.bootstrap if absorbed else None)
    return replace(report, written=True, duration_ms=round((time.perf_counter() - started) * 1000, 1))


def _notes(config: Config) -> tuple[str, ...]:
    if not config.bootstrap:
        return ()
    return (f"The chain relied on bootstrap = {config.bootstrap!r} before its first revision; the baseline holds "
            "what it made and was proved without it. Remove the bootstrap setting (or keep in it only what is "
            "not schema, made idempotently), or a new database would get it twice; squash.json records it for "
            "dbops squash --check, which replays the old chain with it.",)


def _write(squashed: list[Any], target: Any, archive_dir: Path, source: str, delete: bool,
           dialects: tuple[str, ...], created: str, bootstrap: str | None) -> None:
    """Archive first (copies and squash.json), then replace REV's file, then remove the originals: an
    interruption leaves either the old chain untouched or the baseline with its archive complete."""
    from dbops.safety.checksum import file_checksum

    entries = tuple(SquashedRevision(r.revision, tuple(r._all_down_revisions), revision_message(r), Path(r.path).name,
                                     file_checksum(r.path)) for r in squashed)
    archive_dir.mkdir(parents=True, exist_ok=False)
    try:
        if not delete:
            for rev in squashed:
                shutil.copy2(rev.path, archive_dir / Path(rev.path).name)
        Archive(archive_dir, target.revision, file_checksum(target.path), created, dialects, entries,
                files_kept=not delete, bootstrap=bootstrap).write()
    except OSError:
        shutil.rmtree(archive_dir, ignore_errors=True)
        raise
    baseline = Path(target.path)
    tmp = baseline.with_name(f".{baseline.name}.dbops-squash")
    tmp.write_text(source, encoding="utf-8")
    os.replace(tmp, baseline)
    for rev in squashed:
        if Path(rev.path) != baseline:
            Path(rev.path).unlink()
    # what the report will say was written, read back: the proved text, and the archive it names
    kept = [archive_dir / Path(rev.path).name for rev in squashed] if not delete else []
    if baseline.read_text(encoding="utf-8") != source or not all(p.is_file() for p in kept) \
            or read_archive(archive_dir) is None:
        raise DbopsError(f"After writing the squash, {baseline} or the archive {archive_dir} does not read back as "
                         "written (another process changed them?), so the squash is not reported as done.",
                         hint="Compare them with git status / git diff, restore from git, and squash again.")


def check(config: Config, *, old_chain: str | None = None, scratch_url: str | None = None,
          also_on: tuple[str, ...] = ()) -> SquashReport:
    """Re-prove the chain's baseline: replay the archived (or ``old_chain``) revisions and the current
    chain up to the baseline's revision, compare; SquashUnproven (exit 3) with each difference."""
    started = time.perf_counter()
    script = load_scripts(config)
    if old_chain:
        chain_dir = Path(old_chain).resolve()
        roots = [r.revision for r in script.walk_revisions() if not r._all_down_revisions]
        if len(roots) != 1:
            raise RevisionError(f"The chain has {len(roots)} roots; --old-chain proves one baseline.",
                                hint="Use the archive of each squash (dbops squash --check without --old-chain).")
        revision = roots[0]
        squashed_ids: tuple[str, ...] = ()
        old_config = config
    else:
        found = archives(config.script_location)
        if not found:
            raise ConfigError(f"No squash archive under {default_root(config.script_location)}, so there is no old "
                              "chain to prove the baseline against.",
                              hint="Point at the old revision files: dbops squash --check --old-chain DIR")
        last = found[-1]
        if not last.files_kept:
            raise ConfigError(f"The squash archive {last.directory} kept no files (--delete), so the old chain "
                              "cannot be replayed.", hint="Check out the old files and pass --old-chain DIR.")
        chain_dir, revision = last.directory, last.baseline
        squashed_ids = tuple(r.revision for r in last.revisions)
        old_config = replace(config, bootstrap=config.bootstrap or last.bootstrap)
    if not chain_dir.is_dir():
        raise ConfigError(f"{chain_dir} is not a directory.", hint="Pass the directory of the old revision files.")
    target = _resolve(script, revision)
    absorbed = old_config.bootstrap is not None and bootstrap_makes_tables(old_config, server_of(config, scratch_url))
    proofs = []
    for server in servers(config, scratch_url, also_on):
        with scratch_database(server, connect_timeout=config.connect_timeout, purpose=PURPOSE) as a_url:
            replay(old_config, a_url, revision, chain_dir, "the old chain")
            chain = read(a_url, config, render=False)
        proofs.append(prove(config, server, revision, chain, None, "the baseline", absorbed))
    report = SquashReport(
        command="squash", mode="check", revision=revision, squashed=squashed_ids, baseline_file=str(target.path),
        archive=str(chain_dir), proofs=tuple(proofs), proven=all(p.proven for p in proofs), data_revisions=(),
        databases=(), written=False, duration_ms=round((time.perf_counter() - started) * 1000, 1))
    if not report.proven:
        raise SquashUnproven(unproven(report.proofs),
                             hint=f"Fix {target.path} until it builds what the old chain built; the differences "
                             "name each object and attribute.", report=report)
    return report
