"""``aiowsman``: winrm.cmd's verbs over one host or thousands."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import re
import sys
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, aclosing
from typing import Any, NoReturn, TextIO

from aiowsman.cli._hosts import count_hosts, iter_hosts
from aiowsman.cli._output import FORMATS, HUMAN_FORMATS, make_writer
from aiowsman.cli._progress import Progress
from aiowsman.cli._values import UsageError
from aiowsman.cli._verbs import VERBS, Verb
from aiowsman.cli._winrm import normalise_argv
from aiowsman.errors import ConfigurationError
from aiowsman.fanout import HostResult, Summary

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

#: Auth scheme names the command line accepts (``--auth``, winrm.cmd ``-a:``).
AUTH_SCHEMES = ("basic", "ntlm", "negotiate", "kerberos", "credssp", "certificate", "none")

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


#: Library spellings in messages, and what a command-line user writes instead.
CLI_SPELLINGS = {
    "pass allow_unencrypted=True": "add --insecure-allow-unencrypted",
    "allow_unencrypted=True": "--insecure-allow-unencrypted",
}


def _epilog() -> str:
    examples = "\n".join(f"  {line}" for verb in VERBS for line in verb.examples)
    return f"""\
examples:
{examples}

winrm.cmd spellings work too: verbs g/s/c/d/e/i/id, -r:HOST -u:USER -a:basic
-timeout:MS -format:text|pretty|xml -filter:"..." -dialect:wql -options:{{K="V"}}
-returnType:EPR -usessl -unencrypted -skipCAcheck -skipCNcheck.

output: one host reads as text (winrm.cmd's Name = value); more hosts as JSON
lines, one record per host (per instance for enumerate). --format chooses.

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
    #: The destination of everything after ``--`` (``run -- ipconfig /all``),
    #: set by a verb whose last argument is a command line.
    rest_dest: str | None = None

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:
            # parse_known_intermixed_args calls back here (Python < 3.13).
            return super().parse_known_args(args, namespace)
        rest: list[str] | None = None
        if self.rest_dest is not None and args is not None and "--" in args:
            # Intermixed parsing does not stop at "--" (before Python 3.13):
            # the command line after it is taken as it is, options and all.
            cut = list(args).index("--")
            args, rest = list(args)[:cut], list(args)[cut + 1 :]
        self._intermixing = True
        try:
            parsed, unknown = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False
        if rest is not None:
            assert self.rest_dest is not None
            setattr(parsed, self.rest_dest, [*getattr(parsed, self.rest_dest, []), *rest])
        return parsed, unknown


def _auth_scheme(value: str) -> str:
    scheme = value.lower()
    if scheme in AUTH_SCHEMES:
        return scheme
    if scheme == "digest":
        raise argparse.ArgumentTypeError(
            "Digest is not supported (WinRM's service does not accept it either); "
            "use negotiate, kerberos, or basic over https"
        )
    raise argparse.ArgumentTypeError(
        f"unknown auth scheme {value!r} (choose from {', '.join(AUTH_SCHEMES)})"
    )


def host_and_auth_options(parser: argparse.ArgumentParser) -> None:
    """The "hosts" and "authentication and transport" option groups: every
    verb that talks to hosts has them (``_session_options`` reads them)."""
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
        "-a", "--auth", type=_auth_scheme, metavar="SCHEME",
        help=f"{', '.join(AUTH_SCHEMES)} (default: negotiate with -u, else none)",
    )  # fmt: skip
    auth.add_argument("-u", "--username", help=f"user name (password: ${PASSWORD_ENV} or prompt)")
    auth.add_argument(
        "--tls", action="store_true", help="use HTTPS for hosts given without a scheme"
    )
    auth.add_argument("--ca-file", help="CA bundle to verify server certificates")
    auth.add_argument("--skip-ca-check", action="store_true", help="do not verify the certificate")
    auth.add_argument("--skip-cn-check", action="store_true", help="do not match the host name")
    auth.add_argument("--cert", metavar="PEM", help="client certificate (--auth certificate)")
    auth.add_argument("--cert-key", metavar="PEM", help="its private key, if not in --cert")
    auth.add_argument(
        "--insecure-allow-unencrypted", action="store_true",
        help="allow clear-text credentials/SOAP over plain HTTP (WinRM AllowUnencrypted)",
    )  # fmt: skip
    auth.add_argument(
        "--no-encryption", action="store_true",
        help="no message encryption over HTTP (with --insecure-allow-unencrypted)",
    )  # fmt: skip


