"""Parsing of the winrm.cmd-style arguments: ``@{k="v";...}``, ``k=v``, ``-r:host``.

``winrm.cmd`` writes resource values as a PowerShell-ish hash literal,
``@{TrustedHosts="a,b";MaxEnvelopeSizekb="500"}``, and options with a colon,
``-r:host -u:user -filter:"select * from Win32_Service"``. Both are accepted
here, next to the GNU forms ``--param k=v`` and ``-r host``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["UsageError", "normalise_argv", "parse_hash_literal", "parse_pairs"]


class UsageError(ValueError):
    """A bad command line; reported in one line, exit status 2."""


# winrm.cmd switches (case-insensitive) -> our long options. A value after a
# colon (``-r:host``) becomes the option's argument.
_WINRM_SWITCHES = {
    "r": "--remote",
    "remote": "--remote",
    "u": "--username",
    "username": "--username",
    "a": "--auth",
    "auth": "--auth",
    "filter": "--filter",
    "dialect": "--dialect",
    "format": "--format",
    "timeout": "--timeout",
    "unencrypted": "--insecure-allow-unencrypted",
    "skipcacheck": "--skip-ca-check",
    "skipcncheck": "--skip-cn-check",
    "batchitems": "--batch-items",
}


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Rewrite winrm.cmd-style switches (``-r:host``) to our options (``--remote host``).

    Raises:
        UsageError: a password on the command line (``-p:...``), which would
            leak into shell history and process listings.
    """
    out: list[str] = []
    for arg in argv:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            name, colon, value = arg[1:].partition(":")
            key = name.lower()
            if key in ("p", "password"):
                raise UsageError(
                    "passwords are not accepted on the command line; "
                    "set AIOWSMAN_PASSWORD or answer the prompt"
                )
            if key in _WINRM_SWITCHES and (colon or key in _FLAGS):
                out.append(_WINRM_SWITCHES[key])
                if colon:
                    out.append(value)
                continue
        if arg.lower().startswith("--password"):
            raise UsageError(
                "passwords are not accepted on the command line; "
                "set AIOWSMAN_PASSWORD or answer the prompt"
            )
        out.append(arg)
    return out


_FLAGS = {"unencrypted", "skipcacheck", "skipcncheck"}


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
