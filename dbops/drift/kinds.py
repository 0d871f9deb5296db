"""The kinds of difference check-drift reports (and that --ignore KIND:GLOB names). A module of its
own so that the CLI can list them in --help without importing the comparator."""
from __future__ import annotations

KINDS = (
    "table", "column", "type", "nullable", "default", "comment", "primary_key", "unique",
    "foreign_key", "index", "check", "enum", "sequence", "function", "trigger", "view", "materialized_view",
)


def unknown_kind(pattern: str) -> str | None:
    """The kind of a KIND:GLOB pattern when it is not one of KINDS (a bare GLOB has no kind)."""
    kind, sep, _ = pattern.partition(":")
    return kind if sep and kind not in KINDS else None
