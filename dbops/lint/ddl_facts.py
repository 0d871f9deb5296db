"""What PostgreSQL knows about the functions and types a migration uses: which functions are volatile
(a default computed per row), and which type changes touch no row. Used by lint and by `dbops plan`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def functions_called(expr: Any) -> list[str]:
    """The functions a parsed expression (a pglast node) calls, lower-cased; CURRENT_TIMESTAMP and
    friends as now()."""
    from pglast.visitors import Visitor

    functions: list[str] = []

    class Calls(Visitor):
        def visit_FuncCall(self, ancestors: Any, node: Any) -> None:  # noqa: N802 - pglast's visitor naming
            functions.append(node.funcname[-1].sval)

        def visit_SQLValueFunction(self, ancestors: Any, node: Any) -> None:  # noqa: N802
            functions.append("now")  # CURRENT_TIMESTAMP and friends: stable

    Calls()(expr)
    return [f.lower() for f in functions]


def volatile_call(expr: Any, ask: Callable[[str], str | None] | None = None) -> bool | None:
    """True when an expression calls a volatile function (a rewrite on ADD COLUMN), False when every
    function in it is immutable or stable, None when one is unknown. ``ask(name)``: pg_proc's answer
    for a function not in the built-in table (the live catalog), when there is one."""
    verdict: bool | None = False
    for name in functions_called(expr):
        known = BUILTIN_VOLATILITY.get(name)
        if known is None and ask is not None:
            known = ask(name)
        if known is None:
            verdict = None
        elif known == "v":
            return True
    return verdict


# pg_proc.provolatile of the functions apps put in defaults ('v': a value per row)
BUILTIN_VOLATILITY = {"now": "s", "current_timestamp": "s", "transaction_timestamp": "s",
                      "statement_timestamp": "s", "clock_timestamp": "v", "random": "v", "gen_random_uuid": "v",
                      "uuid_generate_v1": "v", "uuid_generate_v1mc": "v", "uuid_generate_v4": "v",
                      "uuid_generate_v7": "v", "uuidv7": "v", "timeofday": "v", "txid_current": "v",
                      "nextval": "v", "timezone": "s",
                       "lower": "i", "upper": "i", "coalesce": "i", "to_jsonb": "s", "jsonb_build_object": "s"}


def typmod_value(node: Any) -> int:
    value = getattr(node, "val", node)
    return int(getattr(value, "ival", value))


def type_text(t: tuple[str, tuple[int, ...]]) -> str:
    return t[0] + (f"({','.join(map(str, t[1]))})" if t[1] else "")


def binary_coercible(old: tuple[str, tuple[int, ...]], new: tuple[str, tuple[int, ...]]) -> bool:
    """Type changes PostgreSQL makes without touching a row (ATColumnChangeRequiresRewrite)."""
    (o, om), (n, nm) = old, new
    if (o, om) == (n, nm):
        return True
    if o == "varchar" and n == "varchar":
        return not nm or (bool(om) and nm[0] >= om[0])
    if o in ("varchar", "text") and n == "text":
        return True
    if o == "text" and n == "varchar":
        return not nm
    if o == "numeric" and n == "numeric":
        if not nm:
            return True
        if not om:
            return False
        scale_o = om[1] if len(om) > 1 else 0
        scale_n = nm[1] if len(nm) > 1 else 0
        return scale_o == scale_n and nm[0] >= om[0]
    if o in ("varbit", "bit") and n == "varbit":
        return not nm or (bool(om) and nm[0] >= om[0])
    if o == "cidr" and n == "inet":
        return True
    return False
