"""``aiowsman``: winrm.cmd's verbs over one host or thousands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence
from contextlib import ExitStack, aclosing
from typing import Any, NoReturn, TextIO

from aiowsman.cli._hosts import count_hosts, iter_hosts
from aiowsman.cli._output import FORMATS, make_writer
from aiowsman.cli._progress import Progress
from aiowsman.cli._values import UsageError, normalise_argv, parse_hash_literal, parse_pairs
from aiowsman.errors import ConfigurationError
from aiowsman.fanout import HostResult, Summary
from aiowsman.protocol.namespaces import DIALECT_SELECTOR

__all__ = [
    "EXIT_ALL_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_ALL_FAILED = 3
EXIT_INTERRUPTED = 130

PASSWORD_ENV = "AIOWSMAN_PASSWORD"

#: Without --processes, a run of this many hosts (counted in a hosts file) uses
#: every core: at about a millisecond of CPU per host it is CPU-bound, and the
#: half second each worker process costs to start is repaid many times over.
AUTO_PROCESSES_FROM = 2000


def _processes(text: str) -> int | str:
    """``--processes``: a positive integer or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"want a positive number or 'auto', not {text!r}")
    return value


EPILOG = f"""\
examples:
  aiowsman demo                                     simulated fleet: inventory of 500 hosts
  aiowsman identify -r server1
  aiowsman get wmicimv2/Win32_Service?Name=WinRM -r server1 -u admin --auth ntlm
  aiowsman enumerate wmicimv2/Win32_Process --hosts hosts.txt -u admin --format jsonl -o out.jsonl
  aiowsman enumerate wmicimv2/* --filter "select * from Win32_Service where State='Running'"
  aiowsman invoke StopService wmicimv2/Win32_Service?Name=Spooler -r server1 -u admin
  aiowsman set winrm/config/client @{{TrustedHosts="*"}} -r server1 -u admin

winrm.cmd spellings work too: -r:HOST -u:USER -a:basic -filter:"..." -dialect:wql.

password: from ${PASSWORD_ENV}, else prompted on a terminal; never on the command line.

exit status:
  {EXIT_OK}    every host succeeded
  {EXIT_SOME_FAILED}    some hosts failed (their records say why)
  {EXIT_USAGE}    bad arguments or usage (nothing was sent)
  {EXIT_ALL_FAILED}    every host failed
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise UsageError (one line, exit 2) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _VerbParser(_Parser):
    """A verb's parser: options and positionals may be intermixed.

    winrm.cmd takes its switches anywhere (``winrm set RES -r:host @{...}``),
    so ``aiowsman set RES -r host @{K="V"}`` must work too; plain argparse
    would have matched the optional ``@{...}`` positional (as empty) before
    ``-r`` and then refuse it as an unrecognized argument.
    """

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:
            # parse_known_intermixed_args calls back here (Python < 3.13).
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _common(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("hosts")
    target.add_argument(
        "-r", "--remote", action="append", default=[], metavar="HOST",
        help="target host, host:port or URL (repeatable)",
    )  # fmt: skip
    target.add_argument(
        "--hosts",
        metavar="FILE",
        help="file of hosts, one per line or CSV with a 'host' column; '-' = stdin",
    )
    auth = parser.add_argument_group("authentication and transport")
    auth.add_argument(
        "-a", "--auth", help="basic, ntlm, negotiate, kerberos, credssp, certificate, none"
    )
    auth.add_argument("-u", "--username", help=f"user name (password: ${PASSWORD_ENV} or prompt)")
    auth.add_argument(
        "--tls", action="store_true", help="use HTTPS for hosts given without a scheme"
    )
    auth.add_argument("--ca-file", help="CA bundle to verify server certificates")
    auth.add_argument("--skip-ca-check", action="store_true", help="do not verify the certificate")
    auth.add_argument("--skip-cn-check", action="store_true", help="do not match the host name")
    auth.add_argument(
        "--insecure-allow-unencrypted", action="store_true",
        help="allow clear-text credentials/SOAP over plain HTTP (WinRM AllowUnencrypted)",
    )  # fmt: skip
    run = parser.add_argument_group("run")
    run.add_argument("--timeout", type=float, default=30.0, help="seconds per operation (30)")
    run.add_argument(
        "--deadline", type=float, help="seconds per host, all attempts included (2 x timeout)"
    )
    run.add_argument("--retries", type=int, default=2, help="retries of transient failures (2)")
    run.add_argument("--batch-items", type=int, help="items per Pull when enumerating (50)")
    run.add_argument("--concurrency", type=int, default=100, help="hosts in flight (100)")
    run.add_argument("--per-host", type=int, default=1, help="connections per host (1)")
    run.add_argument(
        "--processes", metavar="N|auto", type=_processes,
        help=f"worker processes on this machine: 'auto' = one per CPU, 1 = this process only "
        f"(default: auto for {AUTO_PROCESSES_FROM:,}+ hosts read from a file, else 1)",
    )  # fmt: skip
    run.add_argument("--dask", metavar="SCHEDULER", help="run on a Dask cluster (address)")
    run.add_argument("--shard-size", type=int, default=100, help="hosts per Dask task (100)")
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="jsonl", help="output format (jsonl)")
    out.add_argument(
        "-o", "--output", metavar="FILE", help="write results to FILE (default stdout)"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")


def _selectors(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--selector", action="append", default=[], metavar="K=V",
        help="selector (repeatable); also RESOURCE?K=V&K2=V2",
    )  # fmt: skip


def _values(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "values", nargs="?", metavar='@{K="V";...}', help="property values, winrm.cmd style"
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="a value (repeatable)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``aiowsman`` argument parser."""
    parser = _Parser(
        prog="aiowsman",
        description="WS-Management (WinRM) from the command line, for one host or thousands.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from aiowsman import __version__

    parser.add_argument("--version", action="version", version=f"aiowsman {__version__}")
    verbs = parser.add_subparsers(
        dest="verb", metavar="VERB", required=True, parser_class=_VerbParser
    )

    def verb(name: str, help: str, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help, aliases=list(aliases))
        return sub

    p = verb("identify", "ask each host what WS-Man service it runs")
    _common(p)
    p = verb("get", "read one instance")
    p.add_argument("resource", help="resource URI or alias, e.g. wmicimv2/Win32_Service?Name=WinRM")
    _selectors(p)
    _common(p)
    p = verb("set", "update properties of an instance (WS-Transfer Put)", aliases=["put"])
    p.add_argument("resource")
    _values(p)
    _selectors(p)
    _common(p)
    p = verb("create", "create an instance")
    p.add_argument("resource")
    _values(p)
    _selectors(p)
    _common(p)
    p = verb("delete", "delete an instance")
    p.add_argument("resource")
    _selectors(p)
    _common(p)
    p = verb("enumerate", "list instances (WS-Enumeration)")
    p.add_argument("resource", help="class URI or alias; wmicimv2/* with a WQL --filter")
    p.add_argument("--filter", help="filter text, e.g. WQL")
    p.add_argument("--dialect", help="WQL (default with --filter), CQL, selector, xpath or a URI")
    p.add_argument("--count", action="store_true", help="only count the instances")
    _selectors(p)
    _common(p)
    p = verb("invoke", "invoke a method")
    p.add_argument("method", help="method name, e.g. StopService")
    p.add_argument("resource")
    _values(p)
    _selectors(p)
    _common(p)

    from aiowsman.demo import add_demo_arguments

    p = verb("demo", "start a simulated fleet in-process and run an inventory over it")
    add_demo_arguments(p)
    return parser


# ---------------------------------------------------------------------------


def _password(args: argparse.Namespace) -> str | None:
    if not args.username:
        return None
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env
    if (args.auth or "").lower() in ("kerberos", "certificate"):
        return None  # a ticket cache / a client certificate: no password needed
    if not sys.stdin.isatty():
        raise UsageError(
            f"no password for {args.username!r}: set {PASSWORD_ENV} "
            "(stdin is not a terminal, so there is no prompt)"
        )
    return getpass.getpass(f"password for {args.username}: ")


def _operation(args: argparse.Namespace) -> Any:
    from aiowsman.cli import _ops

    selectors = parse_pairs(getattr(args, "selector", []), "selector")
    values: dict[str, str] = {}
    if getattr(args, "values", None):
        values.update(parse_hash_literal(args.values))
    values.update(parse_pairs(getattr(args, "param", []), "parameter"))
    verb = args.verb
    if verb == "identify":
        return _ops.IdentifyOp()
    if verb == "get":
        return _ops.GetOp(args.resource, selectors)
    if verb in ("set", "put"):
        if not values:
            raise UsageError(f'{verb}: give the values to set, e.g. @{{Name="value"}}')
        return _ops.PutOp(args.resource, values, selectors)
    if verb == "create":
        return _ops.CreateOp(args.resource, values, selectors)
    if verb == "delete":
        return _ops.DeleteOp(args.resource, selectors)
    if verb == "enumerate":
        dialect = args.dialect or ("WQL" if args.filter else None)
        return _ops.EnumerateOp(
            args.resource, selectors, _filter(args.filter, dialect), dialect, args.count
        )
    if verb == "invoke":
        return _ops.InvokeOp(args.method, args.resource, values, selectors)
    raise UsageError(f"unknown verb {verb!r}")  # pragma: no cover - argparse checks


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


def _session_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"timeout": args.timeout}
    if args.username:
        options["username"] = args.username
        options["password"] = _password(args)
    if args.auth:
        options["auth"] = args.auth.lower()
    if args.insecure_allow_unencrypted:
        options["allow_unencrypted"] = True
    if args.ca_file:
        if not os.path.isfile(args.ca_file):
            raise UsageError(f"--ca-file {args.ca_file!r}: no such file")
        options["verify"] = args.ca_file
    if args.skip_ca_check:
        options["skip_ca_check"] = True
    if args.skip_cn_check:
        options["skip_cn_check"] = True
    if args.tls:
        options["use_tls"] = True
    if args.batch_items is not None:
        options["batch_items"] = args.batch_items
    return options


