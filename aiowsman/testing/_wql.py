"""A small WQL subset: ``SELECT * | p1, p2 FROM Class [WHERE condition]``.

Conditions: comparisons (``= != <> < > <= >=``) of a property with a quoted
string, a number, TRUE/FALSE or NULL; ``LIKE`` with ``%`` and ``_``;
``IS [NOT] NULL``; ``AND``, ``OR``, ``NOT`` and parentheses. Names compare
case-insensitively, as in WMI; string comparisons too.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiowsman.testing._cim import CimValue, scalar_text

__all__ = ["Query", "WqlError", "parse_wql"]

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<punct>[(),*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)

_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}

Predicate = Callable[[Mapping[str, CimValue]], bool]


class WqlError(ValueError):
    """The query is not valid WQL (of the supported subset)."""


@dataclass(frozen=True)
class Query:
    class_name: str
    #: None for ``*``.
    properties: tuple[str, ...] | None
    where: Predicate


def _tokenize(query: str) -> list[tuple[str, str]]:
    pos = 0
    out: list[tuple[str, str]] = []
    query = query.rstrip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None or m.end() == pos:
            raise WqlError(f"unexpected text at {pos}: {query[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _lookup(values: Mapping[str, CimValue], name: str) -> CimValue:
    if name in values:
        return values[name]
    lowered = name.lower()
    for key, value in values.items():
        if key.lower() == lowered:
            return value
    return None


def _compare(left: CimValue, op: str, right: object) -> bool:
    if right is None:
        return (left is None) == (op == "=")
    if left is None:
        return False
    if isinstance(right, bool):
        lhs: object = left if isinstance(left, bool) else scalar_text(left).lower() == "true"
        rhs: object = right
    elif (
        isinstance(right, float | int)
        and isinstance(left, int | float)
        and not isinstance(left, bool)
    ):
        lhs, rhs = left, right
    else:
        lhs = scalar_text(left).lower()
        rhs = str(right).lower()
    try:
        return bool(_OPS[op](lhs, rhs))
    except TypeError:
        return False


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise WqlError("unexpected end of query")
        self.pos += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].upper() == word:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise WqlError(f"expected {word}")

    def expr(self) -> Predicate:
        left = self.term()
        while self.keyword("OR"):
            right = self.term()
            left = (lambda a, b: lambda v: a(v) or b(v))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.keyword("AND"):
            right = self.factor()
            left = (lambda a, b: lambda v: a(v) and b(v))(left, right)
        return left

    def factor(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.factor()
            return lambda v: not inner(v)
        tok = self.peek()
        if tok == ("punct", "("):
            self.take()
            inner = self.expr()
            if self.take() != ("punct", ")"):
                raise WqlError("expected )")
            return inner
        return self.comparison()

    def literal(self) -> object:
        kind, value = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "word" and value.upper() in ("TRUE", "FALSE"):
            return value.upper() == "TRUE"
        if kind == "word" and value.upper() == "NULL":
            return None
        raise WqlError(f"expected a literal, got {value!r}")

    def comparison(self) -> Predicate:
        kind, name = self.take()
        if kind != "word":
            raise WqlError(f"expected a property name, got {name!r}")
        if self.keyword("IS"):
            negate = self.keyword("NOT")
            self.expect_keyword("NULL")
            return lambda v: (_lookup(v, name) is None) != negate
        if self.keyword("LIKE"):
            pattern = self.literal()
            if not isinstance(pattern, str):
                raise WqlError("LIKE needs a string")
            rx = _like(pattern)
            return lambda v: rx.match(scalar_text(_lookup(v, name))) is not None
        kind, op = self.take()
        if kind != "op":
            raise WqlError(f"expected an operator, got {op!r}")
        value = self.literal()
        return lambda v: _compare(_lookup(v, name), op, value)


def parse_wql(query: str) -> Query:
    """Parse ``query``.

    Raises:
        WqlError: outside the supported subset or malformed.
    """
    parser = _Parser(_tokenize(query))
    parser.expect_keyword("SELECT")
    props: list[str] | None = []
    if parser.peek() == ("punct", "*"):
        parser.take()
        props = None
    else:
        while True:
            kind, name = parser.take()
            if kind != "word":
                raise WqlError(f"expected a property name, got {name!r}")
            assert props is not None
            props.append(name)
            if parser.peek() != ("punct", ","):
                break
            parser.take()
    parser.expect_keyword("FROM")
    kind, class_name = parser.take()
    if kind != "word":
        raise WqlError("expected a class name")
    where: Predicate = lambda v: True  # noqa: E731
    if parser.keyword("WHERE"):
        where = parser.expr()
    if parser.peek() is not None:
        raise WqlError(f"unexpected {parser.peek()!r}")
    return Query(class_name, tuple(props) if props is not None else None, where)
