"""Chaos fan-out: thousands of simulated hosts, every failure mode at once.

A fleet of simulated WinRM hosts (:mod:`aiowsman.testing`) is split into ten
groups of equal size -- healthy hosts and nine failure groups -- and each
failure group rotates through its injection kinds (a black hole and a slow
drip both end in a timeout, say). :func:`aiowsman.fanout.run` then sends a
``Get`` to every host. The run must yield exactly one record per host, each
with the error class its fault calls for, end within its deadline bound, and
leave no file descriptor or task behind.

Run it::

    python -m benchmarks.chaos --hosts 5000

Results go to ``benchmarks/results/chaos.json`` and ``chaos.md``. The test
suite runs the same scenario at 2000 hosts (``tests/test_chaos_fanout.py``).

The client and every simulated host share one process and one event loop, so
the run is CPU-bound and a request's latency grows with the concurrency. The
defaults (100 hosts in flight, a 6 s session timeout) leave a healthy host
several times its worst latency even with another process competing for the
CPU; otherwise a slow-but-healthy host would be cut by the deadline and
recorded as a timeout instead of its own class. The operation is not flagged
idempotent: the runner's retry policy has its own tests, and here only
refusals (quota, 503) are retried.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from aiowsman import (
    AsyncSession,
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    ResponseTooLargeError,
    ServiceUnavailableError,
    TimeoutError,
    TLSError,
    UnsafeXMLError,
)
from aiowsman.fanout import HostResult, run
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer

__all__ = ["GROUPS", "ChaosReport", "Mode", "main", "run_chaos"]

K = InjectionKind
USER, PASSWORD = "chaos", "Chaos-Pa55-never-logged"
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Mode:
    """One way a host behaves, and the record the runner must produce for it.

    Attributes:
        name: the mode's name (an injection kind, ``down``, ``tls`` or ``ok``).
        behaviour: the host's behaviour (None: healthy, or set up specially).
        error: the exception type the record must carry (None: success).
        error_class: the record's ``error_class``.
    """

    name: str
    behaviour: Callable[[], HostBehaviour | None]
    error: type[BaseException] | None
    error_class: str | None


def _always(kind: InjectionKind, **kwargs: Any) -> Callable[[], HostBehaviour]:
    return lambda: HostBehaviour(always=Injection(kind, **kwargs))


#: Ten groups of equal share: healthy hosts and nine failure groups.
GROUPS: dict[str, list[Mode]] = {
    "ok": [
        Mode("ok", lambda: None, None, None),
        # Slow, but well within OperationTimeout: still a success.
        Mode("latency", _always(K.LATENCY, delay=0.2), None, None),
    ],
    "timeout": [
        Mode("black_hole", _always(K.BLACK_HOLE), TimeoutError, "timeout"),
        Mode("slow_drip", _always(K.SLOW_DRIP, delay=0.05), TimeoutError, "timeout"),
    ],
    "connect": [
        Mode("down", lambda: HostBehaviour(down=True), ConnectError, "connect"),
        Mode("reset_before_response", _always(K.RESET_BEFORE_RESPONSE), ConnectError, "connect"),
        Mode("reset_mid_response", _always(K.RESET_MID_RESPONSE), ConnectError, "connect"),
        Mode("truncated_body", _always(K.TRUNCATED_BODY), ConnectError, "connect"),
    ],
    "tls": [Mode("untrusted_certificate", lambda: None, TLSError, "tls")],
    "auth": [Mode("unauthorized", _always(K.UNAUTHORIZED), AuthenticationError, "auth")],
    "quota": [Mode("quota", _always(K.QUOTA), QuotaExceededFault, "fault")],
    # (A host slower than OperationTimeout answers this same fault; whether
    # it arrives before the client's own deadline depends on the margin and
    # on load, so the scenario injects the fault itself.)
    "server_timeout": [Mode("timed_out", _always(K.TIMED_OUT), OperationTimedOutFault, "fault")],
    "http_status": [
        Mode("http_500", _always(K.HTTP_500), HTTPStatusError, "protocol"),
        Mode("http_503", _always(K.HTTP_503, retry_after=1), ServiceUnavailableError, "protocol"),
    ],
    "malformed": [
        Mode("garbage", _always(K.GARBAGE), ProtocolError, "protocol"),
        Mode("invalid_utf8", _always(K.INVALID_UTF8), ProtocolError, "protocol"),
        Mode("wrong_relates_to", _always(K.WRONG_RELATES_TO), ProtocolError, "protocol"),
    ],
    "hostile": [
        Mode("xxe", _always(K.XXE), UnsafeXMLError, "protocol"),
        Mode("billion_laughs", _always(K.BILLION_LAUGHS), UnsafeXMLError, "protocol"),
        Mode("doctype", _always(K.DOCTYPE), UnsafeXMLError, "protocol"),
        Mode("oversized", _always(K.OVERSIZED, size=2_000_000), ResponseTooLargeError, "protocol"),
    ],
}
_GROUP_NAMES = list(GROUPS)


def plan(hosts: int) -> list[tuple[str, Mode]]:
    """``(group, mode)`` of each host index: groups round-robin, modes rotating within."""
    out = []
    for i in range(hosts):
        group = _GROUP_NAMES[i % len(_GROUP_NAMES)]
        modes = GROUPS[group]
        out.append((group, modes[(i // len(_GROUP_NAMES)) % len(modes)]))
    return out


def open_fds() -> int:
    """How many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd")) - 1  # minus listdir's own


