"""``python -m aiowsman.testing``: run the test server in its own process.

Prints one JSON line ``{"endpoints": [...], "users": [...], "tls": ..., "start_seconds": ...}``
(plus ``"bulk_uri"`` with ``--bulk-class N``)
on stdout once every listener is open (or, with ``--ready-file``, writes that
JSON to the file -- the way to go for thousands of hosts -- and prints a short
line); then serves until SIGTERM or SIGINT and shuts down cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from aiowsman.testing._eventlog import EventLogSettings
from aiowsman.testing.families import EventingFamily
from aiowsman.testing.server import WSManTestServer

__all__ = ["main"]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aiowsman.testing",
        description="Run a simulated fleet of WS-Management (WinRM) hosts on loopback.",
    )
    parser.add_argument("--hosts", type=int, default=1, help="number of simulated hosts")
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="first port (ports mode) or shared port (addresses mode)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--latency-max",
        type=float,
        default=None,
        help="with --latency: draw latency uniformly in [latency, latency-max]",
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a throw-away CA (needs trustme)"
    )
    parser.add_argument(
        "--ca-file", default=None, help="with --tls: write the CA certificate (PEM) here"
    )
    parser.add_argument("--address-mode", choices=("ports", "addresses"), default="ports")
    parser.add_argument(
        "--flavour",
        choices=("windows", "omi"),
        default="windows",
        help="the server imitated: Windows WinRM (default) or OMI",
    )
    parser.add_argument(
        "--users",
        action="append",
        default=None,
        metavar="USER:PASSWORD",
        help="accepted Basic credentials (repeatable; default user:pass)",
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="also serve requests without an Authorization header"
    )
    parser.add_argument(
        "--auth",
        action="append",
        default=[],
        choices=("ntlm", "negotiate", "credssp", "kerberos", "certificate"),
        metavar="SCHEME",
        help="also accept this scheme besides Basic (repeatable): ntlm, negotiate, credssp, "
        "kerberos (keytab from KRB5_KTNAME), certificate (with --tls)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--prewarm",
        default="",
        metavar="CLASS[,CLASS...]",
        help="generate these classes' data on every host before reporting ready",
    )
    parser.add_argument(
        "--cache-instances",
        type=int,
        default=400_000,
        help="instances kept in memory over all hosts (about 2.7 KB each)",
    )
    parser.add_argument(
        "--bulk-class",
        type=int,
        default=0,
        metavar="N",
        help="every host also serves AIOWSMAN_BulkItem with N instances (about 2.2 KB each, "
        "made on demand: no memory cost); its resource URI is 'bulk_uri' in the ready JSON",
    )
    parser.add_argument(
        "--event-backlog",
        type=int,
        default=None,
        metavar="N",
        help="events each channel of each host's event log holds at start "
        "(what ReadExistingEvents replays; default 50)",
    )
    parser.add_argument(
        "--event-rate",
        type=float,
        default=None,
        metavar="R",
        help="new events per second per channel of each host's event log (default 1; 0: none)",
    )
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop: uvloop (a fraction cheaper per request) when installed, unless "
        "'asyncio' is asked for",
    )
    parser.add_argument(
        "--ready-file", default=None, help="write the endpoints JSON here instead of stdout"
    )
    return parser.parse_args(argv)


def _tls_context(ca_file: str | None) -> tuple[ssl.SSLContext, str]:
    try:
        import trustme
    except ImportError:  # pragma: no cover - optional dependency
        sys.exit("--tls needs the 'trustme' package (pip install aiowsman[server])")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", "*.localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    if ca_file is None:
        fd, ca_file = tempfile.mkstemp(prefix="aiowsman-ca-", suffix=".pem")
        os.close(fd)
    ca.cert_pem.write_to_path(ca_file)
    return ctx, ca_file


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _write_atomically(path: str, data: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
    os.replace(tmp, path)  # readers never see half a file


async def _run(args: argparse.Namespace) -> int:
    users: dict[str, str] = {}
    for spec in args.users or ["user:pass"]:
        user, sep, password = spec.partition(":")
        if not sep:
            print(f"--users wants USER:PASSWORD, got {spec!r}", file=sys.stderr)
            return 2
        users[user] = password
    tls = None
    ca_file = None
    if args.tls:
        tls, ca_file = _tls_context(args.ca_file)
    latency: float | tuple[float, float] = args.latency
    if args.latency_max is not None:
        latency = (args.latency, args.latency_max)
    # Listeners plus client connections: several descriptors per host.
    _raise_fd_limit(args.hosts * 4 + 256)
    auth = ("basic", *dict.fromkeys(args.auth), *(("none",) if args.no_auth else ()))
    server = WSManTestServer(
        hosts=args.hosts,
        tls=tls,
        users=users,
        auth=auth,
        latency=latency,
        seed=args.seed,
        address_mode=args.address_mode,
        port=args.port,
        cache_instances=args.cache_instances,
        bulk_instances=args.bulk_class,
        flavour=args.flavour,
    )
    if args.event_backlog is not None or args.event_rate is not None:
        defaults = EventLogSettings()
        settings = EventLogSettings(
            backlog=defaults.backlog if args.event_backlog is None else args.event_backlog,
            rate=defaults.rate if args.event_rate is None else args.event_rate,
        )
        for host in server.hosts:
            host.family(EventingFamily).settings = settings
    # Signal handlers first: a supervisor may send SIGTERM as soon as it
    # reads the endpoints.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started = time.perf_counter()
    await server.start()
    if args.prewarm:
        server.prewarm(c.strip() for c in args.prewarm.split(",") if c.strip())
    elapsed = time.perf_counter() - started
    info = {
        "endpoints": server.endpoints,
        "users": sorted(users),
        "auth": list(auth),
        "tls": bool(args.tls),
        "ca_file": ca_file,
        "pid": os.getpid(),
        "start_seconds": round(elapsed, 3),
        "loop": args.loop,
    }
    if server.bulk_uri is not None:
        info["bulk_uri"] = server.bulk_uri
    if args.ready_file:
        _write_atomically(args.ready_file, json.dumps(info))
        print(
            json.dumps(
                {
                    "ready_file": args.ready_file,
                    "hosts": args.hosts,
                    "start_seconds": info["start_seconds"],
                    **({"bulk_uri": server.bulk_uri} if server.bulk_uri else {}),
                }
            ),
            flush=True,
        )
    else:
        print(json.dumps(info), flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return 0


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when asked for (or "auto" and installed), else None."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            sys.exit("--loop uvloop needs the 'uvloop' package")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parse_args(argv)
    factory = _loop_factory(args.loop)
    args.loop = "asyncio" if factory is None else "uvloop"
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_run(args))


if __name__ == "__main__":
    raise SystemExit(main())