def _check_numbers(args: argparse.Namespace) -> None:
    for name in ("timeout", "concurrency", "per_host", "shard_size"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, not {value}")
    if args.deadline is not None and args.deadline <= 0:
        raise UsageError("--deadline must be positive")
    if args.retries < 0:
        raise UsageError("--retries must not be negative")
    if args.batch_items is not None and args.batch_items <= 0:
        raise UsageError("--batch-items must be positive")


class _HostSource:
    """Where the hosts come from: -r values, a file, or stdin (streamed)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.remotes: list[str] = list(args.remote)
        self.path: str | None = args.hosts
        if not self.remotes and not self.path:
            raise UsageError("no hosts: give -r HOST (repeatable) or --hosts FILE ('-' for stdin)")
        if self.path and self.path != "-" and not os.path.isfile(self.path):
            raise UsageError(f"--hosts {self.path!r}: no such file")

    def total(self) -> int | None:
        if self.path is None:
            return len(self.remotes)
        if self.path == "-":
            return None
        counted = count_hosts(self.path)
        return None if counted is None else counted + len(self.remotes)

    def __iter__(self) -> Iterator[str]:
        yield from self.remotes
        if self.path == "-":
            yield from iter_hosts(sys.stdin)
        elif self.path:
            with open(self.path, encoding="utf-8", newline="") as fh:
                yield from iter_hosts(fh)


def _open_output(path: str | None, stack: ExitStack) -> TextIO:
    if path is None or path == "-":
        return sys.stdout
    try:
        return stack.enter_context(open(path, "w", encoding="utf-8", newline=""))
    except OSError as exc:
        raise UsageError(f"cannot write {path!r}: {exc.strerror}") from None


def exit_status(summary: Summary) -> int:
    """0 all ok, 1 some failed, 3 all failed, 2 when every failure was a refused setting."""
    if summary.failed == 0:
        return EXIT_OK
    if summary.ok == 0 and set(summary.failed_by_class) == {"config"}:
        # Every session refused its options before sending anything (Basic
        # over HTTP without --insecure-allow-unencrypted, unknown --auth...).
        return EXIT_USAGE
    return EXIT_ALL_FAILED if summary.ok == 0 else EXIT_SOME_FAILED


def _process_count(args: argparse.Namespace, total: int | None) -> int | str | None:
    """Worker processes for this run: --processes, else auto for a long host list."""
    if args.processes is not None:
        if args.dask:
            raise UsageError("--processes and --dask do not mix: Dask has its own workers")
        return args.processes  # type: ignore[no-any-return]
    if not args.dask and total is not None and total >= AUTO_PROCESSES_FROM:
        return "auto"
    return None


async def _results(
    args: argparse.Namespace,
    hosts: Iterable[str],
    operation: Any,
    options: dict[str, Any],
    summary: Summary,
    processes: int | str | None = None,
) -> AsyncGenerator[HostResult[Any], None]:
    runner_kwargs: dict[str, Any] = {
        "concurrency": args.concurrency,
        "per_host": args.per_host,
        "deadline": args.deadline if args.deadline is not None else 2 * args.timeout,
        "retries": args.retries,
        "idempotent": bool(getattr(operation, "idempotent", False)),
    }
    if args.dask:
        from aiowsman.distributed import run_distributed

        async for result in run_distributed(
            args.dask, hosts, operation, shard_size=args.shard_size, **runner_kwargs, **options
        ):
            summary.add(result)
            yield result
        return
    from aiowsman.fanout import run

    # The CLI owns its process, so it lets the runner raise the collector's
    # first threshold for the run (benchmarks/results/profiles: the collector
    # took 10-20% of a fan-out's CPU at CPython's default of 700).
    async with run(
        hosts,
        operation,
        summary=summary,
        gc_threshold=10_000,
        processes=processes,
        **runner_kwargs,
        **options,
    ) as fan:
        async for result in fan:
            yield result


async def _execute(args: argparse.Namespace) -> int:
    operation = _operation(args)
    source = _HostSource(args)
    options = _session_options(args)
    total = source.total()
    processes = _process_count(args, total)
    if processes is not None and not args.quiet:
        from aiowsman._multiproc import resolve_processes

        count = resolve_processes(processes)
        if count > 1:
            print(f"aiowsman: running on {count} worker processes", file=sys.stderr)
    summary = Summary()
    failures_shown = 0
    with ExitStack() as stack:
        out = _open_output(args.output, stack)
        writer = make_writer(args.format, out)
        progress = stack.enter_context(Progress(total, enabled=not args.quiet))
        try:
            # aclosing: if writing fails (a closed pipe, a full disk), the run
            # is torn down here, in this task -- its sessions and connector
            # closed -- not left to asyncio.run's shutdown of async generators.
            results = _results(args, source, operation, options, summary, processes)
            async with aclosing(results):
                async for result in results:
                    writer.write(result)
                    progress.update(result)
                    if not result.ok and not args.quiet and not progress.active:
                        # Without a bar, say which hosts failed as it happens.
                        if failures_shown < 20:
                            print(f"aiowsman: {result.message}", file=sys.stderr)
                        failures_shown += 1
        finally:
            writer.close()
    if failures_shown > 20:
        print(f"aiowsman: ... and {failures_shown - 20} more failures", file=sys.stderr)
    if not args.quiet:
        print(str(summary), file=sys.stderr)
    if summary.total == 0:
        print("aiowsman: the host list was empty", file=sys.stderr)
    return exit_status(summary)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aiowsman`` command line; returns the exit status.

    Args:
        argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        0 every host ok, 1 some failed, 2 usage error, 3 every host failed,
        130 interrupted.
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(normalise_argv(raw))
        if args.verb == "demo":
            from aiowsman.demo import run_demo_cli

            return run_demo_cli(args)
        _check_numbers(args)
        return asyncio.run(_execute(args))
    except (UsageError, ConfigurationError) as exc:
        # ConfigurationError: the session refused an option (Basic over
        # HTTP without --insecure-allow-unencrypted, an unknown scheme...).
        print(f"aiowsman: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("aiowsman: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `aiowsman ... | head`: the reader left; not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
