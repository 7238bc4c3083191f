"""winrm.cmd's spellings, translated to the ``aiowsman`` options -- or refused.

``winrm.cmd`` (winrm.vbs) writes its switches with one dash and a colon,
``-r:host -u:admin -timeout:3000 -format:pretty``, and its verbs short or
long (``g``/``get``, ``e``/``enumerate``, ``id``/``identify``...). This
module rewrites a command line written that way into the GNU options the
argument parser knows, in winrm.cmd's units (``-timeout`` is milliseconds),
before the parser sees it.

The rule is: translate faithfully, or refuse with a message that says what
to write instead -- never let the parser *reinterpret* a winrm.cmd switch
(``-usessl`` as ``-u sessl``, ``-options:{...}`` as ``-o ptions:{...}``).
So every single-dash word longer than two characters must be a switch this
table knows; anything else is a usage error.

Both ``-switch:value`` and ``-switch value`` are accepted for the switches
that take a value. Switch names are case-insensitive, as in winrm.cmd.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from aiowsman.cli._values import UsageError, parse_hash_literal

__all__ = ["PASSWORD_REFUSAL", "WINRM_VERBS", "normalise_argv", "switch_names"]

PASSWORD_REFUSAL = (
    "passwords are not accepted on the command line (shell history and process "
    "listings would show them); set AIOWSMAN_PASSWORD or answer the prompt"
)

#: winrm.cmd's verbs that aiowsman does not run, with what to do instead.
WINRM_VERBS: dict[str, str] = {
    "quickconfig": "winrm quickconfig configures the Windows host itself: run it there "
    "(docs/windows-host.md shows Enable-PSRemoting and the HTTPS listener)",
    "qc": "winrm qc (quickconfig) configures the Windows host itself: run it there "
    "(docs/windows-host.md)",
    "configsddl": "winrm configSDDL opens a Windows security dialog: run it on the host",
    "helpmsg": "winrm helpmsg decodes a Windows error number: see docs/troubleshooting.md, "
    "which lists WS-Management fault codes",
    "help": "use aiowsman --help or aiowsman VERB --help",
}


@dataclass(frozen=True)
class _Switch:
    """One winrm.cmd switch: what it becomes (``to``), or why it is refused."""

    to: Callable[[str], list[str]] | None = None  # value -> GNU argv
    flag: tuple[str, ...] | None = None  # a switch without a value -> GNU argv
    refuse: str | None = None

    @property
    def takes_value(self) -> bool:
        return self.to is not None


def _same(option: str) -> Callable[[str], list[str]]:
    return lambda value: [option, value]


def _timeout_ms(value: str) -> list[str]:
    # winrm.cmd: "-timeout:MS  Timeout in milliseconds" (winrm help switches).
    try:
        ms = int(value)
    except ValueError:
        raise UsageError(
            f"-timeout:{value}: winrm.cmd's -timeout is whole milliseconds, e.g. "
            "-timeout:30000 (or write --timeout 30, in seconds)"
        ) from None
    if ms <= 0:
        raise UsageError(f"-timeout:{value}: must be a positive number of milliseconds")
    return ["--timeout", f"{ms / 1000:g}"]


def _format(value: str) -> list[str]:
    fmt = value.lower()
    if fmt not in ("xml", "pretty", "text"):
        raise UsageError(
            f"-format:{value}: winrm.cmd's formats are xml, pretty and text "
            "(aiowsman also has --format jsonl, json, csv, table)"
        )
    return ["--format", fmt]


_RETURN_TYPES = {"object": "object", "epr": "epr", "objectandepr": "object_and_epr"}


def _return_type(value: str) -> list[str]:
    try:
        return ["--return-type", _RETURN_TYPES[value.lower()]]
    except KeyError:
        raise UsageError(f"-returnType:{value}: expected Object, EPR or ObjectAndEPR") from None


def _options(value: str) -> list[str]:
    pairs = parse_hash_literal(value)
    if not pairs:
        raise UsageError(f'-options:{value}: expected {{name="value";...}}')
    out: list[str] = []
    for name, text in pairs.items():
        out += ["--option", f"{name}={text}"]
    return out


def _encoding(value: str) -> list[str]:
    if value.lower().replace("-", "") == "utf8":
        return []  # what aiowsman always sends
    raise UsageError(
        f"-encoding:{value}: aiowsman sends UTF-8 only (winrm.cmd's default); drop the switch"
    )


_USE_FILE_CERT = (
    "-certificate names a certificate in the Windows store by thumbprint; aiowsman reads "
    "files: --auth certificate --cert CERT.pem --cert-key KEY.pem"
)

#: Every winrm.cmd switch (``winrm help switches``, ``help remoting``,
#: ``help auth``, ``help enumerate``), lower-cased.
_SWITCHES: dict[str, _Switch] = {
    "r": _Switch(to=_same("--remote")),
    "remote": _Switch(to=_same("--remote")),
    "u": _Switch(to=_same("--username")),
    "username": _Switch(to=_same("--username")),
    "a": _Switch(to=_same("--auth")),
    "authentication": _Switch(to=_same("--auth")),
    "p": _Switch(refuse=PASSWORD_REFUSAL),
    "password": _Switch(refuse=PASSWORD_REFUSAL),
    "c": _Switch(refuse=_USE_FILE_CERT),
    "certificate": _Switch(refuse=_USE_FILE_CERT),
    "timeout": _Switch(to=_timeout_ms),
    "f": _Switch(to=_format),
    "format": _Switch(to=_format),
    "filter": _Switch(to=_same("--filter")),
    "dialect": _Switch(to=_same("--dialect")),
    "fragment": _Switch(to=_same("--fragment")),
    "options": _Switch(to=_options),
    "returntype": _Switch(to=_return_type),
    "encoding": _Switch(to=_encoding),
    "usessl": _Switch(flag=("--tls",)),
    # winrm.cmd: "-unencrypted: no encryption will be used when doing remote
    # operations over HTTP" -- and over HTTP that needs AllowUnencrypted.
    "unencrypted": _Switch(flag=("--insecure-allow-unencrypted", "--no-encryption")),
    "skipcacheck": _Switch(flag=("--skip-ca-check",)),
    "skipcncheck": _Switch(flag=("--skip-cn-check",)),
    # aiowsman never checks revocation, so skipping the check changes nothing.
    "skiprevocationcheck": _Switch(flag=()),
    "shallow": _Switch(flag=("--shallow",)),
    "basepropertiesonly": _Switch(flag=("--base-properties-only",)),
    "defaultcreds": _Switch(
        refuse="-defaultCreds (the logged-on user's credentials): get a Kerberos ticket with "
        "kinit and use --auth kerberos without -u"
    ),
    "spnport": _Switch(
        refuse="-SPNPort is not supported: aiowsman asks for HTTP/host (the SPN WinRM registers)"
    ),
    "associations": _Switch(
        refuse="-associations is not in the command line; use the library's association "
        "filter (session.enumerate(..., filter=..., dialect='association'))"
    ),
}

_NUMBER = re.compile(r"^-\d")


def switch_names() -> list[str]:
    """The winrm.cmd switch names understood (for help and docs)."""
    return sorted(name for name, sw in _SWITCHES.items() if sw.refuse is None)


def _refuse_password(arg: str) -> None:
    low = arg.lower()
    if low in ("-p", "--password") or low.startswith(("-p:", "--password", "-password")):
        raise UsageError(PASSWORD_REFUSAL)


def normalise_argv(
    argv: Sequence[str],
    *,
    takes_value: Collection[str] = (),
    verbs: Collection[str] = (),
) -> list[str]:
    """Rewrite winrm.cmd's switches and verbs into ``aiowsman``'s options.

    Args:
        argv: the command line, without the program name.
        takes_value: GNU options of the parser that take a value (their value
            is passed through untouched, even if it starts with ``-``).
        verbs: verb names and aliases (matched case-insensitively, as winrm.cmd).

    Returns:
        The rewritten command line.

    Raises:
        UsageError: a password on the command line (any spelling), a switch
            that cannot be honoured (with what to write instead), or a
            single-dash word that is no switch at all.
    """
    out: list[str] = []
    args = list(argv)
    i = 0
    verb_seen = False
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            out += args[i - 1 :]
            break
        if out and out[-1] in takes_value:
            out.append(arg)  # an option's value, whatever it looks like
            continue
        _refuse_password(arg)
        if not arg.startswith("-") or arg == "-":
            if not verb_seen:
                verb_seen = True
                low = arg.lower()
                if low in WINRM_VERBS:
                    raise UsageError(WINRM_VERBS[low])
                if low in verbs:
                    arg = low
            out.append(arg)
            continue
        if arg.startswith("--") or len(arg) == 2 or _NUMBER.match(arg):
            out.append(arg)
            continue
        name, colon, value = arg[1:].partition(":")
        switch = _SWITCHES.get(name.lower())
        if switch is None:
            raise UsageError(
                f"unknown switch {arg!r}: winrm.cmd's switches are -{' -'.join(switch_names())} "
                "(as -switch:value or -switch value); aiowsman's own options are spelled "
                "--long or -x VALUE (see --help)"
            )
        if switch.refuse is not None:
            raise UsageError(switch.refuse)
        if switch.flag is not None:
            if colon:
                raise UsageError(f"{arg!r}: -{name} takes no value")
            out += list(switch.flag)
            continue
        assert switch.to is not None
        if not colon:
            if i >= len(args):
                raise UsageError(f"-{name} needs a value: -{name}:VALUE or -{name} VALUE")
            value = args[i]
            i += 1
        out += switch.to(value)
    return out
