"""Squash archives: where `dbops squash` put the revisions a baseline replaced, and what they were.

An archive is a directory (default ``<script_location>/squashed/<baseline>/``, outside every version
location so Alembic never loads it) holding the squashed revision files (unless ``--delete``) and
``squash.json``: the baseline's revision, each squashed revision (id, parents, message, file, checksum)
and the checksum the baseline's revision had before it was replaced. ``dbops history`` lists the
squashed revisions from it; ``dbops verify`` accepts a database whose audit row for the baseline's
revision carries the old checksum; ``dbops squash --check`` replays the archived chain again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "squash.json"
FORMAT = 1


@dataclass(frozen=True)
class SquashedRevision:
    revision: str
    down_revisions: tuple[str, ...]
    message: str | None
    file: str  # the file's name (in the archive unless deleted)
    checksum: str | None


@dataclass(frozen=True)
class Archive:
    directory: Path
    baseline: str  # the revision id the baseline file carries (the old chain's REV)
    baseline_checksum: str | None  # the checksum of REV's file before it was replaced
    squashed_at: str
    dialects: tuple[str, ...]
    revisions: tuple[SquashedRevision, ...]
    files_kept: bool
    bootstrap: str | None = None  # the bootstrap the old chain needed before its first revision

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "baseline": self.baseline, "baseline_checksum": self.baseline_checksum,
                "squashed_at": self.squashed_at, "dialects": list(self.dialects), "files_kept": self.files_kept,
                "bootstrap": self.bootstrap,
                "revisions": [{"revision": r.revision, "down_revisions": list(r.down_revisions),
                               "message": r.message, "file": r.file, "checksum": r.checksum}
                              for r in self.revisions]}

    def write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / MANIFEST).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def read(path: Path) -> Archive | None:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return Archive(directory=path, baseline=data["baseline"], baseline_checksum=data.get("baseline_checksum"),
                       squashed_at=data.get("squashed_at", ""), dialects=tuple(data.get("dialects") or ()),
                       files_kept=bool(data.get("files_kept", True)), bootstrap=data.get("bootstrap"),
                       revisions=tuple(SquashedRevision(r["revision"], tuple(r.get("down_revisions") or ()),
                                                        r.get("message"), r.get("file", ""), r.get("checksum"))
                                       for r in data.get("revisions", ())))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def default_root(script_location: Path) -> Path:
    return Path(script_location) / "squashed"


def archives(script_location: Path) -> list[Archive]:
    """Every archive under the project's default archive root, oldest squash first."""
    root = default_root(script_location)
    if not root.is_dir():
        return []
    found = [a for a in (read(p) for p in sorted(root.iterdir()) if p.is_dir()) if a is not None]
    return sorted(found, key=lambda a: a.squashed_at)


def replaced_checksums(script_location: Path) -> dict[str, str]:
    """{baseline revision: the checksum its file had before the squash}: what an audit row of a database
    migrated with the old chain holds for that revision (not an edit: the squash proved it equal)."""
    return {a.baseline: a.baseline_checksum for a in archives(script_location) if a.baseline_checksum}