async def _settled(fds: int, tasks: int, within: float = 10.0) -> tuple[int, int]:
    # Sockets and tasks wind down over a few loop iterations: wait (bounded).
    loop = asyncio.get_running_loop()
    until = loop.time() + within
    while True:
        gc.collect()
        now_fds, now_tasks = open_fds(), len(asyncio.all_tasks())
        if (now_fds <= fds and now_tasks <= tasks) or loop.time() >= until:
            return now_fds, now_tasks
        await asyncio.sleep(0.05)


async def _get(session: AsyncSession) -> str:
    # A singleton: cheap for the simulated host, so the run measures the
    # client's failure handling rather than the server's data generation.
    item = await session.get("wmicimv2/Win32_OperatingSystem")
    return str(item["Caption"])


@dataclass
class ChaosReport:
    """What a chaos run produced (see :meth:`to_dict`)."""

    hosts: int
    concurrency: int
    deadline: float
    session_timeout: float
    deadline_bound: float
    elapsed: float
    records: int
    duplicates: int
    missing: int
    hosts_by_group: dict[str, int]
    hosts_by_mode: dict[str, int]
    failures_by_class: dict[str, int]
    records_by_error_type: dict[str, int]
    mismatches: list[str]
    attempts: int
    fds_before: int
    fds_after: int
    tasks_before: int
    tasks_after: int
    results: list[HostResult[Any]]

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "results"}
        data["elapsed"] = round(self.elapsed, 3)
        data["mismatches"] = self.mismatches[:20]
        data["mismatch_count"] = len(self.mismatches)
        return data

    def to_markdown(self) -> str:
        d = self.to_dict()
        lines = [
            "# Chaos fan-out",
            "",
            f"{self.hosts} simulated hosts, concurrency {self.concurrency}, host deadline "
            f"{self.deadline:g}s, session timeout {self.session_timeout:g}s.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| records received | {self.records} (duplicates {self.duplicates}, "
            f"missing {self.missing}) |",
            f"| records with the wrong error class | {len(self.mismatches)} |",
            f"| elapsed vs deadline bound | {self.elapsed:.2f}s / {self.deadline_bound:.1f}s |",
            f"| attempts (all hosts) | {self.attempts} |",
            f"| fds before / after | {self.fds_before} / {self.fds_after} |",
            f"| tasks before / after | {self.tasks_before} / {self.tasks_after} |",
            "",
            "| error class | records |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in sorted(d["failures_by_class"].items())),
            "",
            "| mode | hosts | expected error |",
            "|---|---|---|",
        ]
        expected = {m.name: m.error for modes in GROUPS.values() for m in modes}
        for mode, count in sorted(self.hosts_by_mode.items()):
            err = expected[mode]
            lines.append(f"| {mode} | {count} | {err.__name__ if err else 'none (ok)'} |")
        return "\n".join(lines) + "\n"