def _common(parser: argparse.ArgumentParser) -> None:
    host_and_auth_options(parser)
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
    out.add_argument(
        "--format", choices=FORMATS,
        help="text (default for one host), table, jsonl (default for more), json, csv, "
        "xml, pretty",
    )  # fmt: skip
    out.add_argument(
        "--property", "--select", action="append", default=[], metavar="NAME",
        help="only this property (repeatable, or comma-separated); case-insensitive",
    )  # fmt: skip
    out.add_argument(
        "-o", "--output", metavar="FILE", help="write results to FILE (default stdout)"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")


def build_parser() -> argparse.ArgumentParser:
    """The ``aiowsman`` argument parser, built from :data:`~aiowsman.cli._verbs.VERBS`."""
    parser = _Parser(
        prog="aiowsman",
        description="WS-Management (WinRM) from the command line, for one host or thousands.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from aiowsman import __version__

    parser.add_argument("--version", action="version", version=f"aiowsman {__version__}")
    subparsers = parser.add_subparsers(
        dest="verb", metavar="VERB", required=True, parser_class=_VerbParser
    )
    for verb in VERBS:
        sub = subparsers.add_parser(
            verb.name, help=verb.help, description=verb.help, aliases=list(verb.aliases)
        )
        verb.arguments(sub)
        if verb.operation is not None:
            _common(sub)
        sub.set_defaults(verb_entry=verb)
    return parser


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and its verbs that takes a value."""
    found: set[str] = set()
    stack = [parser]
    while stack:
        current = stack.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            elif action.option_strings and action.nargs != 0:
                found.update(action.option_strings)
    return found


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


def _session_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"timeout": args.timeout}
    if args.username:
        options["username"] = args.username
        options["password"] = _password(args)
    if args.auth:
        options["auth"] = args.auth
    if args.insecure_allow_unencrypted:
        options["allow_unencrypted"] = True
    if args.no_encryption:
        if not args.insecure_allow_unencrypted:
            raise UsageError("--no-encryption needs --insecure-allow-unencrypted")
        options["encrypt"] = False
    for name in ("ca_file", "cert", "cert_key"):
        path = getattr(args, name)
        if path and not os.path.isfile(path):
            raise UsageError(f"--{name.replace('_', '-')} {path!r}: no such file")
    if args.ca_file:
        options["verify"] = args.ca_file
    if args.cert:
        options["cert"] = (args.cert, args.cert_key) if args.cert_key else args.cert
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


def _properties(args: argparse.Namespace) -> list[str]:
    names = [n.strip() for arg in args.property for n in arg.split(",") if n.strip()]
    if names and args.format in ("xml", "pretty"):
        raise UsageError(f"--property does not apply to --format {args.format} (raw XML)")
    return names


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


def _process_count(args: argparse.Namespace, total: int | None) -> int:
    """Worker processes for this run: --processes, else every core for a long host list."""
    if args.processes is not None:
        if args.dask:
            raise UsageError("--processes and --dask do not mix: Dask has its own workers")
        chosen: int | str = args.processes
    elif not args.dask and total is not None and total >= AUTO_PROCESSES_FROM:
        chosen = "auto"
    else:
        return 1
    from aiowsman._multiproc import resolve_processes

    return resolve_processes(chosen)


async def _results(
    args: argparse.Namespace,
    hosts: Iterable[str],
    operation: Any,
    options: dict[str, Any],
    summary: Summary,
    processes: int = 1,
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


class _Streamed:
    """Runs an operation's ``stream`` on a host, handing each item to ``emit`` as it comes.

    The host's result is then ``{"items": N}``; the items themselves were
    written already, so memory holds a batch or two, never a host's whole
    result. Once an item is out, a failure is reported, not retried: a
    retry would write the items again.
    """

    def __init__(self, operation: Any, emit: Callable[[str, Any], None]) -> None:
        self.operation = operation
        self.emit = emit
        self.idempotent = operation.idempotent
        self.items = 0
        #: Writing failed (a closed pipe, a full disk): the run must stop,
        #: and the host that was writing is not to blame.
        self.output_error: BaseException | None = None

    async def __call__(self, session: Any) -> dict[str, int]:
        from aiowsman.fanout import current_host, no_retry

        host = current_host() or "?"
        count = 0
        try:
            async for item in self.operation.stream(session):
                try:
                    self.emit(host, item)
                except Exception as exc:
                    self.output_error = self.output_error or exc
                    raise
                count += 1
                self.items += 1
        except Exception as exc:
            if count:
                raise no_retry(exc) from None
            raise
        return {"items": count}


def cli_message(message: str | None) -> str:
    """A library message with the library's option names turned into the CLI's."""
    text = message or ""
    for library, cli in CLI_SPELLINGS.items():
        text = text.replace(library, cli)
    return text


def _without_host(message: str) -> str:
    """``[host:port] Op: text`` -> ``Op: text`` (to report one error of many hosts once)."""
    return re.sub(r"^\[[^\]]*\]\s*", "", message)


class _Diagnostics:
    """What stderr says while a run goes: failures as they happen, bounded.

    A setting every host refuses the same way (``config``: Basic over HTTP
    without --insecure-allow-unencrypted...) is said once, not per host.
    """

    SHOWN = 20

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.shown = 0
        self.hidden = 0
        self.config: dict[str, int] = {}

    def failure(self, result: HostResult[Any], bar_active: bool) -> None:
        message = cli_message(result.message)
        if result.error_class == "config":
            key = _without_host(message)
            if key not in self.config:
                print(f"aiowsman: error: {key}", file=sys.stderr)
            self.config[key] = self.config.get(key, 0) + 1
            return
        if self.quiet or bar_active:
            return
        if self.shown < self.SHOWN:
            print(f"aiowsman: {message}", file=sys.stderr)
            self.shown += 1
        else:
            self.hidden += 1

    def close(self) -> None:
        if self.hidden:
            print(f"aiowsman: ... and {self.hidden} more failures", file=sys.stderr)


def _default_format(args: argparse.Namespace) -> str:
    """text for one host named with -r, JSON lines for a fleet or a host file."""
    if args.format:
        return str(args.format)
    if getattr(args, "stream", False):
        return "text"  # a command's lines as they arrive, prefixed by their host
    return "text" if len(args.remote) == 1 and not args.hosts else "jsonl"


async def _execute(args: argparse.Namespace, verb: Verb) -> int:
    assert verb.operation is not None
    operation = verb.operation(args)
    source = _HostSource(args)
    options = _session_options(args)
    fmt = _default_format(args)
    properties = _properties(args)
    total = source.total()
    processes = _process_count(args, total)
    if processes > 1 and not args.quiet:
        print(f"aiowsman: running on {processes} worker processes", file=sys.stderr)
    summary = Summary()
    diagnostics = _Diagnostics(args.quiet)
    one_host = len(args.remote) == 1 and not args.hosts
    streamed: _Streamed | None = None
    # A streaming verb whose hosts' items come back whole (from Dask or worker
    # processes) is still written item by item, as in one process.
    whole_items = bool(getattr(operation, "streams", False))
    items_written = 0
    with ExitStack() as stack:
        out = _open_output(args.output, stack)
        writer = make_writer(fmt, out, properties=properties, show_host=not one_host)
        progress = stack.enter_context(Progress(total, enabled=not args.quiet))
        # Items are streamed to the output by the process that reads them:
        # with Dask or worker processes, each host's items come back whole.
        if getattr(operation, "streams", False) and not args.dask and processes == 1:
            streamed = _Streamed(operation, writer.write_item)
            operation = streamed
            whole_items = False
        try:
            # aclosing: if writing fails (a closed pipe, a full disk), the run
            # is torn down here, in this task -- its sessions and connector
            # closed -- not left to asyncio.run's shutdown of async generators.
            results = _results(args, source, operation, options, summary, processes)
            async with aclosing(results):
                async for result in results:
                    if streamed is not None and streamed.output_error is not None:
                        raise streamed.output_error
                    if not result.ok:
                        result = dataclasses.replace(result, message=cli_message(result.message))
                        diagnostics.failure(result, progress.active)
                    if result.ok and streamed is not None:
                        pass  # its items were the records
                    elif result.ok and whole_items:
                        items = result.value or []
                        for item in items:
                            writer.write_item(result.host, item)
                        items_written += len(items)
                    elif result.ok or fmt not in HUMAN_FORMATS or not one_host:
                        writer.write(result)
                    progress.update(result)
        finally:
            writer.close()
    diagnostics.close()
    hidden = getattr(writer, "hidden", 0)
    if hidden and not args.quiet:
        print(
            f"aiowsman: {hidden} more properties not shown; pick them with --property NAME",
            file=sys.stderr,
        )
    all_config = summary.ok == 0 and set(summary.failed_by_class) == {"config"}
    if not args.quiet and summary.total > 1 and not all_config:
        text = str(summary)
        if streamed is not None or whole_items:
            text += f"\n{streamed.items if streamed is not None else items_written} items"
        print(text, file=sys.stderr)
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
        names = {name for verb in VERBS for name in (verb.name, *verb.aliases)}
        args = parser.parse_args(
            normalise_argv(raw, takes_value=_value_options(parser), verbs=names)
        )
        verb: Verb = args.verb_entry
        if verb.run is not None:
            return verb.run(args)
        _check_numbers(args)
        return asyncio.run(_execute(args, verb))
    except (UsageError, ConfigurationError) as exc:
        # ConfigurationError: the session refused an option (Basic over
        # HTTP without --insecure-allow-unencrypted, an unknown scheme...).
        print(f"aiowsman: error: {cli_message(_one_line(exc))}", file=sys.stderr)
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
