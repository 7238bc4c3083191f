"""The verbs of the command line, one table.

A verb is one :class:`Verb` entry in :data:`VERBS`: its name and winrm.cmd
aliases, one line of help, the arguments it adds to the parser, and either
``operation`` -- ``args -> a picklable async callable(session)`` that the
fan-out runner runs on every host (see :mod:`aiowsman.cli._ops`) -- or
``run``, for a verb that is its own program (``demo``). The parser, the
help, the shared host/auth/output options and the run itself come from the
table: adding a verb is adding an entry (and its operation class).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiowsman.cli import _ops
from aiowsman.cli._values import UsageError, parse_hash_literal, parse_pairs
from aiowsman.protocol.namespaces import DIALECT_SELECTOR, PSRP_DEFAULT_CONFIGURATION

__all__ = ["VERBS", "Verb", "verb_named"]


@dataclass(frozen=True)
class Verb:
    """One verb of ``aiowsman``.

    Attributes:
        name: the verb as typed (``enumerate``).
        help: one line for ``--help``.
        arguments: adds the verb's own arguments to its parser (the shared
            host, auth, run and output options are added for every verb
            with an ``operation``).
        operation: builds the operation for the fan-out runner from the
            parsed arguments.
        run: runs a verb that is a program of its own; returns the exit status.
        aliases: other spellings (winrm.cmd's short verbs: ``e``, ``g``...).
        examples: command lines shown in ``--help`` (each is run by the tests,
            with ``server1`` and ``hosts.txt`` pointed at a test server).
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    operation: Callable[[argparse.Namespace], Any] | None = None
    run: Callable[[argparse.Namespace], int] | None = None
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


# -- shared argument groups of the resource verbs -------------------------------------


def _target_arguments(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument(
        "resource", help=help or "resource URI or alias, e.g. wmicimv2/Win32_Service?Name=WinRM"
    )
    parser.add_argument(
        "--selector", action="append", default=[], metavar="K=V",
        help="selector (repeatable); also RESOURCE?K=V&K2=V2",
    )  # fmt: skip
    parser.add_argument(
        "--option", action="append", default=[], metavar="K=V",
        help="WS-Man option (w:OptionSet), repeatable; winrm.cmd: -options:{K=\"V\"}",
    )  # fmt: skip
    parser.add_argument(
        "--fragment", metavar="PATH", help="fragment-level transfer, e.g. Status/text()"
    )


def _values_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "values", nargs="?", metavar='@{K="V";...}', help="property values, winrm.cmd style"
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="a value (repeatable)"
    )


def _target(args: argparse.Namespace) -> _ops.Target:
    return _ops.Target(
        args.resource,
        parse_pairs(args.selector, "selector"),
        parse_pairs(args.option, "option"),
        args.fragment,
    )


def _values(args: argparse.Namespace) -> dict[str, str]:
    values: dict[str, str] = {}
    if args.values:
        values.update(parse_hash_literal(args.values))
    values.update(parse_pairs(args.param, "parameter"))
    return values


# -- the verbs -----------------------------------------------------------------------


def _identify(args: argparse.Namespace) -> Any:
    # Test-WSMan's default: no credentials, no authentication.
    anonymous = not args.username and (args.auth or "none") == "none"
    return _ops.IdentifyOp(unauthenticated=anonymous)


def _set(args: argparse.Namespace) -> Any:
    values = _values(args)
    if not values:
        raise UsageError(f'{args.verb}: give the values to set, e.g. @{{Name="value"}}')
    return _ops.PutOp(_target(args), values)


def _enumerate_arguments(parser: argparse.ArgumentParser) -> None:
    _target_arguments(parser, "class URI or alias; wmicimv2/* with a WQL --filter")
    parser.add_argument("--filter", help="filter text, e.g. WQL")
    parser.add_argument("--dialect", help="WQL (default with --filter), CQL, selector or a URI")
    parser.add_argument("--count", action="store_true", help="only count the instances")
    parser.add_argument(
        "--return-type", choices=("object", "epr", "object_and_epr"), default="object",
        help="objects (default), their references, or both (winrm.cmd -returnType:)",
    )  # fmt: skip
    parser.add_argument(
        "--shallow", action="store_true", help="instances of the class itself, not subclasses"
    )
    parser.add_argument(
        "--base-properties-only", action="store_true",
        help="subclass instances with the class's properties only",
    )  # fmt: skip


def _enumerate(args: argparse.Namespace) -> Any:
    dialect = args.dialect or ("WQL" if args.filter else None)
    polymorphism = (
        "shallow" if args.shallow else "deep_base_props_only" if args.base_properties_only else None
    )
    return _ops.EnumerateOp(
        _target(args),
        _filter(args.filter, dialect),
        dialect,
        args.count,
        mode="objects" if args.return_type == "object" else args.return_type,
        polymorphism=polymorphism,
    )


def _filter(text: str | None, dialect: str | None) -> str | dict[str, str] | None:
    """The --filter text, or for the selector dialect the selectors it names.

    A selector filter (DSP0226 8.3, dialect SelectorFilter) is a SelectorSet,
    not text: ``{State="Running"}`` (winrm.cmd's form), ``State=Running`` or
    several joined with ``&``/``;`` become a mapping the session renders as
    one; sent as text it would match nothing or everything.
    """
    if text is None or dialect is None:
        return text
    if dialect.lower() not in ("selector", DIALECT_SELECTOR.lower()):
        return text
    body = text.strip()
    if body.startswith(("@{", "{")):
        selectors = parse_hash_literal(body)
    else:
        entries = [e for e in body.replace(";", "&").split("&") if e.strip()]
        selectors = parse_pairs(entries, "selector filter")
    if not selectors:
        raise UsageError(f"--filter {text!r}: a selector filter needs name=value pairs")
    return selectors


def _invoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", help="method name, e.g. StopService")
    _target_arguments(parser)
    _values_arguments(parser)


def _with_values(parser: argparse.ArgumentParser) -> None:
    _target_arguments(parser)
    _values_arguments(parser)


def _subscribe_arguments(parser: argparse.ArgumentParser) -> None:
    from aiowsman.cli._subscribe import add_subscribe_arguments

    add_subscribe_arguments(parser)


def _subscribe_run(args: argparse.Namespace) -> int:
    from aiowsman.cli._subscribe import run_subscribe

    return run_subscribe(args)


def _command_arguments(what: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "command", nargs="*", metavar="COMMAND",
            help=f"{what}, after -- (e.g. -- ipconfig /all)",
        )  # fmt: skip
        # Everything after "--" is the command line (see _VerbParser).
        parser.rest_dest = "command"  # type: ignore[attr-defined]
        parser.add_argument(
            "--stream", action="store_true",
            help="write each output line as it arrives, prefixed by its host",
        )  # fmt: skip
        parser.add_argument(
            "--codepage", type=int, default=65001,
            help="the shell's console code page (65001, UTF-8; 437, 850...)",
        )  # fmt: skip
        parser.add_argument(
            "--command-timeout", type=float, default=3600.0, metavar="SECONDS",
            help="deadline of the command itself (3600); --timeout is per request",
        )  # fmt: skip

    return add


def _ps_arguments(parser: argparse.ArgumentParser) -> None:
    _command_arguments("the script")(parser)
    parser.add_argument(
        "--psrp", action="store_true",
        help="over PowerShell remoting (Invoke-Command): output objects, as JSON records",
    )  # fmt: skip
    parser.add_argument(
        "--configuration", default=PSRP_DEFAULT_CONFIGURATION, metavar="NAME",
        help="with --psrp: the endpoint configuration (a JEA endpoint's name)",
    )  # fmt: skip


def _run_op(powershell: bool) -> Callable[[argparse.Namespace], Any]:
    def build(args: argparse.Namespace) -> Any:
        if not args.command:
            raise UsageError(f"{args.verb}: give the command after --, e.g. -- ipconfig /all")
        if args.command_timeout <= 0:
            raise UsageError("--command-timeout must be positive")
        if args.deadline is None:
            # The host's deadline covers the command, not one request.
            args.deadline = args.command_timeout + 2 * args.timeout
        if powershell and args.psrp:
            return _ops.PSRPOp(
                " ".join(args.command),
                configuration_name=args.configuration,
                timeout=args.command_timeout,
                stream_objects=args.stream,
            )
        return _ops.RunOp(
            tuple(args.command),
            powershell=powershell,
            codepage=args.codepage,
            timeout=args.command_timeout,
            stream_lines=args.stream,
        )

    return build


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from aiowsman.demo import add_demo_arguments

    add_demo_arguments(parser)


def _demo_run(args: argparse.Namespace) -> int:
    from aiowsman.demo import run_demo_cli

    return run_demo_cli(args)


VERBS: tuple[Verb, ...] = (
    Verb(
        "identify",
        "ask each host what WS-Man service it runs (no credentials: unauthenticated, "
        "as Test-WSMan)",
        lambda parser: None,
        _identify,
        aliases=("id",),
        examples=("aiowsman identify -r server1", "aiowsman id -r:server1 -u:admin"),
    ),
    Verb(
        "get",
        "read one instance",
        _target_arguments,
        lambda args: _ops.GetOp(_target(args)),
        aliases=("g",),
        examples=(
            "aiowsman get 'wmicimv2/Win32_Service?Name=WinRM' -r server1 -u admin",
            "aiowsman get 'wmicimv2/Win32_Service?Name=WinRM' -r server1 -u admin "
            "--property Name --property State --format table",
        ),
    ),
    Verb(
        "set",
        "update properties of an instance (WS-Transfer Put)",
        _with_values,
        _set,
        aliases=("s", "put"),
        examples=("aiowsman set winrm/config/client '@{TrustedHosts=\"*\"}' -r server1 -u admin",),
    ),
    Verb(
        "create",
        "create an instance",
        _with_values,
        lambda args: _ops.CreateOp(_target(args), _values(args)),
        aliases=("c",),
    ),
    Verb(
        "delete",
        "delete an instance",
        _target_arguments,
        lambda args: _ops.DeleteOp(_target(args)),
        aliases=("d",),
    ),
    Verb(
        "enumerate",
        "list instances (WS-Enumeration), one record per instance",
        _enumerate_arguments,
        _enumerate,
        aliases=("e",),
        examples=(
            "aiowsman enumerate wmicimv2/Win32_Process --hosts hosts.txt -u admin "
            "--format jsonl -o out.jsonl",
            "aiowsman e 'wmicimv2/*' -filter:\"select * from Win32_Service where "
            "State='Running'\" -r:server1 -u:admin",
        ),
    ),
    Verb(
        "invoke",
        "invoke a method",
        _invoke_arguments,
        lambda args: _ops.InvokeOp(args.method, _target(args), _values(args)),
        aliases=("i",),
        examples=(
            "aiowsman invoke StopService 'wmicimv2/Win32_Service?Name=Spooler' -r server1 -u admin",
        ),
    ),
    Verb(
        "subscribe",
        "collect events from every host as they arrive (WS-Eventing pull subscriptions), "
        "one line per event; --bookmarks FILE makes a restart resume",
        _subscribe_arguments,
        run=_subscribe_run,
        aliases=("events",),
        examples=(
            "aiowsman subscribe --hosts hosts.txt -u admin --query '*[System[(Level<=3)]]' "
            "--read-existing --bookmarks bookmarks.json --count 10",
        ),
    ),
    Verb(
        "run",
        "run a command in a remote shell (WinRS, as winrs.exe): exit code, stdout, stderr",
        _command_arguments("the command and its arguments"),
        _run_op(powershell=False),
        examples=(
            "aiowsman run -r server1 -u admin -- ipconfig /all",
            "aiowsman run --hosts hosts.txt -u admin -- hostname",
            "aiowsman run --hosts hosts.txt -u admin --stream -- ping -n 3 localhost",
        ),
    ),
    Verb(
        "ps",
        "run a PowerShell script over WinRS (powershell.exe; its error streams decoded), "
        "or with --psrp over PowerShell remoting: objects, one JSON record per host",
        _ps_arguments,
        _run_op(powershell=True),
        examples=(
            "aiowsman ps --hosts hosts.txt -u admin -- 'Get-Service WinRM'",
            "aiowsman ps --psrp --hosts hosts.txt -u admin -- 'Get-Service WinRM'",
        ),
    ),
    Verb(
        "demo",
        "start a simulated fleet in-process and run an inventory over it",
        _demo_arguments,
        run=_demo_run,
        examples=("aiowsman demo",),
    ),
)


def verb_named(name: str) -> Verb:
    """The verb called ``name`` (or one of its aliases)."""
    for verb in VERBS:
        if name == verb.name or name in verb.aliases:
            return verb
    raise UsageError(f"unknown verb {name!r}")
