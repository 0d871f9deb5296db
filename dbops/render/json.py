from __future__ import annotations

import json
from typing import Any, TextIO

from dbops.redact import redact


def render_json(report: Any, out: TextIO, *, error: Any = None) -> None:
    data = report.to_dict() if report is not None else {}
    if error is not None:
        data["error"] = error.to_dict()
    out.write(redact(json.dumps(data, indent=2, sort_keys=False, default=str)) + "\n")
    out.flush()
