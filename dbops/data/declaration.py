"""Declaring a data migration."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
BatchFn = Callable[[list[Row]], Sequence[Row] | None]


@dataclass(frozen=True)
class DataMigration:
    """One data migration over ``table``, walked in key order.

    Either ``set`` (column -> SQL expression over the row; runs as one keyset-bounded UPDATE per
    batch, rows never enter Python) or ``fn`` (receives a batch of rows with ``key`` and
    ``columns``, returns the rows to update: dicts holding the key and the new values).
    ``where`` limits the rows touched. ``requires`` is the schema revision that must be
    applied first.
    """

    name: str
    table: str
    key: str | Sequence[str] = "id"
    set: Mapping[str, str] | None = None
    where: str | None = None
    fn: BatchFn | None = None
    columns: Sequence[str] = ()
    requires: str | None = None
    schema: str | None = None
    description: str = ""
    source: str | None = field(default=None, compare=False)  # the file it was loaded from

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    def __post_init__(self) -> None:
        if (self.set is None) == (self.fn is None):
            raise ValueError(f"data migration {self.name!r}: give exactly one of set= or fn=")
        if not self.key_columns:
            raise ValueError(f"data migration {self.name!r}: key must name at least one column")
