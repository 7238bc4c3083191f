"""Profile aiowsman's hot paths, and compare its client CPU with the raw floor.

``python -m benchmarks.profile compare`` runs the aiowsman and raw contenders
*in one process*, alternating, against one WS-Man server (its own process: the
native responder unless ``--server python``), and
prints client CPU per unit (``time.process_time``, so the server's CPU is not
counted) and wall-clock rate. It is the quick loop for performance work; the
full side-by-side suite (``python -m benchmarks run``) remains the reference.

``python -m benchmarks.profile profile`` runs one contender on one scenario
under cProfile (``.txt``: the top functions by cumulative and by own time) or
pyinstrument (``.txt`` and ``.html``) and writes the profile to
``benchmarks/results/profiles/``.

Scenarios: ``get``, ``identify`` (single host, sequential), ``fanout``
(Identify + Get per host, 50 ms latency), ``enumerate`` (Win32_Service, or the
bulk class when the server has ``--bulk-class``), ``cycle`` and ``reused``
(remote commands on one host: a shell per ``hostname``, or one shell for all,
always against the Python test server, the only one with shells).

``python -m benchmarks.profile versus`` measures with the suite's own
harness (one worker process per measurement, CPU from ``getrusage``, RSS
sampled from outside), contenders alternating; ``aiowsman@before`` runs the
aiowsman package of another source tree (``--before DIR``), so an older
revision is measured in the same run as the current one.

Examples::

    python -m benchmarks.profile compare --scenario get --count 3000 --reps 5
    python -m benchmarks.profile compare --scenario fanout --hosts 1000 --concurrency 500
    python -m benchmarks.profile compare --scenario get --uvloop
    python -m benchmarks.profile profile --scenario get --profiler pyinstrument
    python -m benchmarks.profile profile --scenario fanout --hosts 1000 --profiler cprofile
    python -m benchmarks.profile profile --scenario fanout --contender raw --name raw-fanout
    python -m benchmarks.profile compare --scenario fanout --hosts 2000 --concurrency 200 \
        --contenders aiowsman-sessions,aiowsman,raw      # the per-host AsyncSession pattern
    python -m benchmarks.profile diff results/profiles/aiowsman-fanout-cprofile.pstats \
        results/profiles/raw-fanout.pstats --units 1000    # where aiowsman spends more
    python -m benchmarks.profile breakdown A.pstats B.pstats --units 1000   # ... by area
    python -m benchmarks.profile instructions --scenario fanout --hosts 1100 \
        --concurrency 500 --contenders aiowsman-sessions,aiowsman,raw   # needs valgrind
    python -m benchmarks.profile instructions --scenario fanout --hosts 1100 \
        --concurrency 500 --cache-sim       # and cache misses, mispredicted branches
    python -m benchmarks.profile held --hosts 300   # bytes an open session keeps
    python -m benchmarks.profile held --commands --hosts 100   # ... a command in flight
    python -m benchmarks.profile collector --scenario fanout --hosts 5000 \
        --concurrency 2000 --contenders aiowsman-sessions,raw   # the collector's share

``instructions`` counts the instructions the client executes per unit with
valgrind (``cachegrind --cache-sim=no``): each contender's workload runs once
with ``--hosts`` (or ``--count``/``--items``) units and once with a tenth of
them, each in a fresh process, and the difference is divided by the
difference in units, so start-up cancels out. Unlike CPU time it does not
move with the machine's load (repeat runs agree within about 1 %), which
makes it the measure for small changes on a busy machine; it does not see
system-call time, so the suite's CPU figures stay the reference. With
``--cache-sim`` it also runs cachegrind's cache and branch-predictor models
(``--cache-sim=yes --branch-sim=yes``, several times slower) and prints
first-level instruction and data cache misses and mispredicted branches
per unit: why the same instructions can cost more
time in one contender than in another (a model of a CPU, not this one's
counters, which this VM does not expose).

    mkdir /tmp/before && git archive REV | tar -x -C /tmp/before
    cp -r benchmarks /tmp/before/      # the same harness for both
    python -m benchmarks.profile versus --scenario fanout --hosts 1000 \
        --concurrency 500 --reps 5 --contenders aiowsman,aiowsman@before,raw \
        --before /tmp/before

cProfile here counts CPU time (``time.process_time``), not wall time: a
loopback client mostly waits, and wall-time profiles show the waiting.

Tuning notes (measured with this module; see benchmarks/results/profiles/):

* ``aiowsman.fanout.run(..., gc_threshold=10_000)``: with CPython's default
  first threshold (700) the cyclic garbage collector took 10-20% of a
  fan-out's CPU (thousands of in-flight objects walked again by every
  older-generation collection). Opt-in because it is process-wide.
* uvloop (``uvloop.install()`` before ``asyncio.run``, or
  ``asyncio.Runner(loop_factory=uvloop.new_event_loop)``): works with
  aiowsman unchanged; on this loopback benchmark it changed client CPU by
  less than the run-to-run noise (the time is in socket syscalls and in
  Python code above the loop), so it is not a default.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import Target, raise_fd_limit, settle_allocator
from benchmarks._config import CONTENDERS
from benchmarks._server import FANOUT_GET_URI, SERVERS, TestServer, server_options

__all__ = ["main"]

PROFILES = Path(__file__).resolve().parent / "results" / "profiles"


#: Remote-command scenarios (WinRS on one host): only the Python test server
#: has shells, so these always run against it.
COMMAND_SCENARIOS = ("cycle", "reused")


def _server(args: argparse.Namespace) -> TestServer:
    if args.scenario in COMMAND_SCENARIOS:
        return TestServer(kind="python", hosts=1, latency=0.0)
    if args.scenario == "fanout":
        return TestServer(kind=args.server, hosts=args.hosts, latency=args.latency)
    items = 0
    if args.scenario == "enumerate" and (
        args.server == "native" or "--bulk-class" in server_options("aiowsman.testing")
    ):
        items = args.items
    return TestServer(kind=args.server, hosts=1, latency=0.0, enum_items=items)


def _target(server: TestServer, args: argparse.Namespace) -> Target:
    if args.scenario == "fanout":
        return server.target(get_uri=FANOUT_GET_URI, get_selectors={})
    return server.target()


def _workload(contender: str, args: argparse.Namespace, target: Target) -> Any:
    module = importlib.import_module(f"benchmarks.contenders.{CONTENDERS[contender]}")
    scenario, params = _worker_params(args, target)
    return module.create(scenario, target, {**params, "contender": contender})


def _units(result: dict[str, Any], scenario: str) -> int:
    if scenario == "fanout":
        return int(result["hosts"])
    if scenario == "enumerate":
        return int(result["items"])
    if scenario in COMMAND_SCENARIOS:
        return int(result["commands"])
    return int(result["ops"])


def _measure(
    contender: str,
    args: argparse.Namespace,
    target: Target,
    timed: Callable[[bool], None] | None = None,
) -> tuple[float, float, int]:
    """One measurement: (client CPU microseconds per unit, units per wall second, units).

    ``timed(True)`` and ``timed(False)``, when given, are called as the timed
    part (the workload's run, not its set-up or close) starts and ends.
    """
    workload = _workload(contender, args, target)
    workload.setup()
    try:
        gc.collect()
        if timed is not None:
            timed(True)
        c0, t0 = time.process_time(), time.perf_counter()
        result = workload.run()
        c1, t1 = time.process_time(), time.perf_counter()
        if timed is not None:
            timed(False)
    finally:
        workload.close()
    if result.get("errors"):
        raise RuntimeError(f"{contender}: {result.get('error_sample')}")
    units = _units(result, args.scenario)
    return (c1 - c0) / units * 1e6, units / (t1 - t0), units


def compare(args: argparse.Namespace) -> None:
    if args.uvloop:
        import asyncio

        import uvloop

        # The contenders make their loops with asyncio.new_event_loop(),
        # which follows the policy: both run on uvloop.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    contenders = args.contenders.split(",")
    cpu: dict[str, list[float]] = {c: [] for c in contenders}
    rate: dict[str, list[float]] = {c: [] for c in contenders}
    with _server(args) as server:
        target = _target(server, args)
        for rep in range(args.reps):
            k = rep % len(contenders)
            for contender in contenders[k:] + contenders[:k]:
                us, per_s, _ = _measure(contender, args, target)
                cpu[contender].append(us)
                rate[contender].append(per_s)
                print(f"  rep{rep} {contender:9s} {us:8.1f} us/unit  {per_s:9.1f} /s", flush=True)
    print(f"{args.scenario}: median client CPU us/unit (min..max), median rate /s")
    for c in contenders:
        print(
            f"  {c:9s} {statistics.median(cpu[c]):8.1f} "
            f"({min(cpu[c]):.1f}..{max(cpu[c]):.1f})  {statistics.median(rate[c]):9.1f} /s"
        )
    for c in contenders:
        if c != "raw" and "raw" in cpu:
            ratio = statistics.median(cpu["raw"]) / statistics.median(cpu[c])
            print(f"  CPU raw/{c} = {ratio:.3f} (goal >= 0.90)")


def _worker_params(args: argparse.Namespace, target: Target) -> tuple[str, dict[str, Any]]:
    if args.scenario in ("get", "identify"):
        return "single", {"op": args.scenario, "count": args.count}
    if args.scenario == "fanout":
        return "fanout", {"hosts": args.hosts, "concurrency": args.concurrency}
    if args.scenario in COMMAND_SCENARIOS:
        return "commands", {"mode": args.scenario, "count": args.count}
    repeat = 1 if target.enum_items >= args.items else max(1, args.items // target.enum_items)
    return "enumerate", {"batch": args.batch, "repeat": repeat}


def versus(args: argparse.Namespace) -> None:
    """Side by side in separate worker processes (the suite's own harness), alternating.

    ``aiowsman@before`` runs the aiowsman package found in ``--before`` (a
    source tree, e.g. ``git archive REV | tar -x -C DIR``), so an older
    revision is measured in the same run as the current one.
    """
    import json

    from benchmarks import _runner

    contenders = args.contenders.split(",")
    root = _runner.ROOT
    rows: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    with _server(args) as server:
        target = _target(server, args)
        scenario, params = _worker_params(args, target)
        for rep in range(args.reps):
            k = rep % len(contenders)
            for contender in contenders[k:] + contenders[:k]:
                name, _, rev = contender.partition("@")
                _runner.ROOT = Path(args.before) if rev else root
                try:
                    result = _runner.run_worker(
                        CONTENDERS[name],
                        scenario,
                        {**params, "contender": name},
                        target.to_json(),
                        server_pid=server.pid,
                        timeout=900.0,
                    )
                finally:
                    _runner.ROOT = root
                if result.get("errors"):
                    raise RuntimeError(f"{contender}: {result.get('error_sample')}")
                units = _units(result, args.scenario)
                cpu = result["cpu_user"] + result["cpu_sys"]
                row = {
                    "cpu_us": cpu / units * 1e6,
                    "rate": units / result["wall"],
                    "rss_peak_mib": result["rss_peak"] / 2**20,
                    "rss_growth_kib": (result["rss_peak"] - result["rss_before"]) / 1024,
                    "server_cpu_us": result["server_cpu"] / units * 1e6,
                    "other_cpu": result["other_cpu"],
                }
                rows[contender].append(row)
                print(
                    f"  rep{rep} {contender:16s} {row['cpu_us']:8.1f} us/unit "
                    f"{row['rate']:9.1f}/s  RSS +{row['rss_growth_kib']:8.0f} KiB",
                    flush=True,
                )
    label = f"{args.scenario} " + json.dumps(params)
    print(f"{label}: medians (client CPU us/unit, rate/s, RSS growth KiB)")
    med: dict[str, dict[str, float]] = {}
    for c, rs in rows.items():
        med[c] = {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        print(
            f"  {c:16s} {med[c]['cpu_us']:8.1f} "
            f"({min(r['cpu_us'] for r in rs):.1f}..{max(r['cpu_us'] for r in rs):.1f}) "
            f"{med[c]['rate']:9.1f}/s  +{med[c]['rss_growth_kib']:.0f} KiB"
        )
    if "raw" in med:
        for c in med:
            if c != "raw":
                print(f"  CPU raw/{c} = {med['raw']['cpu_us'] / med[c]['cpu_us']:.3f}")
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / (args.name or f"versus-{args.scenario}.json")
    out.write_text(json.dumps({"case": label, "rows": rows, "medians": med}, indent=1) + "\n")
    print(f"wrote {out}")


def profile(args: argparse.Namespace) -> None:
    PROFILES.mkdir(parents=True, exist_ok=True)
    stem = PROFILES / (args.name or f"{args.contender}-{args.scenario}-{args.profiler}")
    with _server(args) as server:
        target = _target(server, args)
        workload = _workload(args.contender, args, target)
        workload.setup()
        try:
            gc.collect()
            if args.profiler == "cprofile":
                # CPU time, not wall time: a loopback run waits a lot.
                prof = cProfile.Profile(time.process_time)
                prof.enable()
                workload.run()
                prof.disable()
                out = io.StringIO()
                stats = pstats.Stats(prof, stream=out)
                stats.sort_stats("cumulative").print_stats(60)
                stats.sort_stats("tottime").print_stats(60)
                stem.with_suffix(".txt").write_text(out.getvalue())
                stats.dump_stats(str(stem.with_suffix(".pstats")))
            else:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0002)
                profiler.start()
                workload.run()
                profiler.stop()
                stem.with_suffix(".txt").write_text(
                    profiler.output_text(unicode=False, color=False, show_all=False)
                )
                stem.with_suffix(".html").write_text(profiler.output_html())
        finally:
            workload.close()
    print(f"wrote {stem}.*")


def diff(args: argparse.Namespace) -> None:
    """Per-function own CPU time and calls of two cProfile dumps (A minus B), largest first."""

    def load(path: str) -> dict[tuple[str, int, str], tuple[int, float]]:
        rows: dict[tuple[str, int, str], tuple[int, float]] = {}
        raw_stats: Any = pstats.Stats(path).stats  # type: ignore[attr-defined]
        for (file, line, func), (_cc, calls, own, _cum, _callers) in raw_stats.items():
            short = file.split("site-packages/")[-1].split(str(Path.cwd()) + "/")[-1]
            rows[(short, line, func)] = (calls, own)
        return rows

    a, b = load(args.a), load(args.b)
    units = args.units
    print(
        f"A {args.a}: {sum(c for c, _ in a.values()) / units:.1f} calls/unit, "
        f"{sum(t for _, t in a.values()):.3f} s"
    )
    print(
        f"B {args.b}: {sum(c for c, _ in b.values()) / units:.1f} calls/unit, "
        f"{sum(t for _, t in b.values()):.3f} s"
    )
    keys = set(a) | set(b)
    order = sorted(keys, key=lambda k: a.get(k, (0, 0.0))[1] - b.get(k, (0, 0.0))[1], reverse=True)
    for key in order[: args.top]:
        (ca, ta), (cb, tb) = a.get(key, (0, 0.0)), b.get(key, (0, 0.0))
        print(
            f"{(ta - tb) * 1e3:8.1f} ms  {ta * 1e3:7.1f} {tb * 1e3:7.1f}  "
            f"calls/unit {ca / units:6.2f} {cb / units:6.2f}  {key[0]}:{key[1]}({key[2]})"
        )


#: ``breakdown``: where a client's extra CPU goes, by area. Each function of a
#: cProfile dump falls in the first area whose pattern matches
#: ``path:line(function)``; the raw floor's own functions (benchmarks/contenders/
#: raw.py) are put where aiowsman's counterparts are, so an area compares like
#: with like.
AREAS: tuple[tuple[str, str], ...] = (
    (
        "session construction (AsyncSession.__init__, endpoint parsing, auth, options)",
        r"session\.py:\d+\((__init__|_options_for)|_endpoint\.py|urllib/parse|ipaddress|"
        r"auth/__init__|auth/basic\.py:\d+\(__init__|transport\.py:\d+\(__init__|"
        r"envelope\.py:\d+\(_session_headers",
    ),
    (
        "aiohttp client per session (ClientSession + TCPConnector made and closed per host)",
        r"transport\.py:\d+\((_shared_client|_prepare_shared|close)\)|aiohttp/connector\.py:\d+\("
        r"(__init__|close|_close|_wait_for_close)|aiohttp/client\.py:\d+\((__init__|close)\)|"
        r"helpers\.py:\d+\(weakref_handle|cookiejar|socket\.close|session\.py:\d+\((__aexit__|aclose)",
    ),
    (
        "timers (asyncio.timeout per operation) and extra tasks/futures",
        r"asyncio/timeouts|base_events\.py:\d+\((call_at|create_task|create_future)|asyncio/tasks",
    ),
    (
        "coroutine layers (session._call, transport exchange/_run_flow/_send, identify/get)",
        r"session\.py:\d+\((_call|identify|get)\)|transport\.py:\d+\((exchange|_run_flow|_send|"
        r"_read_body)\)",
    ),
    (
        "the runner (fanout.run: workers, _one, queues, HostResult, Summary)",
        r"aiowsman/fanout\.py|asyncio/queues|<string>:\d+\(__init__",
    ),
    (
        "response parsing (parse_envelope, XML parse, IdentifyResponse, Item; raw: post)",
        r"protocol/(response|xml|items)\.py|raw\.py:\d+\(post\)",
    ),
    (
        "request building (envelopes, headers; raw: _head, get_body)",
        r"protocol/envelope\.py|aiohttp/client\.py:\d+\(_prepare_headers|"
        r"raw\.py:\d+\((_head|__init__|get_body)\)",
    ),
    ("the benchmark loop (semaphore, gather; raw: identify/get)", r"benchmarks/|locks\.py"),
)


def breakdown(args: argparse.Namespace) -> None:
    """Own CPU time of dump A minus dump B per unit, summed by :data:`AREAS`."""
    import re

    def load(path: str) -> dict[str, tuple[int, float]]:
        rows: dict[str, tuple[int, float]] = {}
        raw_stats: Any = pstats.Stats(path).stats  # type: ignore[attr-defined]
        for (file, line, func), (_cc, calls, own, _cum, _callers) in raw_stats.items():
            short = file.split("site-packages/")[-1].split(str(Path.cwd()) + "/")[-1]
            rows[f"{short}:{line}({func})"] = (calls, own)
        return rows

    a, b = load(args.a), load(args.b)
    units = args.units
    total_a = sum(t for _, t in a.values())
    total_b = sum(t for _, t in b.values())
    gap = total_a - total_b
    print(f"A {args.a}\nB {args.b}")
    print(
        f"{units} units; profiled CPU per unit: A {total_a / units * 1e6:.0f} us, "
        f"B {total_b / units * 1e6:.0f} us, gap {gap / units * 1e6:.0f} us (cProfile inflates "
        "every figure about 3-4x; read the shares)"
    )
    other = "everything else (event loop, aiohttp request path, sockets, builtins)"
    own: dict[str, float] = {}
    calls: dict[str, float] = {}
    for key in set(a) | set(b):
        (ca, ta), (cb, tb) = a.get(key, (0, 0.0)), b.get(key, (0, 0.0))
        area = next((name for name, pattern in AREAS if re.search(pattern, key)), other)
        own[area] = own.get(area, 0.0) + ta - tb
        calls[area] = calls.get(area, 0.0) + ca - cb
    for area, spent in sorted(own.items(), key=lambda kv: -kv[1]):
        share = spent / gap * 100 if gap else 0.0
        print(
            f"{spent / units * 1e6:7.0f} us/unit {share:6.1f}% of the gap "
            f"{calls[area] / units:+7.1f} calls/unit  {area}"
        )


def _units_arg(args: argparse.Namespace) -> str:
    return {"fanout": "hosts", "enumerate": "items"}.get(args.scenario, "count")


def held(args: argparse.Namespace) -> None:
    """Print the memory one open ``AsyncSession`` holds after an Identify and a Get.

    ``--hosts`` sessions (one per simulated host, as the per-host pattern
    makes them) are opened, each sends one Identify and one Get, and all stay
    open; the bytes Python allocated for them (``tracemalloc``: the session,
    its transport and auth objects, its kept-alive connection, the answers it
    keeps) are divided by their number. Deterministic, unlike RSS: the
    measure for a change of what a session keeps.
    """
    import asyncio
    import tracemalloc

    import aiowsman
    from aiowsman.protocol.locator import ResourceLocator
    from benchmarks.contenders.aiowsman_client import _session_options

    count = args.hosts

    async def measure(target: Target) -> tuple[float, float]:
        # The session options the aiowsman contender uses (credentials, the
        # plain-HTTP opt-in), so what is measured is the benchmarked session.
        options = _session_options(target)
        locator = ResourceLocator(target.get_uri, dict(target.get_selectors))
        async with aiowsman.AsyncSession(target.endpoints[0], **options) as warm:
            await warm.identify()
            await warm.get(locator)
        gc.collect()
        tracemalloc.start()
        sessions: list[aiowsman.AsyncSession] = []
        try:
            before = tracemalloc.get_traced_memory()[0]
            tracked_before = len(gc.get_objects())
            for endpoint in target.endpoints[:count]:
                session = aiowsman.AsyncSession(endpoint, **options)
                sessions.append(session)
                await session.__aenter__()
                await session.identify()
                await session.get(locator)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            # What the collector walks (after a collection: tuples of plain
            # values it has untracked are not counted).
            tracked = len(gc.get_objects()) - tracked_before
        finally:
            tracemalloc.stop()
            for session in sessions:
                await session.aclose()
        return (after - before) / len(sessions), tracked / len(sessions)

    with TestServer(kind=args.server, hosts=count, latency=0.0) as server:
        target = server.target(get_uri=FANOUT_GET_URI, get_selectors={})
        per_session, tracked = asyncio.run(measure(target))
    print(
        f"held per open AsyncSession after Identify + Get ({count} sessions, connection included):"
    )
    print(f"  {per_session:,.0f} bytes")
    print(f"  {tracked:.1f} objects tracked by the garbage collector")


def collector(args: argparse.Namespace) -> None:
    """Client CPU and the cyclic garbage collector's share of it, per unit, in one process.

    As :func:`compare` (contenders alternating against one server), with
    ``gc.callbacks`` timing every collection (``time.process_time``) by
    generation and counting them. At thousands of hosts in flight the full
    collections walk every object each in-flight host keeps, and how often
    they come follows how many objects the hosts keep alive: the measure for
    a change of what a session keeps (``held`` counts those objects).
    """
    contenders = args.contenders.split(",")
    spent = [0.0, 0.0, 0.0]
    runs = [0, 0, 0]
    started = [0.0]
    counting = [False]  # only collections during the timed run count

    def timing(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        elif counting[0]:
            generation = info["generation"]
            spent[generation] += time.process_time() - started[0]
            runs[generation] += 1

    def timed(running: bool) -> None:
        counting[0] = running

    rows: dict[str, list[tuple[float, float, list[float], list[int]]]] = {c: [] for c in contenders}
    gc.callbacks.append(timing)
    try:
        with _server(args) as server:
            target = _target(server, args)
            for rep in range(args.reps):
                k = rep % len(contenders)
                for contender in contenders[k:] + contenders[:k]:
                    spent[:] = [0.0, 0.0, 0.0]
                    runs[:] = [0, 0, 0]
                    us, per_s, units = _measure(contender, args, target, timed)
                    by_generation = [t / units * 1e6 for t in spent]
                    rows[contender].append((us, per_s, by_generation, list(runs)))
                    print(
                        f"  rep{rep} {contender:18s} {us:7.1f} us/unit {per_s:8.1f}/s  collector "
                        f"{sum(by_generation):6.1f} us/unit (by generation "
                        f"{', '.join(f'{t:.1f}' for t in by_generation)}), collections {runs}",
                        flush=True,
                    )
    finally:
        gc.callbacks.remove(timing)
    print(f"{args.scenario}: medians per unit (client CPU us, collector us, collections)")
    for c, rs in rows.items():
        cpu = statistics.median(r[0] for r in rs)
        spent_gc = statistics.median(sum(r[2]) for r in rs)
        full = statistics.median(r[3][2] for r in rs)
        young = statistics.median(r[3][0] for r in rs)
        print(
            f"  {c:18s} CPU {cpu:7.1f}  collector {spent_gc:6.1f} ({spent_gc / cpu:.0%})  "
            f"collections: {young:.0f} young, {full:.0f} full"
        )
    if "raw" in rows:
        raw_cpu = statistics.median(r[0] for r in rows["raw"])
        for c, rs in rows.items():
            if c != "raw":
                ratio = raw_cpu / statistics.median(r[0] for r in rs)
                print(f"  CPU raw/{c} = {ratio:.3f}")


def held_commands(args: argparse.Namespace) -> None:
    """Print the memory one remote command in flight holds, with its session and shell.

    ``--hosts`` commands (one per simulated host of the project's Python test
    server, through ``fanout.run`` at a concurrency of all of them) each start
    ``timeout /t 6`` in a shell of their own and read its first output: then
    every one is waiting in a Receive, as most commands of a command fan-out
    are most of the time. The bytes Python allocated since before the run
    (``tracemalloc``) are divided by their number, and the top allocation
    sites are listed. Deterministic within a few bytes, unlike RSS.
    """
    import asyncio
    import tracemalloc

    from aiowsman import AsyncSession, fanout
    from benchmarks.contenders.aiowsman_client import _session_options

    count = args.hosts

    async def measure(target: Target) -> tuple[float, list[tuple[str, float]]]:
        options = _session_options(target)
        started = 0
        everyone = asyncio.Event()

        async def command(session: AsyncSession) -> bytes:
            nonlocal started
            async with session.shell() as shell:
                process = await shell.start("timeout /t 6", stdin=False)
                first = await process.stdout.__anext__()  # it runs; the next Receive is out
                started += 1
                if started == count:
                    everyone.set()
                rest = await process.stdout.read()
                await process.wait()
                return first + rest

        async def run(hosts: list[str]) -> None:
            async with fanout.run(hosts, command, concurrency=len(hosts), **options) as results:
                async for result in results:
                    if not result.ok:
                        raise RuntimeError(f"{result.host}: {result.error!r}")

        await run(target.endpoints[:1])  # imports, pools and caches made once
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            base = tracemalloc.get_traced_memory()[0]
            task = asyncio.create_task(run(target.endpoints[:count]))
            async with asyncio.timeout(60):
                await everyone.wait()
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - base
            after = tracemalloc.take_snapshot()
            await task
        finally:
            tracemalloc.stop()
        sites = [
            (f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}", s.size_diff / count)
            for s in after.compare_to(before, "lineno")[:12]
        ]
        return held / count, sites

    with TestServer(kind="python", hosts=count, latency=0.0) as server:
        per_command, sites = asyncio.run(measure(server.target()))
    print(f"held per remote command in flight, in a Receive ({count} hosts, session and shell):")
    print(f"  {per_command:,.0f} bytes")
    for site, size in sites:
        print(f"    {size:8,.0f}  {site}")


def once(args: argparse.Namespace) -> None:
    """Run one contender's workload once (the process ``instructions`` counts)."""
    with _server(args) as server:
        workload = _workload(args.contender, args, _target(server, args))
        workload.setup()
        try:
            result = workload.run()
        finally:
            workload.close()
    if result.get("errors"):
        raise RuntimeError(f"{args.contender}: {result.get('error_sample')}")


#: cachegrind's summary lines (on stderr), by the name this module reports them under.
#: Not the last-level cache: valgrind models it from this VM's L3 description
#: as direct-mapped, which no real L3 is.
_CACHEGRIND_COUNTS = {
    "instructions": r"I\s+refs:\s+([\d,]+)",
    "I1 misses": r"I1\s+misses:\s+([\d,]+)",
    "D1 misses": r"D1\s+misses:\s+([\d,]+)",
    "branches": r"Branches:\s+([\d,]+)",
    "mispredicts": r"Mispredicts:\s+([\d,]+)",
}


def cachegrind_counts(stderr: str) -> dict[str, int]:
    """The totals of a cachegrind run's summary (the counts it printed, by name).

    ``instructions`` is always there; the cache and branch lines only with
    ``--cache-sim=yes`` / ``--branch-sim=yes``.
    """
    counts: dict[str, int] = {}
    for name, pattern in _CACHEGRIND_COUNTS.items():
        match = re.search(pattern, stderr)
        if match is not None:
            counts[name] = int(match.group(1).replace(",", ""))
    return counts


def _instructions(args: argparse.Namespace, contender: str, units: int) -> dict[str, int]:
    """What the client process executed running ``units`` units once (valgrind's counts)."""
    name = _units_arg(args)
    sim = "yes" if args.cache_sim else "no"
    cmd = [
        "valgrind", "--tool=cachegrind", f"--cache-sim={sim}", f"--branch-sim={sim}",
        "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.profile", "_once", "--contender", contender,
        "--scenario", args.scenario, f"--{name}", str(units), "--server", args.server,
        "--concurrency", str(args.concurrency), "--latency", str(args.latency),
        "--batch", str(args.batch),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600, check=False)
    counts = cachegrind_counts(done.stderr)
    if done.returncode != 0 or "instructions" not in counts:
        raise RuntimeError(f"{contender}: valgrind failed: {done.stderr[-2000:]}")
    return counts


def instructions(args: argparse.Namespace) -> None:
    """Print each contender's client instructions per unit (valgrind); with
    ``--cache-sim``, also its simulated cache misses and mispredicted branches."""
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions: valgrind is not installed")
    large = getattr(args, _units_arg(args))
    small = max(large // 10, 1)
    if large <= small:
        raise SystemExit("instructions: give at least 2 units")
    per_unit: dict[str, dict[str, float]] = {}
    for contender in args.contenders.split(","):
        few, many = (_instructions(args, contender, n) for n in (small, large))
        per_unit[contender] = {
            key: (many[key] - few[key]) / (large - small) for key in many if key in few
        }
    floor = per_unit.get("raw")
    print(f"{args.scenario}: client instructions per unit ({small} vs {large} units)")
    for contender, counts in per_unit.items():
        value = counts["instructions"]
        ratio = f"  raw / this {floor['instructions'] / value:.3f}" if floor else ""
        print(f"  {contender:20} {value:14,.0f}{ratio}")
    if not args.cache_sim:
        return
    print("simulated by cachegrind, per unit (this / raw in brackets):")
    for contender, counts in per_unit.items():
        cells = []
        for key, value in counts.items():
            if key == "instructions":
                continue
            base = floor.get(key) if floor else None
            versus_raw = f" ({value / base:.2f})" if base else ""
            cells.append(f"{key} {value:,.0f}{versus_raw}")
        print(f"  {contender:20} " + ", ".join(cells))


def main(argv: list[str] | None = None) -> int:
    settle_allocator()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument(
        "command",
        choices=(
            "compare",
            "versus",
            "profile",
            "diff",
            "breakdown",
            "instructions",
            "held",
            "collector",
            "_once",
        ),
    )
    parser.add_argument("a", nargs="?", help="diff/breakdown: cProfile dump A (.pstats)")
    parser.add_argument("b", nargs="?", help="diff/breakdown: cProfile dump B (.pstats)")
    parser.add_argument("--units", type=int, default=1, help="diff: operations in each dump")
    parser.add_argument("--top", type=int, default=40, help="diff: rows shown")
    parser.add_argument(
        "--scenario",
        choices=("get", "identify", "fanout", "enumerate", *COMMAND_SCENARIOS),
        default="get",
    )
    parser.add_argument("--contenders", default="aiowsman,raw", help="compare: comma-separated")
    parser.add_argument("--contender", default="aiowsman", help="profile: which one")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument"), default="cprofile")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--count", type=int, default=3000, help="get/identify: ops; cycle/reused: commands"
    )
    parser.add_argument("--hosts", type=int, default=1000, help="fanout: hosts")
    parser.add_argument("--concurrency", type=int, default=500, help="fanout: hosts in flight")
    parser.add_argument("--latency", type=float, default=0.05, help="fanout: seconds")
    parser.add_argument("--items", type=int, default=20_000, help="enumerate: items")
    parser.add_argument("--batch", type=int, default=100, help="enumerate: MaxElements")
    parser.add_argument("--uvloop", action="store_true", help="compare: run on uvloop")
    parser.add_argument(
        "--server", choices=SERVERS, default="native", help="the WS-Man server (native)"
    )
    parser.add_argument("--name", default=None, help="profile/versus: output file name")
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="instructions: also simulate caches and branch prediction (slower)",
    )
    parser.add_argument(
        "--commands",
        action="store_true",
        help="held: a remote command in flight instead of an open session",
    )
    parser.add_argument(
        "--before", default=None, help="versus: source tree of the revision for aiowsman@before"
    )
    args = parser.parse_args(argv)
    raise_fd_limit()
    if args.command == "compare":
        compare(args)
    elif args.command == "versus":
        versus(args)
    elif args.command == "diff":
        diff(args)
    elif args.command == "breakdown":
        breakdown(args)
    elif args.command == "instructions":
        instructions(args)
    elif args.command == "held":
        if args.commands:
            held_commands(args)
        else:
            held(args)
    elif args.command == "collector":
        collector(args)
    elif args.command == "_once":
        once(args)
    else:
        profile(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
