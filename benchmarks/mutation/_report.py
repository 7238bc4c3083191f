"""The result files: ``NAME.json`` (every outcome) and ``NAME.md`` (tables, survivors, diffs).

A survivor is either explained in ``benchmarks/mutation/equivalent.toml``
(by the mutant's stable id, a hash of its line's text and the change; with
the reason it cannot change behaviour) or listed as unexplained.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import platform
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.mutation import ROOT, Target
from benchmarks.mutation._operators import Mutant

__all__ = ["Outcome", "load_equivalents", "write_report"]

EQUIVALENTS = Path(__file__).resolve().parent / "equivalent.toml"
_KILLED = ("killed", "timeout")


@dataclass(frozen=True)
class Outcome:
    """How one mutant fared."""

    mutant: Mutant
    status: str
    seconds: float
    tests: int


def load_equivalents() -> dict[str, str]:
    """Mutant id -> why that mutant cannot change behaviour."""
    if not EQUIVALENTS.exists():
        return {}
    data = tomllib.loads(EQUIVALENTS.read_text())
    return {entry["id"]: entry["why"] for entry in data.get("mutant", [])}


def _diff(mutant: Mutant) -> str:
    source = (ROOT / mutant.module).read_bytes()
    before = source.decode().splitlines(keepends=True)
    after = mutant.apply(source).decode().splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, mutant.module, mutant.module, n=1)
    return "".join(list(lines)[2:])  # drop the ---/+++ header: the section names the file


def _rate(killed: int, total: int) -> str:
    return f"{100 * killed / total:.1f} %" if total else "-"


def write_report(
    base: Path,
    *,
    targets: Sequence[Target],
    files: dict[str, list[str]],
    outcomes: Sequence[Outcome],
    equivalents: dict[str, str],
    runs: list[dict[str, Any]],
    sources: dict[str, str],
    jobs: int,
) -> None:
    """Write ``base.json`` and ``base.md``."""
    by_module: dict[str, list[Outcome]] = {t.module: [] for t in targets}
    for outcome in outcomes:
        by_module[outcome.mutant.module].append(outcome)
    for module_outcomes in by_module.values():
        module_outcomes.sort(key=lambda o: (o.mutant.start, o.mutant.end, o.mutant.replacement))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = [{**run, "when": run.get("when", when)} for run in runs]
    first = runs[0]
    md = [
        "# Mutation testing",
        "",
        f"Measured {first['when']} on commit `{first['revision']}` with `{first['command']}`",
        f"({jobs} mutants in parallel, Python {platform.python_version()}, "
        f"{first['elapsed'] / 60:.0f} min wall time). How it works: `benchmarks/README.md`.",
    ]
    for run in runs[1:]:
        again = ", ".join(f"`{m}`" for m in run.get("remeasured", []))
        md.append(
            f"Survivors run again {run['when']} on commit `{run['revision']}` with newer tests "
            f"(`{run['command']}`)"
            + (f"; {again} measured again in full, its source having changed." if again else ".")
        )
    md += [
        "",
        "A mutant is *killed* when a test fails (or the run times out) with it in place.",
        "*Kill rate* = killed / mutants. *Explained* survivors are argued equivalent in",
        "`benchmarks/mutation/equivalent.toml`; *score* = killed / (mutants - explained).",
        "",
        "| module | mutants | killed | survived | reached by no test | explained | kill rate "
        "| score | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for target in targets:
        rows = by_module[target.module]
        killed = sum(o.status in _KILLED for o in rows)
        survived = sum(o.status == "survived" for o in rows)
        uncovered = sum(o.status == "uncovered" for o in rows)
        explained = sum(o.status not in _KILLED and o.mutant.ident in equivalents for o in rows)
        goal = f"{target.goal:.0%}" if target.goal else "-"
        md.append(
            f"| `{target.module}` | {len(rows)} | {killed} | {survived} | {uncovered} "
            f"| {explained} | {_rate(killed, len(rows))} "
            f"| {_rate(killed, len(rows) - explained)} | {goal} |"
        )
        summary.append(
            {
                "module": target.module,
                "mutants": len(rows),
                "killed": killed,
                "survived": survived,
                "uncovered": uncovered,
                "explained": explained,
                "goal": target.goal,
                "tests": files[target.module],
            }
        )
    total = len(outcomes)
    total_killed = sum(o.status in _KILLED for o in outcomes)
    md += [f"| **all** | {total} | {total_killed} | | | | {_rate(total_killed, total)} | | |", ""]
    errors = [o for o in outcomes if o.status == "error"]
    if errors:
        md += [f"**{len(errors)} mutant runs failed to run** (listed below as survivors).", ""]
    md += ["## Test files per module", ""]
    md += [f"- `{t.module}`: {', '.join(f'`{f}`' for f in files[t.module])}" for t in targets]
    md.append("")
    for target in targets:
        rows = [o for o in by_module[target.module] if o.status not in _KILLED]
        if not rows:
            continue
        md += [f"## Survivors: `{target.module}`", ""]
        for o in rows:
            m = o.mutant
            why = equivalents.get(m.ident)
            status = {"uncovered": "reached by no test", "error": "RUN FAILED"}.get(
                o.status, "survived"
            )
            verdict = f"**Equivalent**: {why}" if why else "**Not explained.**"
            md += [
                f"### `{m.ident}` line {m.line} ({status})",
                "",
                "```diff",
                _diff(m).rstrip("\n"),
                "```",
                "",
                verdict,
                "",
            ]
    base.with_suffix(".md").write_text("\n".join(md))
    base.with_suffix(".json").write_text(
        json.dumps(
            {
                "runs": runs,
                "sources": sources,
                "jobs": jobs,
                "python": platform.python_version(),
                "summary": summary,
                "outcomes": [
                    {
                        "ident": o.mutant.ident,
                        "key": o.mutant.key,
                        "module": o.mutant.module,
                        "line": o.mutant.line,
                        "original": o.mutant.original,
                        "replacement": o.mutant.replacement,
                        "status": o.status,
                        "seconds": round(o.seconds, 2),
                        "tests": o.tests,
                    }
                    for o in outcomes
                ],
            },
            indent=1,
        )
    )
