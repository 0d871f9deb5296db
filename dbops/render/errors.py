from __future__ import annotations

import traceback
from typing import Any, TextIO

from dbops.redact import redact


def render_error(exc: BaseException, err: TextIO, *, verbose: int = 0) -> None:
    """One paragraph on stderr: what happened, what it usually means, what to run next."""
    if verbose:
        err.write(redact("".join(traceback.format_exception(exc))) + "\n")
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint: Any = getattr(exc, "hint", None)
    text = f"Error: {message}"
    if hint:
        text += f"\n{hint}"
    err.write(redact(text) + "\n")
    err.flush()
