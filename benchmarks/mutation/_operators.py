"""Mutant generation: small, syntax-preserving edits of one module's source.

Each mutant replaces one span of the original source text (located with
:mod:`ast` positions), so the diff shows exactly what changed and comments
and formatting stay as they were. The operators are the classic ones:

* comparison swaps (``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``in``/``not in``,
  ``is``/``is not``);
* ``and``/``or``; removing ``not``; negating a plain ``if``/``while``/ternary test;
* arithmetic and bitwise operator swaps, augmented assignment swaps;
* constants: ``True``/``False``, ``n`` -> ``n + 1``, ``"s"`` -> ``"XXsXX"``
  (f-strings too, as a whole);
* inside functions: an assignment's value -> ``None``, ``return x`` ->
  ``return None``, a call statement -> ``pass``, a keyword argument dropped;
* ``break``/``continue``; ``min``/``max``, ``any``/``all``; string and
  sequence method mirrors (``lower``/``upper``, ``startswith``/``endswith``,
  ``partition``/``rpartition``, ...).

Not mutated (each is not behaviour a test should pin, or cannot run):
docstrings, annotations, ``__all__``/``__slots__``, ``if TYPE_CHECKING:``
blocks, ``assert`` statements (internal invariants, stripped by ``-O``),
the wording of exception messages (the exception's class and fields are
behaviour; its prose is not) and logging calls.
"""

from __future__ import annotations

import ast
import bisect
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Mutant", "generate"]


@dataclass(frozen=True)
class Mutant:
    """One mutant of one module.

    Attributes:
        module: the module's path relative to the repository root.
        start, end: byte offsets of the replaced span in the original source.
        replacement: the new text of the span.
        original: the old text of the span.
        line: the line (1-based) where the change starts.
        lines: the source lines a test must run to reach the change.
        key: a stable identity (module, the original line's text, the edit and
            its occurrence on that line): survives edits elsewhere in the file.
    """

    module: str
    start: int
    end: int
    original: str
    replacement: str
    line: int
    lines: tuple[int, ...]
    key: str

    @property
    def ident(self) -> str:
        """A short, stable id for reports and ``--only``."""
        return hashlib.sha1(self.key.encode()).hexdigest()[:10]

    def apply(self, source: bytes) -> bytes:
        """The mutated module source."""
        return source[: self.start] + self.replacement.encode() + source[self.end :]


_COMPARE_SWAPS = {
    ast.Eq: "!=",
    ast.NotEq: "==",
    ast.Lt: "<=",
    ast.LtE: "<",
    ast.Gt: ">=",
    ast.GtE: ">",
    ast.In: "not in",
    ast.NotIn: "in",
    ast.Is: "is not",
    ast.IsNot: "is",
}
_COMPARE_TOKEN = re.compile(r"==|!=|<=|>=|<|>|\bnot\s+in\b|\bis\s+not\b|\bin\b|\bis\b")
_BINOP_SWAPS = {
    ast.Add: "-",
    ast.Sub: "+",
    ast.Mult: "/",
    ast.Div: "*",
    ast.FloorDiv: "/",
    ast.Mod: "*",
    ast.Pow: "*",
    ast.BitOr: "&",
    ast.BitAnd: "|",
    ast.BitXor: "&",
    ast.LShift: ">>",
    ast.RShift: "<<",
}
_BINOP_TOKEN = re.compile(r"\*\*|//|<<|>>|[+\-*/%|&^@]")
_AUG_TOKEN = re.compile(r"(\*\*|//|<<|>>|[+\-*/%|&^@])=")
_NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_METHOD_SWAPS = {
    "lower": "upper",
    "upper": "lower",
    "lstrip": "rstrip",
    "rstrip": "lstrip",
    "strip": "rstrip",
    "startswith": "endswith",
    "endswith": "startswith",
    "find": "rfind",
    "rfind": "find",
    "index": "rindex",
    "rindex": "index",
    "partition": "rpartition",
    "rpartition": "partition",
    "popleft": "pop",
    "appendleft": "append",
}
_STRING_OPEN = re.compile(rb"^([rRbBuUfF]*)(\"\"\"|'''|\"|')")
_LOG_NAMES = {"log", "logger", "_log", "logging"}


