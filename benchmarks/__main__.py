"""``python -m benchmarks run [--smoke] ...``, ``report FILE`` and ``native-server``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from benchmarks import _report
from benchmarks._common import raise_fd_limit
from benchmarks._config import CONTENDERS, FULL, SCENARIOS, SMOKE
from benchmarks._server import SERVERS

RESULTS = Path(__file__).resolve().parent / "results"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _cases(text: str) -> list[tuple[int, int]]:
    """``20000:2000,40000:2000`` -> [(20000, 2000), (40000, 2000)]."""
    cases = []
    for part in _csv(text):
        hosts, _, concurrency = part.partition(":")
        cases.append((int(hosts), int(concurrency or 2000)))
    return cases


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["native-server"]:
        from benchmarks import _native

        return _native.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="measure and write results")
    run.add_argument(
        "--smoke",
        action="store_true",
        help="tiny grid for CI (< 60 s); asserts nothing about speed",
    )
    run.add_argument(
        "--scenarios",
        type=_csv,
        default=None,
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    run.add_argument(
        "--contenders",
        type=_csv,
        default=list(CONTENDERS),
        help=f"comma-separated subset of {','.join(CONTENDERS)}",
    )
    run.add_argument("--reps", type=int, default=None, help="repetitions per case")
    run.add_argument("--hosts", type=_csv, default=None, help="fan-out host counts, e.g. 1000,5000")
    run.add_argument(
        "--concurrency",
        type=_csv,
        default=None,
        help="fan-out concurrency levels, e.g. 100,500,2000",
    )
    run.add_argument(
        "--multicore-cases",
        type=_cases,
        default=None,
        help="multi-core fan-out cases HOSTS:CONCURRENCY, e.g. 20000:2000",
    )
    run.add_argument(
        "--processes",
        type=int,
        default=None,
        help="worker processes of the aiowsman-mp contender (default: one per usable CPU)",
    )
    run.add_argument("--items", type=_csv, default=None, help="enumerate item counts")
    run.add_argument("--count", type=int, default=None, help="ops per single-host measurement")
    run.add_argument(
        "--server",
        choices=SERVERS,
        default=None,
        help="WS-Man server: native (the C responder, default: costs the machine almost "
        "nothing) or python (the project's test server); encrypted always uses python",
    )
    run.add_argument(
        "--server-module",
        default="aiowsman.testing",
        help="with --server python: module run as the server (python -m MODULE --hosts N ...)",
    )
    run.add_argument("--name", default=None, help="result file stem (default: full / smoke)")
    run.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    report = sub.add_parser("report", help="rebuild the Markdown and PNG from a result JSON")
    report.add_argument("json", type=Path)
    sub.add_parser(
        "native-server",
        help="build the native server (--build) or run it: native-server -- --hosts 10 ...",
    )
    args = parser.parse_args(argv)

    if args.command == "report":
        doc = json.loads(args.json.read_text())
        doc["summary"] = _report.summarize(doc)
        args.json.with_suffix(".md").write_text(_report.markdown(doc))
        _report.plot(doc, args.json.with_suffix(".png"))
        return 0

    from benchmarks._suite import Suite

    plan = SMOKE if args.smoke else FULL
    changes: dict[str, object] = {}
    if args.reps is not None:
        changes["reps"] = args.reps
    if args.hosts:
        changes["fanout_hosts"] = tuple(int(x) for x in args.hosts)
        changes["fanout_extra"] = ()
    if args.concurrency:
        changes["fanout_concurrency"] = tuple(int(x) for x in args.concurrency)
        changes["fanout_extra"] = ()
    if args.multicore_cases:
        changes["multicore_cases"] = tuple(args.multicore_cases)
    if args.processes is not None:
        changes["multicore_processes"] = args.processes
    if args.server:
        changes["server"] = args.server
    if args.items:
        changes["enum_items"] = tuple(int(x) for x in args.items)
    if args.count:
        changes["single_count"] = args.count
        changes["encrypted_count"] = args.count
    if args.name:
        changes["name"] = args.name
    scenarios = args.scenarios or list(SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    unknown += [c for c in args.contenders if c not in CONTENDERS]
    if unknown:
        parser.error(f"unknown scenario or contender: {', '.join(unknown)}")
    changes["scenarios"] = tuple(scenarios)
    plan = dataclasses.replace(plan, **changes)  # type: ignore[arg-type]
    raise_fd_limit()
    suite = Suite(plan, list(args.contenders), args.out, server_module=args.server_module)
    paths = suite.run(scenarios)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    # A smoke run must show every available contender did every case at least once.
    failed = [r for r in suite.records if not r.get("ok")]
    if failed:
        print(f"{len(failed)} measurement(s) failed; see {paths['md']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
