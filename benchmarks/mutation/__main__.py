"""``python -m benchmarks.mutation run|list`` (see ``benchmarks/README.md``)."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.mutation import ROOT, TARGETS, Target, test_files_for
from benchmarks.mutation._operators import Mutant, generate
from benchmarks.mutation._report import Outcome, load_equivalents, write_report
from benchmarks.mutation._run import Job, preload, run_jobs

RESULTS = ROOT / "benchmarks" / "results"


def _select(patterns: list[str] | None) -> list[Target]:
    if not patterns:
        return list(TARGETS)
    chosen = [t for t in TARGETS if any(p in t.module for p in patterns)]
    if not chosen:
        raise SystemExit(f"no target matches {patterns}; targets: {[t.module for t in TARGETS]}")
    return chosen


def _collect(targets: list[Target], files: dict[str, list[str]]) -> dict[str, object]:
    tests = sorted({f for fs in files.values() for f in fs})
    with tempfile.TemporaryDirectory() as tmp:
        plan, out = Path(tmp) / "plan.json", Path(tmp) / "out.json"
        plan.write_text(
            json.dumps({"root": str(ROOT), "modules": [t.module for t in targets], "tests": tests})
        )
        print(f"baseline: {len(tests)} test files, tracing {len(targets)} modules", flush=True)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.mutation._collect", str(plan), str(out)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        data: dict[str, object] = json.loads(out.read_text())
    if data["exit_code"] != 0 or data["failed"]:
        raise SystemExit(f"the baseline run failed ({data['exit_code']}): {data['failed']}")
    return data


def _jobs(
    target: Target, files: list[str], baseline: dict[str, object], mutants: list[Mutant]
) -> tuple[list[Job], list[Mutant]]:
    durations: dict[str, float] = baseline["durations"]  # type: ignore[assignment]
    per_test: dict[str, dict[str, list[int]]] = baseline["tests"]  # type: ignore[assignment]
    at_import = set(baseline["import_lines"].get(target.module, []))  # type: ignore[attr-defined]
    mine = {t for t in durations if t.partition("::")[0] in files}
    by_line: dict[int, set[str]] = defaultdict(set)
    for test in mine:
        for line in per_test.get(test, {}).get(target.module, []):
            by_line[line].add(test)
    source = (ROOT / target.module).read_bytes()
    dotted = target.module.removesuffix(".py").replace("/", ".")
    jobs, uncovered = [], []
    for mutant in mutants:
        if at_import.intersection(mutant.lines):
            tests = set(mine)
        else:
            tests = set().union(*(by_line.get(line, set()) for line in mutant.lines))
        if not tests:
            uncovered.append(mutant)
            continue
        ordered = tuple(sorted(tests, key=lambda t: (durations[t], t)))
        budget = sum(durations[t] for t in ordered)
        jobs.append(
            Job(mutant, dotted, str(ROOT / target.module), source, ordered, 15.0 + 3.0 * budget)
        )
    return jobs, uncovered


def _git_revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "aiowsman") else ""
    return f"{git('rev-parse', 'HEAD')}{dirty}"


def cmd_list(args: argparse.Namespace) -> int:
    for target in _select(args.modules):
        mutants = list(generate(target.module, (ROOT / target.module).read_bytes()))
        print(f"{target.module}: {len(mutants)} mutants")
        if args.verbose:
            for m in mutants:
                print(f"  {m.ident} L{m.line}: {m.original!r} -> {m.replacement!r}")
    return 0


def _source_hashes(targets: list[Target]) -> dict[str, str]:
    return {
        t.module: hashlib.sha256((ROOT / t.module).read_bytes()).hexdigest()[:16] for t in targets
    }


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    targets = _select(args.modules)
    hashes = _source_hashes(targets)
    previous: dict[str, object] | None = None
    stale: set[str] = set()
    only = set(args.only or [])
    kept: list[Target] = []
    if args.survivors:
        previous = json.loads(Path(args.survivors).read_text())
        # Survivors, and mutants no test reached then: new tests may reach them.
        rerun = {
            o["ident"]
            for o in previous["outcomes"]  # type: ignore[attr-defined]
            if o["status"] in ("survived", "uncovered")
        }
        only |= rerun
        if args.update:
            # The file keeps every module it measured; --modules may add new
            # targets, which are measured in full, as is a module whose source
            # changed (it has other mutants). Modules left out of --modules
            # keep their outcomes, which needs their source unchanged.
            sources: dict[str, str] = previous["sources"]  # type: ignore[assignment]
            chosen = targets
            every = [t for t in TARGETS if t.module in sources or t in chosen]
            hashes = _source_hashes(every)
            stale = {m for m, h in hashes.items() if sources.get(m) != h}
            targets = chosen if args.modules else every
            kept = [t for t in every if t not in targets]
            changed = sorted(t.module for t in kept if t.module in stale)
            if changed:
                raise SystemExit(
                    f"changed since measured, add them to --modules: {' '.join(changed)}"
                )
    files = {t.module: test_files_for(t) for t in targets}
    baseline = _collect(targets, files)
    preload()
    outcomes: list[Outcome] = []
    all_jobs: list[Job] = []
    generated: list[Mutant] = []
    for target in kept:  # outcomes carried over: their mutants, for the report
        generated += generate(target.module, (ROOT / target.module).read_bytes())
    for target in targets:
        mutants = list(generate(target.module, (ROOT / target.module).read_bytes()))
        generated += mutants
        if only and target.module not in stale:
            mutants = [m for m in mutants if m.ident in only]
        if args.limit:
            mutants = mutants[: args.limit]
        jobs, uncovered = _jobs(target, files[target.module], baseline, mutants)
        outcomes += [Outcome(m, "uncovered", 0.0, 0) for m in uncovered]
        all_jobs += jobs
        print(f"{target.module}: {len(mutants)} mutants, {len(uncovered)} reached by no test")
    done = 0

    def report(job: Job, status: str, seconds: float) -> None:
        nonlocal done
        done += 1
        outcomes.append(Outcome(job.mutant, status, seconds, len(job.tests)))
        if status != "killed" or args.verbose:
            m = job.mutant
            print(
                f"[{done}/{len(all_jobs)}] {status:8} {m.module}:{m.line} "
                f"{m.original!r} -> {m.replacement!r} ({m.ident}, {seconds:.1f} s)",
                flush=True,
            )
        elif done % 50 == 0:
            print(f"[{done}/{len(all_jobs)}] ...", flush=True)

    run_jobs(all_jobs, args.jobs, report)
    elapsed = time.monotonic() - started
    revision = _git_revision()
    command = " ".join(["python -m benchmarks.mutation", *sys.argv[1:]])
    if previous is not None and args.update:
        # Same sources, so the same mutants: keep the full run's outcomes and
        # replace those of the survivors just run again.
        rerun_outcomes = {o.mutant.ident: o for o in outcomes}
        by_ident = {m.ident: m for m in generated}
        merged = [
            rerun_outcomes.get(o["ident"])
            or Outcome(by_ident[o["ident"]], o["status"], o["seconds"], o["tests"])
            for o in previous["outcomes"]  # type: ignore[attr-defined]
            if o["module"] not in stale and o["module"] in hashes
        ]
        merged += [o for o in outcomes if o.mutant.module in stale]
        full = previous["runs"][0]  # type: ignore[index]
        this_run = {
            "revision": revision,
            "command": command,
            "elapsed": elapsed,
            "remeasured": sorted(stale),
        }
        runs = [*previous["runs"], this_run]  # type: ignore[index]
        every_target = [t for t in TARGETS if t in kept or t in targets]
        write_report(
            Path(args.survivors).with_suffix(""),
            targets=every_target,
            files={t.module: files.get(t.module) or test_files_for(t) for t in every_target},
            outcomes=merged,
            equivalents=load_equivalents(),
            runs=runs,
            sources=hashes,
            jobs=args.jobs,
        )
        print(f"updated {args.survivors} (full run {full['revision'][:10]}, survivors re-run now)")
        return 0
    if only or args.limit:
        print(f"partial run ({len(outcomes)} mutants, {elapsed:.0f} s): no result file written")
        return 0
    write_report(
        RESULTS / args.name,
        targets=targets,
        files=files,
        outcomes=outcomes,
        equivalents=load_equivalents(),
        runs=[{"revision": revision, "command": command, "elapsed": elapsed}],
        sources=hashes,
        jobs=args.jobs,
    )
    print(f"wrote {RESULTS / args.name}.md and .json ({elapsed / 60:.1f} min)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="mutate, run the tests, write results/NAME.md and .json")
    run.add_argument("--modules", nargs="*", help="only targets whose path contains one of these")
    run.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (default 2)")
    run.add_argument("--name", default="mutation", help="result file name (default mutation)")
    run.add_argument("--only", nargs="*", help="run only these mutant ids (writes nothing)")
    run.add_argument("--survivors", help="re-run the survivors of a result JSON")
    run.add_argument(
        "--update",
        action="store_true",
        help="with --survivors: write their new outcomes into that result (same sources only)",
    )
    run.add_argument("--limit", type=int, help="at most N mutants per module (writes nothing)")
    run.add_argument("-v", "--verbose", action="store_true", help="report every mutant")
    lst = sub.add_parser("list", help="count (or with -v list) the mutants of each target")
    lst.add_argument("--modules", nargs="*")
    lst.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    return cmd_run(args) if args.command == "run" else cmd_list(args)


if __name__ == "__main__":
    sys.exit(main())
