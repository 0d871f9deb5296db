"""Three-way verdicts from the pairwise comparisons, and ignore rules."""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from dbops.drift.compare import Difference, compare
from dbops.drift.schema import SchemaSpec

MISSING_MIGRATION = "missing_migration"  # models differ from the replayed head
OUT_OF_BAND = "out_of_band"  # live differs from what its recorded revision builds
PENDING_MIGRATION = "pending_migration"  # live is behind; pending revisions explain it
DRIFT = "drift"  # models vs live, two-way: cannot tell which side moved
FAILING = frozenset({MISSING_MIGRATION, OUT_OF_BAND, DRIFT})


@dataclass(frozen=True)
class Verdict:
    verdict: str
    diff: Difference


def three_way(
    models: SchemaSpec | None,
    head: SchemaSpec | None,
    live: SchemaSpec | None,
    at_live_revision: SchemaSpec | None,
) -> list[Verdict]:
    """models vs head -> missing_migration; live vs its own revision -> out_of_band;
    its revision vs head -> pending_migration."""
    out: list[Verdict] = []
    if models is not None and head is not None:
        out += [Verdict(MISSING_MIGRATION, d) for d in compare(models, head)]
    if live is not None:
        reference = at_live_revision if at_live_revision is not None else head
        if reference is not None:
            out += [Verdict(OUT_OF_BAND, d) for d in compare(reference, live)]
        if at_live_revision is not None and head is not None:
            out += [Verdict(PENDING_MIGRATION, d) for d in compare(head, at_live_revision)]
    return out


def two_way_database(
    models: SchemaSpec, live: SchemaSpec, head: SchemaSpec | None, at_live_revision: SchemaSpec | None
) -> list[Verdict]:
    """models vs live; differences the pending revisions will make are pending, not drift."""
    pending = {d.key for d in compare(head, at_live_revision)} if head and at_live_revision else set()
    return [Verdict(PENDING_MIGRATION if d.key in pending else DRIFT, d) for d in compare(models, live)]


@dataclass(frozen=True)
class IgnoreRule:
    kind: str | None
    pattern: str

    @classmethod
    def parse(cls, text: str) -> IgnoreRule:
        kind, sep, pattern = text.partition(":")
        return cls(kind, pattern) if sep else cls(None, text)

    def matches(self, diff: Difference) -> bool:
        if self.kind is not None and self.kind != diff.kind:
            # "table:x" also covers everything inside table x
            if not (self.kind == "table" and diff.table is not None and fnmatch.fnmatchcase(diff.table, self.pattern)):
                return False
        names = {diff.name}
        if diff.table:
            names |= {diff.table if self.kind in (None, "table") else "", f"{diff.table}.{diff.name}"}
        if diff.schema:
            names |= {f"{diff.schema}.{n}" for n in list(names) if n}
        return any(n and fnmatch.fnmatchcase(n, self.pattern) for n in names)


def apply_ignores(verdicts: Iterable[Verdict], rules: list[IgnoreRule]) -> tuple[list[Verdict], list[Verdict]]:
    kept: list[Verdict] = []
    ignored: list[Verdict] = []
    for v in verdicts:
        (ignored if any(r.matches(v.diff) for r in rules) else kept).append(v)
    return kept, ignored