class _Source:
    def __init__(self, text: bytes) -> None:
        self.text = text
        self.line_starts = [0]
        for i, byte in enumerate(text):
            if byte == 0x0A:
                self.line_starts.append(i + 1)

    def offset(self, line: int, col: int) -> int:
        return self.line_starts[line - 1] + col

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def segment(self, start: int, end: int) -> str:
        return self.text[start:end].decode()

    def line_text(self, line: int) -> str:
        start = self.line_starts[line - 1]
        stop = self.line_starts[line] if line < len(self.line_starts) else len(self.text)
        return self.text[start:stop].decode().rstrip("\n")


def _lines(node: ast.AST, stmt: ast.stmt | None) -> tuple[int, ...]:
    lines = set(range(node.lineno, node.end_lineno + 1))  # type: ignore[attr-defined]
    if stmt is not None:
        lines.add(stmt.lineno)
    return tuple(sorted(lines))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_log_call(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in _LOG_NAMES
    )


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


class _Walker:
    """Walks one module and yields (node span, replacement, lines) edits."""

    def __init__(self, module: str, source: bytes) -> None:
        self.module = module
        self.src = _Source(source)
        self.edits: list[tuple[int, int, str, tuple[int, ...]]] = []

    # -- helpers ---------------------------------------------------------------

    def add(self, start: int, end: int, new: str, lines: tuple[int, ...]) -> None:
        self.edits.append((start, end, new, lines))

    def token_between(
        self, left: ast.AST, right: ast.AST, pattern: re.Pattern[str]
    ) -> tuple[int, int] | None:
        a, b = self.src.end(left), self.src.start(right)
        gap = self.src.segment(a, b)
        m = pattern.search(gap)
        if m is None:
            return None
        return a + len(gap[: m.start()].encode()), a + len(gap[: m.end()].encode())

    # -- the walk ----------------------------------------------------------------

    def walk_body(self, body: list[ast.stmt], *, in_function: bool) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and _is_docstring(stmt):
                continue
            self.walk_stmt(stmt, in_function=in_function)

    def walk_stmt(self, stmt: ast.stmt, *, in_function: bool) -> None:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            for default in [*stmt.args.defaults, *stmt.args.kw_defaults]:
                if default is not None:
                    self.expr(default, stmt)
            for deco in stmt.decorator_list:
                self.expr(deco, stmt)
            self.walk_body(stmt.body, in_function=True)
            return
        if isinstance(stmt, ast.ClassDef):
            for deco in stmt.decorator_list:
                self.expr(deco, stmt)
            self.walk_body(stmt.body, in_function=False)
            return
        if isinstance(stmt, ast.Assert | ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal):
            return
        if isinstance(stmt, ast.If):
            if _is_type_checking(stmt.test):
                return
            self.condition(stmt.test, stmt)
            self.walk_body(stmt.body, in_function=in_function)
            self.walk_body(stmt.orelse, in_function=in_function)
            return
        if isinstance(stmt, ast.While):
            self.condition(stmt.test, stmt)
            self.walk_body(stmt.body, in_function=in_function)
            self.walk_body(stmt.orelse, in_function=in_function)
            return
        if isinstance(stmt, ast.For | ast.AsyncFor):
            self.expr(stmt.iter, stmt)
            self.walk_body(stmt.body, in_function=in_function)
            self.walk_body(stmt.orelse, in_function=in_function)
            return
        if isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                self.expr(item.context_expr, stmt)
            self.walk_body(stmt.body, in_function=in_function)
            return
        if isinstance(stmt, ast.Try):
            self.walk_body(stmt.body, in_function=in_function)
            for handler in stmt.handlers:
                self.walk_body(handler.body, in_function=in_function)
            self.walk_body(stmt.orelse, in_function=in_function)
            self.walk_body(stmt.finalbody, in_function=in_function)
            return
        if isinstance(stmt, ast.Break | ast.Continue):
            new = "continue" if isinstance(stmt, ast.Break) else "break"
            self.add(self.src.start(stmt), self.src.end(stmt), new, _lines(stmt, None))
            return
        if isinstance(stmt, ast.Raise):
            # The exception's class is behaviour, its message wording is not:
            # only non-message parts of the raise are mutated.
            if isinstance(stmt.exc, ast.Call):
                for kw in stmt.exc.keywords:
                    if kw.arg is not None:
                        self.expr(kw.value, stmt)
            return
        if isinstance(stmt, ast.Return):
            if stmt.value is not None:
                self.expr(stmt.value, stmt)
                if not (isinstance(stmt.value, ast.Constant) and stmt.value.value is None):
                    self.add(
                        self.src.start(stmt.value),
                        self.src.end(stmt.value),
                        "None",
                        _lines(stmt, None),
                    )
            return
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Call) and _is_log_call(stmt.value):
                return
            self.expr(stmt.value, stmt)
            if in_function and isinstance(stmt.value, ast.Call | ast.Await):
                self.add(self.src.start(stmt), self.src.end(stmt), "pass", _lines(stmt, None))
            return
        if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            self.assignment(stmt, in_function=in_function)
            return
        if isinstance(stmt, ast.Delete | ast.Pass):
            return
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr):
                self.expr(child, stmt)

    def assignment(
        self, stmt: ast.Assign | ast.AnnAssign | ast.AugAssign, *, in_function: bool
    ) -> None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        if names & {"__all__", "__slots__"}:
            return
        value = stmt.value
        if value is None:
            return
        if isinstance(stmt, ast.AugAssign):
            span = self.token_between(stmt.target, value, _AUG_TOKEN)
            swap = _BINOP_SWAPS.get(type(stmt.op))
            if span is not None and swap is not None:
                self.add(span[0], span[1], f"{swap}=", _lines(stmt, None))
                self.add(span[0], span[1], "=", _lines(stmt, None))
        for target in targets:
            if not isinstance(target, ast.Name):
                self.expr(target, stmt)
        self.expr(value, stmt)
        if (
            in_function
            and not isinstance(stmt, ast.AugAssign)
            and not (isinstance(value, ast.Constant) and value.value is None)
        ):
            self.add(self.src.start(value), self.src.end(value), "None", _lines(stmt, None))

    def condition(self, test: ast.expr, stmt: ast.stmt | None) -> None:
        self.expr(test, stmt)
        if not isinstance(test, ast.Compare | ast.BoolOp) and not (
            isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        ):
            text = self.src.segment(self.src.start(test), self.src.end(test))
            self.add(self.src.start(test), self.src.end(test), f"not ({text})", _lines(test, stmt))

    def expr(self, node: ast.expr, stmt: ast.stmt | None) -> None:
        lines = _lines(node, stmt)
        if isinstance(node, ast.Compare):
            left: ast.expr = node.left
            for op, right in zip(node.ops, node.comparators):
                span = self.token_between(left, right, _COMPARE_TOKEN)
                if span is not None:
                    self.add(span[0], span[1], _COMPARE_SWAPS[type(op)], lines)
                left = right
        elif isinstance(node, ast.BoolOp):
            swap = "or" if isinstance(node.op, ast.And) else "and"
            token = re.compile(r"\band\b|\bor\b")
            for a, b in zip(node.values, node.values[1:]):
                span = self.token_between(a, b, token)
                if span is not None:
                    self.add(span[0], span[1], swap, lines)
        elif isinstance(node, ast.BinOp):
            swap = _BINOP_SWAPS.get(type(node.op))
            span = self.token_between(node.left, node.right, _BINOP_TOKEN)
            if swap is not None and span is not None:
                self.add(span[0], span[1], swap, lines)
        elif isinstance(node, ast.UnaryOp):
            operand = self.src.segment(self.src.start(node.operand), self.src.end(node.operand))
            if isinstance(node.op, ast.Not):
                self.add(self.src.start(node), self.src.end(node), f"({operand})", lines)
            elif isinstance(node.op, ast.USub | ast.Invert):
                self.add(self.src.start(node), self.src.end(node), operand, lines)
        elif isinstance(node, ast.IfExp):
            self.condition(node.test, stmt)
            self.expr(node.body, stmt)
            self.expr(node.orelse, stmt)
            return
        elif isinstance(node, ast.Constant):
            self.constant(node, lines)
            return
        elif isinstance(node, ast.JoinedStr):
            self.string(node, lines)
            return  # positions inside f-strings are unreliable before 3.12
        elif isinstance(node, ast.Name):
            swap_name = _NAME_SWAPS.get(node.id)
            if swap_name is not None:
                self.add(self.src.start(node), self.src.end(node), swap_name, lines)
            return
        elif isinstance(node, ast.Call):
            if _is_log_call(node):
                return
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _METHOD_SWAPS:
                end = self.src.end(func)
                start = end - len(func.attr.encode())
                self.add(start, end, _METHOD_SWAPS[func.attr], lines)
            self.keyword_removals(node, lines)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, stmt)
            elif isinstance(child, ast.keyword):
                self.expr(child.value, stmt)
            elif isinstance(child, ast.comprehension):
                self.expr(child.iter, stmt)
                for cond in child.ifs:
                    self.condition(cond, stmt)

    def keyword_removals(self, call: ast.Call, lines: tuple[int, ...]) -> None:
        args: list[ast.AST] = [*call.args, *call.keywords]
        args.sort(key=lambda a: (a.lineno, a.col_offset))  # type: ignore[attr-defined]
        for i, arg in enumerate(args):
            if not isinstance(arg, ast.keyword) or arg.arg is None:
                continue
            if i + 1 < len(args):
                start, end = self.src.start(arg), self.src.start(args[i + 1])
            elif i > 0:
                start, end = self.src.end(args[i - 1]), self.src.end(arg)
            else:
                start, end = self.src.start(arg), self.src.end(arg)
            self.add(start, end, "", lines)

    def constant(self, node: ast.Constant, lines: tuple[int, ...]) -> None:
        value = node.value
        start, end = self.src.start(node), self.src.end(node)
        if isinstance(value, bool):
            self.add(start, end, "False" if value else "True", lines)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            text = self.src.segment(start, end)
            self.add(start, end, f"({text} + 1)", lines)
        elif isinstance(value, str | bytes):
            self.string(node, lines)

    def string(self, node: ast.expr, lines: tuple[int, ...]) -> None:
        start, end = self.src.start(node), self.src.end(node)
        m = _STRING_OPEN.match(self.src.text[start:end])
        if m is None:
            return
        at = start + m.end()
        self.add(at, at, "XX", lines)


def generate(module: str, source: bytes) -> Iterator[Mutant]:
    """Every mutant of ``source`` (the text of ``module``) that still compiles."""
    tree = ast.parse(source)
    walker = _Walker(module, source)
    walker.walk_body(tree.body, in_function=False)
    seen: set[bytes] = set()
    occurrences: dict[tuple[str, str, str], int] = {}
    for start, end, new, lines in sorted(walker.edits, key=lambda e: (e[0], e[1], e[2])):
        old = walker.src.segment(start, end)
        if old == new:
            continue
        mutated = source[:start] + new.encode() + source[end:]
        if mutated in seen:
            continue
        try:
            compile(mutated, module, "exec", dont_inherit=True)
        except SyntaxError:
            continue
        seen.add(mutated)
        first = walker.src.line_text(lines[0]).strip()
        label = (first, old, new)
        n = occurrences.get(label, 0)
        occurrences[label] = n + 1
        key = f"{module} :: {first} :: {old!r} -> {new!r} #{n}"
        line = bisect.bisect_right(walker.src.line_starts, start)
        yield Mutant(module, start, end, old, new, line, lines, key)