async def run_chaos(
    hosts: int = 2000,
    *,
    concurrency: int = 100,
    deadline: float = 8.0,
    session_timeout: float = 6.0,
    close_grace: float = 1.0,
    retries: int = 1,
    idempotent: bool = False,
) -> ChaosReport:
    """Run the chaos scenario over ``hosts`` simulated hosts.

    Args:
        hosts: fleet size (at least 10: one host per group).
        concurrency: hosts in flight at once.
        deadline: the runner's per-host deadline (seconds).
        session_timeout: each session's operation deadline (seconds).
        close_grace: the runner's close grace (seconds).
        retries: the runner's retries.
        idempotent: flag the operation idempotent (connect failures and
            timeouts are then retried too; quota and 503 refusals always are).

    Returns:
        A :class:`ChaosReport`.
    """
    gc.collect()
    fds_before, tasks_before = open_fds(), len(asyncio.all_tasks())
    layout = plan(hosts)
    tls_indices = [i for i, (group, _) in enumerate(layout) if group == "tls"]
    plain_indices = [i for i, (group, _) in enumerate(layout) if group != "tls"]
    behaviours: dict[int, HostBehaviour] = {}
    for n, i in enumerate(plain_indices):
        behaviour = layout[i][1].behaviour()
        if behaviour is not None:
            behaviours[n] = behaviour
    ca = trustme.CA()  # nobody trusts it: the client must refuse these hosts
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    results: list[HostResult[Any]] = []
    waves = math.ceil(hosts / concurrency)
    bound = waves * (deadline + close_grace) + 10.0
    users = {USER: PASSWORD}
    async with (
        WSManTestServer(hosts=len(plain_indices), behaviours=behaviours, users=users) as plain,
        WSManTestServer(hosts=max(len(tls_indices), 1), tls=server_tls, users=users) as tls,
    ):
        endpoint: dict[int, str] = {}
        for n, i in enumerate(plain_indices):
            endpoint[i] = plain.endpoints[n]
        for n, i in enumerate(tls_indices):
            endpoint[i] = tls.endpoints[n]
        index_of = {url: i for i, url in endpoint.items()}
        started = time.monotonic()
        fan = run(
            [endpoint[i] for i in range(hosts)],
            _get,
            concurrency=concurrency,
            deadline=deadline,
            close_grace=close_grace,
            retries=retries,
            idempotent=idempotent,
            backoff=0.05,
            backoff_max=0.2,
            timeout=session_timeout,
            auth="basic",
            username=USER,
            password=PASSWORD,
            # Basic over plain HTTP to the loopback fleet is a deliberate opt-in.
            allow_unencrypted=True,
        )
        async with asyncio.timeout(bound * 2):  # a hung run fails, never hangs
            async with fan:
                async for result in fan:
                    results.append(result)
        elapsed = time.monotonic() - started
    fds_after, tasks_after = await _settled(fds_before, tasks_before)

    seen = Counter(r.host for r in results)
    mismatches = []
    by_type: Counter[str] = Counter()
    for r in results:
        mode = layout[index_of[r.host]][1]
        by_type[type(r.error).__name__ if r.error else "ok"] += 1
        good = (
            r.ok
            if mode.error is None
            else isinstance(r.error, mode.error) and r.error_class == mode.error_class
        )
        if not good:
            mismatches.append(f"{mode.name}: {r.host} -> {r.error_class}: {r.message}")
    return ChaosReport(
        hosts=hosts,
        concurrency=concurrency,
        deadline=deadline,
        session_timeout=session_timeout,
        deadline_bound=bound,
        elapsed=elapsed,
        records=len(results),
        duplicates=sum(c - 1 for c in seen.values() if c > 1),
        missing=hosts - len(seen),
        hosts_by_group=dict(Counter(g for g, _ in layout)),
        hosts_by_mode=dict(Counter(m.name for _, m in layout)),
        failures_by_class=dict(fan.summary.failed_by_class),
        records_by_error_type=dict(by_type),
        mismatches=mismatches,
        attempts=fan.summary.attempts,
        fds_before=fds_before,
        fds_after=fds_after,
        tasks_before=tasks_before,
        tasks_after=tasks_after,
        results=results,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: run the scenario and write ``chaos.json`` / ``chaos.md``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--deadline", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=6.0, help="session timeout (s)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = asyncio.run(
        run_chaos(
            args.hosts,
            concurrency=args.concurrency,
            deadline=args.deadline,
            session_timeout=args.timeout,
        )
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaos.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (args.out / "chaos.md").write_text(report.to_markdown())
    print(report.to_markdown())
    ok = (
        not report.mismatches
        and report.records == report.hosts
        and report.elapsed < report.deadline_bound
        and report.fds_after <= report.fds_before
        and report.tasks_after <= report.tasks_before
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
