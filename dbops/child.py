"""One Python call in a fresh interpreter: the argument pickled on stdin, the result pickled back through a
private file (stdout stays the child's: the project's code may print there). Used where the project's
settings are read once per process and must see another environment (a replay into a scratch database, a
plugin check on its test database). Imports nothing of dbops."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_pickled(code: str, payload: Any, *, env: dict[str, str], cwd: Path) -> tuple[Any, int, str]:
    """Run ``python -c code RESULT_PATH`` with ``payload`` pickled on stdin; ``code`` writes its pickled
    result to ``sys.argv[1]``. Returns (the result, or None when the child wrote none; its exit code; the
    end of its stderr)."""
    fd, result_path = tempfile.mkstemp(prefix="dbops-child-", suffix=".pickle")  # 0600
    os.close(fd)
    try:
        done = subprocess.run([sys.executable, "-c", code, result_path], cwd=cwd, env=env,
                              input=pickle.dumps(payload), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False)
        with open(result_path, "rb") as handle:
            result = pickle.load(handle) if os.path.getsize(result_path) else None
    finally:
        os.unlink(result_path)
    return result, done.returncode, done.stderr.decode(errors="replace").strip()[-800:]
