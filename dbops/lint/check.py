"""The lint verb: which revision files to read (the whole chain as text, given files, or an Alembic
range), the project's [lint] settings and baseline, and the LintReport."""
from __future__ import annotations

import re
from pathlib import Path

from dbops.bridge.project import load_scripts
from dbops.config import Config
from dbops.errors import ConfigError, LintFailed, RevisionError
from dbops.reports import LintFinding, LintReport


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


def _links(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(revision, down revisions) of a file, cached by its identity like the checksums."""
    import json

    from dbops.file_facts import file_fact

    def links(source: str) -> str:
        from dbops.lint.rules import revision_links  # the rules' parser: imported only for a file not seen

        return json.dumps(revision_links(source))

    found = file_fact(path, "links:", links)
    data = json.loads(found) if found else None
    return (data[0], tuple(data[1])) if data else None


def _version_directories(config: Config) -> tuple[list[str], bool]:
    """Where the revision files are, and whether subdirectories count. The common case (no
    version_locations anywhere: <script_location>/versions) without importing Alembic; anything else
    as Alembic's ScriptDirectory reads it."""
    import configparser

    plain = config.version_locations is None
    if plain and config.alembic_ini is not None:
        ini = configparser.ConfigParser(interpolation=None)
        try:
            ini.read(config.alembic_ini, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            plain = False
        section = config.ini_section if ini.has_section(config.ini_section) else None
        plain = plain and not (section and any(ini.has_option(section, k) for k in
                                               ("version_locations", "recursive_version_locations")))
    if plain:
        return [str(Path(config.script_location) / "versions")], False
    from alembic.script import ScriptDirectory

    from dbops.bridge.project import alembic_config, env_settings

    script = ScriptDirectory.from_config(alembic_config(config, env_settings(config, with_metadata=False)))
    return list(script.version_locations or [script.versions]), bool(getattr(script, "recursive_version_locations",
                                                                               False))


def revision_graph(config: Config) -> dict[str, tuple[str, tuple[str, ...]]] | None:
    """{revision: (file, down revisions)} of every revision file of the project's version directories, read
    as text with ``ast`` (no revision module is imported); None when one cannot be read that way (its
    revision is not a literal)."""
    directories, recursive = _version_directories(config)
    nodes: dict[str, tuple[str, tuple[str, ...]]] = {}
    pattern = "**/*.py" if recursive else "*.py"
    for directory in directories:
        for path in sorted(Path(directory).glob(pattern)):
            links = _links(path)
            if links is None:
                if path.name == "__init__.py":
                    continue
                return None
            nodes[links[0]] = (str(path), links[1])
    return nodes


def revision_heads(config: Config) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """({revision: file}, the heads) of the chain read as text; None when a file cannot be read that way
    or a down_revision names no file (Alembic then loads the files, and says what is wrong)."""
    try:
        nodes = revision_graph(config)
    except Exception:  # noqa: BLE001  Alembic reports it properly when it loads the files
        return None
    if nodes is None or any(d not in nodes for _, downs in nodes.values() for d in downs):
        return None
    parents = {d for _, downs in nodes.values() for d in downs}
    return {rev: path for rev, (path, _) in nodes.items()}, tuple(sorted(r for r in nodes if r not in parents))


def _static_chain(config: Config) -> list[tuple[str, str]] | None:
    """Every revision file, parents before children (see :func:`revision_graph`)."""
    nodes = revision_graph(config)
    if nodes is None:
        return None
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


_DIALECT_NAMES = {"postgresql": "postgresql", "postgres": "postgresql", "sqlite": "sqlite", "mysql": "mysql",
                  "mariadb": "mariadb"}


def _path_dialect(path: str, config: Config) -> str | None:
    """A per-dialect version directory (versions/sqlite/, migrations_postgresql/...) says which database
    its revisions run on. Only directories inside the project count (not where the project is checked out)."""
    try:
        inside = Path(path).resolve().parent.relative_to(config.root.resolve())
    except ValueError:
        return None
    for part in reversed(inside.parts):
        for token in part.lower().replace("-", "_").split("_"):
            if token in _DIALECT_NAMES:
                return _DIALECT_NAMES[token]
    return None


def _project_dialect(config: Config) -> str | None:
    """The database the project's configured URL names (never connected to; None when it configured none)."""
    if config.uses_default_database or not config.url or config.url_source.startswith("not resolved"):
        return None  # no URL, or one lint must not resolve (a py: URL would import the app's settings)
    try:
        from dbops.db.url import parse_url

        return str(parse_url(config.url).get_backend_name())
    except Exception:  # noqa: BLE001  a URL lint cannot read: lint stays dialect-neutral
        return None


def lint(config: Config, rev_range: str | None = None, *, files: tuple[str, ...] = (),
         rules: tuple[str, ...] | None = None, baseline: str | None = None,
         write_baseline: str | None = None) -> LintReport:
    """Lint the revisions in ``rev_range`` (default: all), or only ``files`` (read as text: no revision
    module is imported, so a pre-commit hook needs neither the app's settings nor its models).
    ``rules``: only these rule ids. ``write_baseline``: record today's findings in that file (and pass);
    ``baseline``: report only findings that file does not hold (adopting lint on a legacy chain).
    The config's [lint] disable and exclude apply throughout."""
    from dbops.lint.rules import FILE_RULES, FILENAME_RULE, RULES, lint_source, revision_id

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
    project = _project_dialect(config)
    for rev, path in todo:
        source = Path(path).read_text(encoding="utf-8")
        findings += [LintFinding(f.rule, f.title, rev, path, f.line, f.message, f.rationale, f.severity)
                     for f in lint_source(source, dialect=_path_dialect(path, config) or project) if f.rule in wanted]
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
    errors = [f for f in findings if f.severity == "error"]
    report = LintReport(command="lint", revisions=tuple(rev for rev, _ in todo), findings=tuple(findings),
                        rules=tuple(wanted), clean=not errors, skipped=tuple(skipped), baselined=known_before)
    if errors:
        raise LintFailed(
            f"{len(errors)} lint finding(s) in {len({f.revision for f in errors})} revision(s). Each names an "
            "operation that locks or breaks a live database; the rationale says what to do instead.",
            hint="Fix them, or silence a reviewed one on its line: # dbops: noqa DB002",
            report=report,
        )
    return report
