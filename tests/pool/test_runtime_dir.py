"""Where workers share pool snapshots: a private directory, no links followed, dead workers pruned."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from dbops.pool import endpoint


@pytest.fixture
def private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "rt"
    monkeypatch.setenv("DBOPS_RUNTIME_DIR", str(path))
    return path


def test_directory_and_files_are_private(private: Path) -> None:
    snap = endpoint.publish()
    assert stat.S_IMODE(os.lstat(private).st_mode) == 0o700
    own = private / f"{snap['pid']}.json"
    assert stat.S_IMODE(os.lstat(own).st_mode) == 0o600
    assert json.loads(own.read_text())["pid"] == os.getpid()


def test_default_location_is_per_user_and_per_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DBOPS_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    service = os.getppid() if os.getppid() != 1 else os.getpid()
    assert endpoint.runtime_dir() == tmp_path / f"dbops-pool-{service}"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    assert endpoint.runtime_dir() == tmp_path / f"dbops-pool-{os.getuid()}-{service}"


def test_open_or_foreign_directories_are_refused(private: Path) -> None:
    private.mkdir(mode=0o777)
    os.chmod(private, 0o777)  # umask-proof: open to everyone
    with pytest.raises(PermissionError, match="closed to others"):
        endpoint.runtime_dir()
    os.chmod(private, 0o700)
    assert endpoint.runtime_dir() == private
    if os.getuid() == 0:  # as root we can hand it to someone else
        os.chown(private, 65534, 65534)
        with pytest.raises(PermissionError, match="owned by uid 65534"):
            endpoint.runtime_dir()
        os.chown(private, 0, 0)


def test_a_symlinked_directory_is_refused(private: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    private.symlink_to(target)
    with pytest.raises(PermissionError, match="not a directory"):
        endpoint.runtime_dir()


def test_planted_links_are_not_followed(private: Path, tmp_path: Path) -> None:
    endpoint.runtime_dir()
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (private / f".{os.getpid()}.json.tmp").symlink_to(victim)
    with pytest.raises(OSError):
        endpoint.publish()
    assert victim.read_text() == "untouched"
    other = private / "4242.json"
    other.symlink_to(victim)
    (private / f".{os.getpid()}.json.tmp").unlink()
    data = endpoint.aggregate()
    assert [w["pid"] for w in data["workers"]] == [os.getpid()]  # the link was not read as a worker


def test_dead_workers_are_pruned_and_shutdown_withdraws(private: Path) -> None:
    endpoint.runtime_dir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = private / f"{dead.pid}.json"
    stale.write_text(json.dumps({"pid": dead.pid, "taken_at": time.time(), "pools": []}))  # fresh, but dead
    data = endpoint.aggregate()
    assert [w["pid"] for w in data["workers"]] == [os.getpid()]
    assert not stale.exists()
    endpoint.withdraw()
    assert not private.exists()  # the last worker leaves no directory behind
