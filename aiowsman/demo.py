"""``aiowsman demo``: a simulated fleet and a real inventory fan-out over it.

The demo starts the built-in WS-Man test server in-process, simulating
``hosts`` Windows machines on 127.0.0.1 -- some slow, a few broken on purpose
(black-holed, refusing connections, rejecting the credentials, answering
with a fault, or refusing the first request with HTTP 503) -- and runs the
same fan-out runner a real inventory would use: Identify, Get
``Win32_OperatingSystem``, Get ``Win32_ComputerSystem`` and an enumeration of
``Win32_Service`` per host. Each host's record goes to a JSONL file (and
optionally CSV) as it finishes. The report -- some records, some failures,
and a summary that explains what broke and how -- goes to stdout
(``aiowsman demo > report.txt``); the banner and progress to stderr.

Everything is real: HTTP over loopback sockets, SOAP envelopes, Basic
authentication, WS-Enumeration Pulls. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from aiowsman.fanout import Summary, run

__all__ = [
    "FAILURE_KINDS",
    "DemoReport",
    "InventoryOp",
    "add_demo_arguments",
    "demo",
    "demo_behaviours",
    "format_sample",
]

#: The broken hosts of the demo fleet, each ``failure_rate`` of the hosts.
FAILURE_KINDS = ("black_hole", "refused", "auth", "fault", "busy")

# The simulated hosts accept this account (the test server's default user).
DEMO_USER = "user"
DEMO_PASSWORD = "pass"  # a throwaway account of a loopback test server


@dataclass(frozen=True)
class InventoryOp:
    """One host's inventory record: identity, OS, hardware, services.

    A module-level, picklable operation (so ``--dask`` can ship it).
    """

    idempotent = True  # reads only: safe to retry

    async def __call__(self, session: Any) -> dict[str, Any]:
        ident = await session.identify()
        os_ = await session.get("wmicimv2/Win32_OperatingSystem")
        cs = await session.get("wmicimv2/Win32_ComputerSystem")
        # A WQL projection: the service only sends the two properties needed,
        # where a plain enumeration would ship every property of every service.
        services = running = 0
        async for service in session.enumerate(
            "wmicimv2/*", filter="SELECT Name, State FROM Win32_Service", dialect="WQL"
        ):
            services += 1
            if service.get("State") == "Running":
                running += 1
        return {
            "name": cs.get("Name"),
            "domain": cs.get("Domain"),
            "os": os_.get("Caption"),
            "version": os_.get("Version"),
            "build": os_.get("BuildNumber"),
            "last_boot": _text(os_.get("LastBootUpTime")),
            "manufacturer": cs.get("Manufacturer"),
            "model": cs.get("Model"),
            "memory_bytes": _int(cs.get("TotalPhysicalMemory")),
            "processors": _int(cs.get("NumberOfLogicalProcessors")),
            "services": services,
            "services_running": running,
            "wsman": ident.product_version,
        }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def demo_behaviours(
    hosts: int, *, failure_rate: float = 0.01, slow_rate: float = 0.1, seed: int = 0
) -> tuple[dict[int, Any], dict[int, str]]:
    """Behaviours of the demo fleet's hosts: which are slow, which are broken how.

    Returns:
        ``(behaviours, kinds)``: ``HostBehaviour`` per host index for the
        test server, and the failure kind (one of :data:`FAILURE_KINDS` or
        ``slow``) of each host that has one.
    """
    from aiowsman.testing import HostBehaviour, Injection, InjectionKind

    rng = random.Random(seed)
    order = list(range(hosts))
    rng.shuffle(order)
    per_kind = max(1, round(hosts * failure_rate)) if hosts >= 20 else 0
    kinds: dict[int, str] = {}
    cursor = 0
    for kind in FAILURE_KINDS:
        for index in order[cursor : cursor + per_kind]:
            kinds[index] = kind
        cursor += per_kind
    for index in order[cursor : cursor + round(hosts * slow_rate)]:
        kinds[index] = "slow"

    def fault_on_computer_system(info: Any) -> Any:
        # A fault on one of the four reads: the host answers, but not fully.
        if info.resource_uri and info.resource_uri.endswith("Win32_ComputerSystem"):
            return Injection(InjectionKind.TIMED_OUT)
        return None

    def busy_first(info: Any) -> Any:
        # The first request is refused (503 + Retry-After); the retry works.
        if info.number == 1:
            return Injection(InjectionKind.HTTP_503, retry_after=1)
        return None

    behaviours: dict[int, Any] = {}
    for index, kind in kinds.items():
        if kind == "black_hole":
            behaviours[index] = HostBehaviour(always=Injection(InjectionKind.BLACK_HOLE))
        elif kind == "auth":
            behaviours[index] = HostBehaviour(always=Injection(InjectionKind.UNAUTHORIZED))
        elif kind == "fault":
            behaviours[index] = HostBehaviour(inject=fault_on_computer_system)
        elif kind == "busy":
            behaviours[index] = HostBehaviour(inject=busy_first)
        elif kind == "slow":
            behaviours[index] = HostBehaviour(latency=(0.1, 0.4))
    return behaviours, kinds


async def demo(
    *,
    hosts: int = 500,
    output: TextIO | None = None,
    csv_output: TextIO | None = None,
    concurrency: int = 64,
    timeout: float = 4.0,  # noqa: ASYNC109 - the sessions' operation timeout
    deadline: float = 8.0,
    latency: float | tuple[float, float] = (0.0, 0.05),
    failure_rate: float = 0.01,
    seed: int = 0,
    progress: Any = None,
    summary: Summary | None = None,
    sample: list[Any] | None = None,
    sample_size: int = 8,
    report: DemoReport | None = None,
) -> Summary:
    """Run the demo: start the fleet, inventory it, write records.

    Args:
        hosts: simulated hosts.
        output: where JSONL records go (one per host, as they finish).
        csv_output: where CSV records go, if anywhere.
        concurrency: hosts in flight.
        timeout: per-operation timeout of each session, seconds.
        deadline: per-host deadline, seconds (black holes cost this).
        latency: base latency of every simulated host.
        failure_rate: fraction of hosts broken in each way.
        seed: the fleet's random seed (same seed, same fleet).
        progress: object with ``update(result)`` (the CLI's progress bar).
        summary: a Summary to fill (default a new one).
        sample: a list to receive up to ``sample_size`` ok results and up to
            ``sample_size`` failures, in the order they finished (for display).
        sample_size: bound of each half of ``sample``.
        report: a :class:`DemoReport` to fill (the summary's explanations).

    Returns:
        The run's :class:`Summary`.
    """
    from aiowsman.cli._output import make_writer
    from aiowsman.testing import HostBehaviour, WSManTestServer

    behaviours, kinds = demo_behaviours(hosts, failure_rate=failure_rate, seed=seed)
    for index in range(hosts):
        behaviours.setdefault(index, HostBehaviour(latency=latency))
    writers = [make_writer("jsonl", output)] if output is not None else []
    if csv_output is not None:
        writers.append(make_writer("csv", csv_output))
    summary = summary if summary is not None else Summary()
    with contextlib.ExitStack() as reserved:
        async with WSManTestServer(hosts=hosts, behaviours=behaviours, seed=seed) as server:
            endpoints = list(server.endpoints)
            for index, kind in kinds.items():
                if kind == "refused":
                    endpoints[index] = _refusing_endpoint(reserved)
            await _inventory(
                endpoints,
                writers,
                progress,
                summary,
                concurrency,
                deadline,
                timeout,
                sample if sample is not None else [],
                sample_size,
                report if report is not None else DemoReport(),
            )
    for writer in writers:
        writer.close()
    return summary


def _refusing_endpoint(stack: contextlib.ExitStack) -> str:
    """A loopback port that is bound, so no one else can take it, but never listens:
    every connection attempt is refused (RST), like a machine whose WinRM is off."""
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.bind(("127.0.0.1", 0))
    return f"http://127.0.0.1:{sock.getsockname()[1]}/wsman"


async def _inventory(
    endpoints: list[str],
    writers: list[Any],
    progress: Any,
    summary: Summary,
    concurrency: int,
    deadline: float,
    timeout: float,  # noqa: ASYNC109 - the sessions' operation timeout
    sample: list[Any],
    sample_size: int,
    report: DemoReport,
) -> None:
    """Fan the inventory out over ``endpoints``, feeding writers, progress, sample, report."""
    kept = {True: 0, False: 0}
    loop = asyncio.get_running_loop()
    report.deadline = deadline
    started = loop.time()
    fan = run(
        endpoints,
        InventoryOp(),
        concurrency=concurrency,
        deadline=deadline,
        idempotent=True,
        retries=2,
        backoff=0.2,
        summary=summary,
        gc_threshold=10_000,  # the demo owns its process (see the CLI)
        username=DEMO_USER,
        password=DEMO_PASSWORD,
        auth="basic",
        allow_unencrypted=True,  # loopback only: the simulated fleet speaks HTTP
        timeout=timeout,
    )
    async with fan:
        async for result in fan:
            for writer in writers:
                writer.write(result)
            if progress is not None:
                progress.update(result)
            report.add(result, loop.time() - started)
            if kept[result.ok] < sample_size:
                kept[result.ok] += 1
                sample.append(result)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``aiowsman demo`` options."""
    parser.add_argument("--hosts", type=int, default=500, help="simulated hosts (500)")
    parser.add_argument(
        "-o", "--output", default="inventory.jsonl",
        help="JSONL inventory file (inventory.jsonl; '-' = stdout, the report then on stderr)",
    )  # fmt: skip
    parser.add_argument("--csv", metavar="FILE", help="also write the inventory as CSV")
    parser.add_argument("--concurrency", type=int, default=64, help="hosts in flight (64)")
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds per operation (4)")
    parser.add_argument("--deadline", type=float, default=8.0, help="seconds per host (8)")
    parser.add_argument(
        "--failure-rate", type=float, default=0.01, help="fraction of hosts broken each way (0.01)"
    )
    parser.add_argument("--seed", type=int, default=0, help="fleet seed (0)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no banner, progress or report")


#: What each failure class means in the demo fleet, and which breakage causes it.
CLASS_MEANINGS = {
    "timeout": "no answer at all: black-holed (accepts the connection, never answers), "
    "given up at the {deadline:g}s host deadline",
    "connect": "connection refused: nothing listens (WinRM off)",
    "auth": "the host rejected the credentials (HTTP 401)",
    "fault": "the host answered, with a SOAP fault: here w:TimedOut, the *server* giving "
    "up on one Get within its OperationTimeout (a client 'timeout' is no answer at all)",
}


@dataclass
class DemoReport:
    """What the demo's summary explains, gathered as results arrive (constant memory)."""

    answered: int = 0  #: hosts that got their record
    last_answer: float = 0.0  #: seconds from the start to the last host that answered
    recovered: int = 0  #: hosts refused at first (busy) that answered on a retry
    deadline: float = 0.0

    def add(self, result: Any, at: float) -> None:
        if result.ok:
            self.answered += 1
            self.last_answer = max(self.last_answer, at)
            if result.attempts > 1:
                self.recovered += 1

    def lines(self, summary: Summary) -> list[str]:
        """The summary, explained."""
        out = [f"{summary.total} simulated hosts, inventoried in {summary.wall_time:.1f}s:"]
        if self.answered:
            rate = self.answered / self.last_answer if self.last_answer > 0 else 0.0
            out.append(
                f"  {self.answered} answered within {self.last_answer:.1f}s ({rate:.0f} hosts/s; "
                "the black-holed hosts' deadline is not counted)"
            )
        if self.recovered:
            out.append(
                f"  {self.recovered} of them were busy at first (HTTP 503 with Retry-After) "
                "and answered on a retry"
            )
        if summary.failed:
            out.append(f"  {summary.failed} failed, each with its record saying why:")
            for klass, count in summary.failed_by_class.most_common():
                meaning = CLASS_MEANINGS.get(klass, klass).format(deadline=self.deadline)
                out.append(f"    {klass:<8} {count:>3}  {meaning}")
        return out


def run_demo_cli(args: argparse.Namespace) -> int:
    """``aiowsman demo``: returns 0 when every host got its record."""
    from aiowsman.cli._progress import Progress
    from aiowsman.cli._values import UsageError

    if args.hosts < 1:
        raise UsageError("--hosts must be at least 1")
    if args.concurrency < 1 or args.deadline <= 0 or args.timeout <= 0:
        raise UsageError("--concurrency, --timeout and --deadline must be positive")
    if not 0 <= args.failure_rate < 0.2:
        raise UsageError("--failure-rate must be in [0, 0.2)")
    out_path: str = args.output
    try:
        out = sys.stdout if out_path == "-" else open(out_path, "w", encoding="utf-8")  # noqa: SIM115
        csv_out = open(args.csv, "w", encoding="utf-8", newline="") if args.csv else None  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write the inventory: {exc}") from None
    # The report is the demo's result: stdout, unless the records are there.
    report_to = sys.stderr if out is sys.stdout else sys.stdout
    report = DemoReport()
    try:
        if not args.quiet:
            print(
                f"aiowsman demo: simulating {args.hosts} hosts on 127.0.0.1: about 10% slow; "
                f"~{args.failure_rate:.0%} each black-holed, refusing connections, rejecting "
                "the credentials, or faulting; and busy (HTTP 503 once, then fine)",
                file=sys.stderr,
            )
        sample: list[Any] = []
        with Progress(args.hosts, enabled=not args.quiet) as progress:
            summary = asyncio.run(
                demo(
                    hosts=args.hosts,
                    output=out,
                    csv_output=csv_out,
                    concurrency=args.concurrency,
                    deadline=args.deadline,
                    timeout=args.timeout,
                    failure_rate=args.failure_rate,
                    seed=args.seed,
                    progress=progress,
                    sample=sample,
                    report=report,
                )
            )
    finally:
        if out is not sys.stdout:
            out.close()
        if csv_out is not None:
            csv_out.close()
    if not args.quiet:
        where = "stdout" if out_path == "-" else out_path
        extra = f" and {args.csv}" if args.csv else ""
        text = [
            format_sample(sample),
            "",
            *report.lines(summary),
            "",
            f"inventory: {summary.total} records, one per host, in {where}{extra}",
        ]
        print("\n".join(text), file=report_to)
    return 0 if summary.total == args.hosts else 1


def format_sample(sample: list[Any]) -> str:
    """A readable table of some inventory records and some failures."""
    rows = [("host", "name", "os", "build", "memory", "services (running)")]
    failures = []
    for result in sample:
        if result.ok:
            v = result.value
            memory = v.get("memory_bytes")
            rows.append(
                (
                    result.host,
                    str(v.get("name")),
                    str(v.get("os")),
                    str(v.get("build")),
                    f"{memory / 2**30:.1f} GiB" if memory else "?",
                    f"{v.get('services')} ({v.get('services_running')})",
                )
            )
        else:
            failures.append(f"  {result.error_class:<8} {result.message}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["some inventory records:"]
    lines += [("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths))).rstrip() for row in rows]
    if failures:
        lines.append("some failures (every host still gets its record):")
        lines += failures
    return "\n".join(lines)


def expected_classes(kinds: Mapping[int, str]) -> dict[int, str | None]:
    """The error class each demo host must end with (None: ok). For tests and docs."""
    mapping = {
        "black_hole": "timeout",
        "refused": "connect",
        "auth": "auth",
        "fault": "fault",
        "busy": None,
        "slow": None,
    }
    return {index: mapping[kind] for index, kind in kinds.items()}
