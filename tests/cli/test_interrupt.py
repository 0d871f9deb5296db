"""Ctrl-C during a migration: exit 130, the database at the last committed revision."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import schema_of


def test_sigint_mid_chain_exits_130(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    (project / "migrations" / "versions" / "0003_slow.py").write_text(
        '"""slow revision"""\nimport pathlib, time\n'
        'revision = "0003"\ndown_revision = "0002"\nbranch_labels = None\ndepends_on = None\n'
        f"def upgrade():\n    pathlib.Path({str(marker)!r}).touch()\n    time.sleep(30)\n\n"
        "def downgrade():\n    pass\n"
    )
    url = f"sqlite:///{tmp_path / 'slow.sqlite'}"
    exe = Path(sys.executable).with_name("dbops")
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.Popen([str(exe), "upgrade"], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.startswith("Interrupted; the current revision's transaction was rolled back.")
    assert "Traceback" not in err
    assert schema_of(url)["version"] == ["0002"]
