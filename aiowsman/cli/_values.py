"""Parsing of winrm.cmd-style values: ``@{k="v";...}`` and ``k=v``.

``winrm.cmd`` writes resource values as a PowerShell-ish hash literal,
``@{TrustedHosts="a,b";MaxEnvelopeSizekb="500"}``; it is accepted here next
to the GNU form ``--param k=v``. The switches (``-r:host``) are
:mod:`aiowsman.cli._winrm`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["UsageError", "parse_hash_literal", "parse_pairs"]


class UsageError(ValueError):
    """A bad command line; reported in one line, exit status 2."""


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            current.append(ch)
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quote:
        raise UsageError(f"unterminated quote in {text!r}")
    parts.append("".join(current))
    return parts


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_pairs(pairs: Sequence[str], what: str = "parameter") -> dict[str, str]:
    """Parse ``["k=v", ...]`` into a dict; values may be quoted.

    Raises:
        UsageError: an entry without ``=`` or with an empty name.
    """
    result: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"bad {what} {pair!r}: expected name=value")
        result[name] = _unquote(value)
    return result


def parse_hash_literal(text: str) -> dict[str, str]:
    """Parse winrm.cmd's ``@{k="v";k2="v2"}`` (the ``@`` is optional).

    Raises:
        UsageError: not a ``{...}`` literal, or an entry without ``=``.
    """
    body = text.strip()
    if body.startswith("@"):
        body = body[1:].lstrip()
    if not (body.startswith("{") and body.endswith("}")):
        raise UsageError(f'bad value set {text!r}: expected @{{name="value";...}}')
    inner = body[1:-1].strip()
    if not inner:
        return {}
    entries = [e for e in _split_outside_quotes(inner, ";") if e.strip()]
    return parse_pairs(entries, "value")
