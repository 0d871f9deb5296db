"""Normalise types, server defaults and SQL fragments so that spellings of the same thing
compare equal (``VARCHAR`` vs ``AutoString``, ``'x'::text`` vs ``'x'``, ``now()`` vs
``CURRENT_TIMESTAMP``), while real differences stay different."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

_SPACES = re.compile(r"\s+")
# PostgreSQL casts: 'x'::text, 0::numeric(12,2), '{}'::character varying[], ::regclass
_CAST = re.compile(
    r"::\s*(?:\"[^\"]+\"|[a-z_][a-z0-9_]*(?:\s+(?:varying|precision|with(?:out)?\s+time\s+zone))*)"
    r"(?:\s*\([\d,\s]*\))?(?:\[\])*",
    re.IGNORECASE,
)
# the transaction's start time, however it is spelled (clock_timestamp() and statement_timestamp() are
# other times, LOCALTIMESTAMP another type: real differences)
_NOW = re.compile(r"^(?:now\(\)|current_timestamp(?:\(\))?|transaction_timestamp\(\))$", re.IGNORECASE)
_EMPTY_ARRAY = re.compile(r"^ARRAY\[\]$", re.IGNORECASE)
_TYPE_SYNONYMS = {
    "postgresql": {"FLOAT": "DOUBLE PRECISION", "FLOAT(53)": "DOUBLE PRECISION", "DECIMAL": "NUMERIC",
                   "INT": "INTEGER", "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMP WITHOUT TIME ZONE",
                   "TIME": "TIME WITHOUT TIME ZONE", "DOUBLE": "DOUBLE PRECISION"},
    "mysql": {"BOOLEAN": "BOOL", "TINYINT(1)": "BOOL", "DECIMAL": "NUMERIC", "INT": "INTEGER",
              "DOUBLE PRECISION": "DOUBLE", "FLOAT(53)": "DOUBLE"},
    # SQLite stores every floating type the same way (REAL affinity): FLOAT, DOUBLE [PRECISION] are REAL
    "sqlite": {"DECIMAL": "NUMERIC", "INT": "INTEGER", "FLOAT": "REAL", "DOUBLE": "REAL", "DOUBLE PRECISION": "REAL"},
}
_INT_DISPLAY_WIDTH = re.compile(r"^(TINYINT|SMALLINT|MEDIUMINT|INTEGER|INT|BIGINT)\(\d+\)( UNSIGNED)?$")
_MYSQL_CHARSET = re.compile(r"\s+(CHARACTER SET|COLLATE)\s+\S+", re.IGNORECASE)


def dialect_family(name: str) -> str:
    return "mysql" if name in ("mysql", "mariadb") else name


def norm_type(type_: Any, dialect: Any) -> str:
    """The type as the dialect spells it in DDL, with synonyms folded."""
    try:
        text = type_.compile(dialect=dialect)
    except Exception:  # a type this dialect cannot render (e.g. NullType from reflection)
        text = type(type_).__name__
    return fold_type_text(str(text), dialect.name)


@lru_cache(maxsize=4096)  # pure text -> text; schemas repeat the same spellings
def fold_type_text(text: str, dialect_name: str) -> str:
    """Fold a DDL type spelling: case, spaces, synonyms, MySQL display widths and charsets."""
    text = _SPACES.sub(" ", text).strip().upper()
    family = dialect_family(dialect_name)
    if family == "mysql":
        text = _MYSQL_CHARSET.sub("", text)
        if text != "TINYINT(1)":
            match = _INT_DISPLAY_WIDTH.match(text)
            if match:
                text = match.group(1) + (match.group(2) or "")
    text = text.replace(", ", ",").replace(",", ", ")
    synonyms = _TYPE_SYNONYMS.get(family, {})
    base = text.split("(", 1)[0]
    if text in synonyms:
        return synonyms[text]
    if base in synonyms and "(" in text:
        return synonyms[base] + text[len(base):]
    return text


def _strip_outer_parens(text: str) -> str:
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i != len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


def _numeric(text: str) -> str | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    normal = value.normalize()
    return format(normal, "f") if normal == normal.to_integral() else str(normal)


@lru_cache(maxsize=4096)  # pure text -> text; schemas repeat the same spellings
def norm_default(text: str | None) -> str | None:
    """A server default as comparable text (None when there is none)."""
    if text is None:
        return None
    text = _strip_outer_parens(str(text).strip())
    text = _CAST.sub("", text).strip()
    text = _strip_outer_parens(text)
    if _NOW.match(text):
        return "CURRENT_TIMESTAMP"
    if _EMPTY_ARRAY.match(text):  # ARRAY[]::text[] and '{}'::text[]: the same empty array
        return "'{}'"
    low = text.lower()
    if low in ("true", "false", "null"):
        return low
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        inner = text[1:-1]
        number = _numeric(inner)
        return number if number is not None else "'" + inner + "'"
    number = _numeric(text)
    if number is not None:
        return number
    return _SPACES.sub(" ", text)


@lru_cache(maxsize=4096)  # pure text -> text; schemas repeat the same spellings
def norm_sql(text: str | None) -> str | None:
    """An expression (index expression, partial-index predicate, CHECK) for comparison only:
    casts, quotes, parentheses, whitespace and case are dropped."""
    if text is None:
        return None
    text = _CAST.sub("", str(text))
    text = text.replace('"', "").replace("`", "")
    text = re.sub(r"[()\s]", "", text).lower()
    return text


def norm_default_for(text: str | None, dialect_name: str) -> str | None:
    """``norm_default`` where the dialect has no boolean type: ``true``/``false`` are stored as 1/0."""
    value = norm_default(text)
    if value in ("true", "false") and dialect_family(dialect_name) in ("mysql", "sqlite"):
        return "1" if value == "true" else "0"
    return value


def norm_action(value: str | None) -> str | None:
    """ON DELETE / ON UPDATE: NO ACTION and RESTRICT-by-default fold to None."""
    if value is None:
        return None
    value = value.upper().strip()
    return None if value in ("NO ACTION", "") else value


def split_parenthesized(sql: str) -> tuple[str, list[str], str] | None:
    """(the text before the first ``(``, the top-level comma-separated parts up to its matching ``)``, the
    text after it), quotes (``'``, ``"``, `````, ``[...]``) and nested parentheses respected; None when
    the parentheses do not close. SQLite keeps its CREATE TABLE / CREATE INDEX statements as written, and
    this is how dbops reads their column lists."""
    head, sep, rest = sql.partition("(")
    if not sep:
        return None
    depth, quote = 1, ""
    parts: list[str] = []
    current: list[str] = []
    for i, ch in enumerate(rest):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`[":
            quote = "]" if ch == "[" else ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                parts.append("".join(current))
                return head, parts, rest[i + 1:]
        elif ch == "," and depth == 1:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    return None
