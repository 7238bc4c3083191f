"""Turn raw measurement records into a summary, a Markdown table and a PNG plot."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["case_label", "markdown", "one_line", "plot", "summarize"]

MIB = 2**20
#: Above this share of one core a process is taken to be the limit.
SATURATED = 90.0
#: CPU accounting ticks are 10 ms: shorter runs cannot say what limited them.
MIN_WALL_FOR_BOUND = 0.5
UNITS = {
    "single": "ops",
    "encrypted": "ops",
    "fanout": "hosts",
    "multicore": "hosts",
    "enumerate": "items",
    "events": "events",
    "subscriptions": "subscriptions",
    "commands": "commands",
    "command_fanout": "hosts",
    "command_stream": "bytes",
    "psrp_commands": "commands",
    "psrp_objects": "objects",
    "psrp_fanout": "hosts",
}
GOAL_VS_RAW = 0.90  # aiowsman within 10% of the raw floor
GOAL_VS_PYPSRP_FANOUT = 4.0  # and at least 4x pypsrp on fan-out
GOAL_VS_PYPSRP_COMMANDS = 3.0  # and at least 3x pypsrp on remote commands (issue 10)
GOAL_MULTICORE = 1.7  # every core: the runner on N processes vs the single-process floor
GOAL_MEMORY = 1.2  # memory per in-flight host within the raw floor's + 20%
ORDER = {
    "aiowsman-mp": 0,
    "aiowsman": 1,
    "aiowsman-sessions": 2,
    "raw": 3,
    "pypsrp": 4,
    "pywinrm": 5,
}
#: Scenarios with many hosts in flight (memory per in-flight host, latency caps).
FANOUTS = ("fanout", "multicore", "command_fanout", "psrp_fanout")


LEGEND = f"""How to read the tables (see benchmarks/README.md):

* CPU figures are % of one core; *client CPU µs/unit* is the client's CPU per
  operation, host or item.
* *Ceilings*: the rate one full core would sustain, for the client and for the
  server (units per CPU-second spent). They hardly move on a busy machine.
* *Bound*: what limited this run: a process at ≥ {SATURATED:.0f}% of a core, all
  cores busy, or neither (then latency and I/O set the pace).
* *Limit when quiet*: for fan-out, the lowest of the two ceilings and of
  concurrency / (2 * latency); for sequential cases, where client and server take
  turns, whose share of the CPU per unit is larger, and the rate the sum allows.
* *Other CPU*: what the rest of the machine used meanwhile (other processes,
  kernel network work, this orchestrator). When it is high the throughput figures
  are disturbed; compare CPU per unit instead.
"""


SERVER_TEXT = {
    "native": "the native responder (`benchmarks/native_server`, C with epoll; a few µs of "
    "CPU per request, so the clients are what is measured)",
    "python": "the project's test server (`python -m aiowsman.testing`, a full emulator in "
    "Python; ~250 µs of CPU per Get)",
}


def case_label(scenario: str, case: dict[str, Any]) -> str:
    if scenario == "single":
        return f"[single {case['op']}]"
    if scenario in FANOUTS:
        return f"[{scenario} N={case['hosts']} c={case['concurrency']}]"
    if scenario == "enumerate":
        what = f" of {case['class']}" if "class" in case else ""
        return f"[enumerate {case['items']} items{what} batch={case['batch']}]"
    if scenario == "events":
        return f"[events {case['events']} from {case['hosts']} host(s) batch={case['batch']}]"
    if scenario == "subscriptions":
        return f"[subscriptions {case['hosts']} idle]"
    if scenario == "command_fanout":
        return f"[command fanout N={case['hosts']} c={case['concurrency']}]"
    if scenario == "command_stream":
        return f"[command stream {case['bytes'] / MIB:g} MiB]"
    if scenario == "psrp_commands":
        return f"[psrp {case['pipelines']} pipelines]"
    if scenario == "psrp_objects":
        return f"[psrp {case['objects']} objects]"
    return f"[{scenario} {case.get('mode', '')}]"


def _metrics(scenario: str, r: dict[str, Any]) -> dict[str, float]:
    """Figures derived from one record."""
    unit = UNITS[scenario]
    wall = float(r["wall"])
    units = float(r.get(unit, 0) or 0)
    cpu = float(r["cpu_user"]) + float(r["cpu_sys"])
    m: dict[str, float] = {
        "rate": units / wall if wall else 0.0,
        "cpu_per_unit_us": cpu / units * 1e6 if units else 0.0,
        "client_cpu_pct": cpu / wall * 100 if wall else 0.0,
        "server_cpu_pct": float(r.get("server_cpu", 0.0)) / wall * 100 if wall else 0.0,
        "machine_busy_pct": float(r.get("machine_busy", 0.0)) * 100,
        "other_cpu_pct": float(r.get("other_cpu", 0.0)) / wall * 100 if wall else 0.0,
        # What one full core would sustain, from CPU seconds per unit: robust
        # to a noisy machine, and says which side would limit on a quiet one.
        "client_ceiling": units / cpu if cpu else 0.0,
        "server_ceiling": units / float(r["server_cpu"]) if r.get("server_cpu") else 0.0,
        "rss_peak_mib": float(r["rss_peak"]) / MIB,
        "rss_growth_mib": max(0.0, float(r["rss_peak"]) - float(r["rss_before"])) / MIB,
    }
    if scenario in FANOUTS:
        inflight = min(int(r["case"]["concurrency"]), int(r["case"]["hosts"]))
        m["kib_per_inflight"] = m["rss_growth_mib"] * 1024 / inflight
    if scenario == "subscriptions":
        m["kib_per_subscription"] = m["rss_growth_mib"] * 1024 / max(1, int(r["case"]["hosts"]))
    return m


def _bound(client: float, server: float, machine: float) -> str:
    reasons = []
    if server >= SATURATED:
        reasons.append(f"server ({server:.0f}% CPU)")
    if client >= SATURATED:
        reasons.append(f"client ({client:.0f}% CPU)")
    if not reasons and machine >= 95:
        reasons.append("machine (all cores busy)")
    return " + ".join(reasons) if reasons else "latency / I-O"


def _quiet_limit(scenario: str, case: dict[str, Any], row: dict[str, Any], cores: int) -> str:
    """Which side would cap the rate on an otherwise idle machine, and at what rate."""
    cc, sc = row["client_ceiling"], row["server_ceiling"]
    if row["contender"] == "aiowsman-mp" and cc > 0:
        # Worker processes: client and server share every core, so the
        # machine's CPU per host (client's + server's) sets the pace.
        per_unit = 1 / cc + (1 / sc if sc > 0 else 0.0)
        caps = {"machine": cores / per_unit}
        if case.get("latency"):
            inflight = min(int(case["concurrency"]), int(case["hosts"]))
            caps["latency"] = inflight / (2 * float(case["latency"]))
        side = min(caps, key=lambda k: caps[k])
        return f"{side} ({caps[side]:,.0f}/s)"
    if scenario not in FANOUTS and cc > 0 and sc > 0:
        # Sequential request/response: client and server take turns, so their
        # CPU times per unit add up; say which share of the round trip is whose.
        client_share = (1 / cc) / (1 / cc + 1 / sc)
        dominant = "server" if client_share < 0.5 else "client"
        return (
            f"{dominant} (client {client_share:.0%} / server {1 - client_share:.0%} "
            f"of CPU; {1 / (1 / cc + 1 / sc):,.0f}/s)"
        )
    caps = {"client": cc, "server": sc}
    if scenario in FANOUTS and case.get("latency"):
        # Each host costs sequential round trips (Identify + Get: 2; a command
        # cycle: 5; a pool opened, one pipeline, the pool closed: 5 or 6) of
        # at least `latency` each.
        trips = {"command_fanout": 5, "psrp_fanout": 5}.get(scenario, 2)
        inflight = min(int(case["concurrency"]), int(case["hosts"]))
        caps["latency"] = inflight / (trips * float(case["latency"]))
    caps = {k: v for k, v in caps.items() if v > 0}
    if not caps:
        return ""
    side = min(caps, key=lambda k: caps[k])
    return f"{side} ({caps[side]:,.0f}/s)"


def _key(case: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(case.items()))


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    cores = int(doc.get("machine", {}).get("cpus_usable") or 1)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    failures: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    cases: dict[tuple[Any, ...], tuple[str, dict[str, Any], str]] = {}
    for r in doc["records"]:
        k = (r["scenario"], _key(r["case"]), r["contender"])
        cases[k] = (r["scenario"], r["case"], r["contender"])
        if "wall" in r and r.get("ok"):
            groups[k].append(r)
        else:
            failures[k].append(r.get("error") or r.get("error_sample") or "errors")
    rows: list[dict[str, Any]] = []
    for k, (scenario, case, contender) in cases.items():
        recs = groups.get(k, [])
        row: dict[str, Any] = {
            "scenario": scenario,
            "case": case,
            "contender": contender,
            "unit": UNITS[scenario] + "/s",
            "reps_ok": len(recs),
            "failures": failures.get(k, []),
        }
        if recs:
            ms = [_metrics(scenario, r) for r in recs]
            rates = [m["rate"] for m in ms]
            med = statistics.median(rates)
            row.update(
                rate_median=med,
                rate_min=min(rates),
                rate_max=max(rates),
                spread_pct=(max(rates) - min(rates)) / med * 100 if med else 0.0,
            )
            for name in ms[0]:
                if name != "rate":
                    row[name] = statistics.median(m[name] for m in ms)
            if statistics.median(float(r["wall"]) for r in recs) < MIN_WALL_FOR_BOUND:
                row["bound"] = "n/a (run too short)"
            else:
                row["bound"] = _bound(
                    row["client_cpu_pct"], row["server_cpu_pct"], row["machine_busy_pct"]
                )
            row["quiet_limit"] = _quiet_limit(scenario, case, row, cores)
        rows.append(row)
    rows.sort(key=lambda r: (r["scenario"], _key(r["case"]), ORDER.get(r["contender"], 9)))
    return {"rows": rows, "goals": _goals(rows), "flatness": _flatness(rows)}


def _goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_case: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_case[(row["scenario"], _key(row["case"]))][row["contender"]] = row
    goals = []
    for (scenario, _), entries in by_case.items():
        aio = entries.get("aiowsman", {}).get("rate_median")
        raw = entries.get("raw", {}).get("rate_median")
        peer = entries.get("pypsrp", {}).get("rate_median")
        sessions = entries.get("aiowsman-sessions", {}).get("rate_median")
        mp = entries.get("aiowsman-mp", {}).get("rate_median")
        case = next(iter(entries.values()))["case"]
        goal: dict[str, Any] = {"scenario": scenario, "case": case}
        if sessions and raw:
            goal["sessions_vs_raw"] = sessions / raw
            goal["sessions_vs_raw_met"] = sessions / raw >= GOAL_VS_RAW
        if mp and raw:
            goal["mp_vs_raw"] = mp / raw
            goal["mp_vs_raw_met"] = mp / raw >= GOAL_MULTICORE
        if mp and aio:
            goal["mp_vs_runner"] = mp / aio
        # Memory per in-flight host: the raw floor's + 20% at most.
        raw_kib = entries.get("raw", {}).get("kib_per_inflight")
        for name, key in (("aiowsman", "mem"), ("aiowsman-sessions", "sessions_mem")):
            kib = entries.get(name, {}).get("kib_per_inflight")
            if kib is not None and raw_kib:
                goal[f"{key}_vs_raw"] = kib / raw_kib
                goal[f"{key}_vs_raw_met"] = kib <= GOAL_MEMORY * raw_kib
        if aio and raw:
            goal["vs_raw"] = aio / raw
            goal["vs_raw_met"] = aio / raw >= GOAL_VS_RAW
        if aio and peer:
            goal["vs_pypsrp"] = aio / peer
            if scenario == "fanout":
                goal["vs_pypsrp_met"] = aio / peer >= GOAL_VS_PYPSRP_FANOUT
            if scenario in ("commands", "command_fanout"):
                goal["vs_pypsrp_met"] = aio / peer >= GOAL_VS_PYPSRP_COMMANDS
        winrm = entries.get("pywinrm", {}).get("rate_median")
        if aio and winrm:
            goal["vs_pywinrm"] = aio / winrm
        if raw and peer:
            goal["raw_vs_pypsrp"] = raw / peer
        # Client CPU per unit: the fair comparison when the server, not the
        # client, set the rate (then throughput ratios hover near 1.0).
        aio_cpu = entries.get("aiowsman", {}).get("cpu_per_unit_us")
        raw_cpu = entries.get("raw", {}).get("cpu_per_unit_us")
        sessions_cpu = entries.get("aiowsman-sessions", {}).get("cpu_per_unit_us")
        if aio_cpu and raw_cpu:
            goal["cpu_vs_raw"] = raw_cpu / aio_cpu
            goal["cpu_vs_raw_met"] = raw_cpu / aio_cpu >= GOAL_VS_RAW
        if sessions_cpu and raw_cpu:
            goal["sessions_cpu_vs_raw"] = raw_cpu / sessions_cpu
            goal["sessions_cpu_vs_raw_met"] = raw_cpu / sessions_cpu >= GOAL_VS_RAW
        if len(goal) > 2:  # a case with one contender (events) has nothing to compare
            goals.append(goal)
    return goals


def _flatness(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Peak RSS growth at the largest vs the smallest item count, per contender and batch."""
    seen: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
    for row in rows:
        if "rss_growth_mib" not in row:
            continue
        c = row["case"]
        if row["scenario"] == "enumerate":
            seen[(row["contender"], c["batch"])][c["items"]] = row["rss_growth_mib"]
        elif row["scenario"] == "command_stream":
            # batch 0: one command's output, streamed (items = bytes)
            seen[(row["contender"], 0)][c["bytes"]] = row["rss_growth_mib"]
    out = []
    for (contender, batch), by_items in sorted(seen.items()):
        if len(by_items) < 2:
            continue
        small, large = min(by_items), max(by_items)
        out.append(
            {
                "contender": contender,
                "batch": batch,
                "items_small": small,
                "items_large": large,
                "growth_small_mib": by_items[small],
                "growth_large_mib": by_items[large],
                # "flat": 10x the items costs under 2x the memory growth, +2 MiB of noise
                "flat": by_items[large] <= 2 * by_items[small] + 2,
            }
        )
    return out


def one_line(scenario: str, r: dict[str, Any]) -> str:
    m = _metrics(scenario, r)
    text = (
        f"{m['rate']:,.0f} {UNITS[scenario]}/s, client CPU {m['client_cpu_pct']:.0f}%, "
        f"server CPU {m['server_cpu_pct']:.0f}%, peak RSS {m['rss_peak_mib']:.0f} MiB"
    )
    if r.get("errors"):
        text += f", {r['errors']} errors (e.g. {r.get('error_sample', '')[:160]})"
    return text


# -- Markdown ------------------------------------------------------------------


def _f(value: Any, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _rate_cells(row: dict[str, Any]) -> list[str]:
    if not row.get("reps_ok"):
        why = (row["failures"] or ["no result"])[0].replace("|", "/")[:120]
        return ["failed", why]
    return [
        f"**{_f(row['rate_median'])}**",
        f"{_f(row['rate_min'])}..{_f(row['rate_max'])} (±{row['spread_pct'] / 2:.0f}%)",
    ]


def _ratio_cell(goal: dict[str, Any], ratio: str, met: str) -> str:
    if ratio not in goal:
        return "-"
    mark = "" if met not in goal else (" ✓" if goal[met] else " ✗")
    return f"{goal[ratio]:.2f}{mark}"


def _table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def _fanout_table(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        c = r["case"]
        lines.append(
            [
                str(c["hosts"]),
                str(c["concurrency"]),
                r["contender"],
                *_rate_cells(r),
                _f(r.get("cpu_per_unit_us")),
                _f(r.get("client_cpu_pct")),
                _f(r.get("server_cpu_pct")),
                _f(r.get("other_cpu_pct")),
                _f(r.get("client_ceiling")),
                _f(r.get("server_ceiling")),
                _f(r.get("rss_peak_mib"), ".0f"),
                _f(r.get("kib_per_inflight"), ".1f"),
                r.get("bound", ""),
                r.get("quiet_limit", ""),
            ]
        )
    header = [
        "hosts",
        "concurrency",
        "contender",
        "hosts/s",
        "range",
        "client CPU µs/host",
        "client CPU %",
        "server CPU %",
        "other CPU %",
        "client ceiling /s",
        "server ceiling /s",
        "peak RSS MiB",
        "KiB per in-flight host",
        "bound",
        "limit when quiet",
    ]
    return _table(header, lines) + (
        "\n*KiB per in-flight host* = (peak RSS during the run - RSS before it) / "
        "min(concurrency, hosts).\n"
    )


def markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    rows = s["rows"]
    mach = doc["machine"]
    plan = doc["plan"]
    parts = [
        f"# aiowsman benchmarks: {plan['name']} run\n",
        f"Started {doc['started']}, took {doc['duration_s']:.0f} s; git `{mach.get('git')}`. "
        f"{plan['reps']} repetitions per case, contenders alternating; each contender in "
        "its own process, the WS-Man server in another. Medians, with the min..max range.\n",
        f"Server: {SERVER_TEXT.get(plan.get('server', 'python'), plan.get('server'))}; "
        "the *encrypted* transports always use the Python test server (TLS, NTLM).\n",
        f"Machine: {mach['cpu_model']}, {mach['cpus_logical']} logical CPUs "
        f"({mach['cpus_usable']} usable), {mach['memory_gib']} GiB; {mach['platform']}; "
        f"Python {mach['python']}, {mach['event_loop']}. Packages: "
        + ", ".join(f"{k} {v}" for k, v in mach["packages"].items() if v)
        + f". Calibration: {mach.get('calibration_cpu_ms', '?')} CPU-ms for a fixed workload "
        "(lower is faster; compare runs by it). Load average when the run started: "
        f"{mach.get('load_average', '?')} (above zero: something else was running).\n",
        LEGEND,
    ]
    if doc.get("unavailable"):
        parts.append(
            "Contenders not run: "
            + "; ".join(f"**{k}** ({v})" for k, v in doc["unavailable"].items())
            + "\n"
        )
    for note in doc.get("notes", []):
        parts.append(f"> Note: {note}\n")

    def pick(scenario: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["scenario"] == scenario]

    if pick("single"):
        parts.append(f"## Single host, sequential ({plan['single_count']} ops per measurement)\n")
        lines = []
        for r in pick("single"):
            lines.append(
                [
                    r["case"]["op"],
                    r["contender"],
                    *_rate_cells(r),
                    _f(r.get("cpu_per_unit_us")),
                    _f(r.get("client_cpu_pct")),
                    _f(r.get("server_cpu_pct")),
                    _f(r.get("other_cpu_pct")),
                    _f(r.get("client_ceiling")),
                    _f(r.get("server_ceiling")),
                    _f(r.get("rss_peak_mib"), ".0f"),
                    r.get("bound", ""),
                    r.get("quiet_limit", ""),
                ]
            )
        parts.append(
            _table(
                [
                    "op",
                    "contender",
                    "ops/s",
                    "range",
                    "client CPU µs/op",
                    "client CPU %",
                    "server CPU %",
                    "other CPU %",
                    "client ceiling /s",
                    "server ceiling /s",
                    "peak RSS MiB",
                    "bound",
                    "limit when quiet",
                ],
                lines,
            )
        )
    latency_ms = plan["fanout_latency"] * 1000
    if pick("fanout"):
        parts.append(
            f"## Fan-out: Identify + Get per host, {latency_ms:.0f} ms simulated latency per "
            "request\n\n*aiowsman* is the runner (`fanout.run`); *aiowsman-sessions* is one "
            "`async with AsyncSession(host)` per host under an `asyncio.Semaphore` of "
            "*concurrency*, all hosts gathered at once, the shape of *raw*'s loop.\n"
        )
        parts.append(_fanout_table(pick("fanout")))
    if pick("multicore"):
        parts.append(
            f"## Every core: Identify + Get per host, {latency_ms:.0f} ms simulated latency\n\n"
            "*aiowsman-mp* is the runner on worker processes (`fanout.run(..., processes="
            f"{plan.get('multicore_processes') or 'auto'!r})`, concurrency split between "
            "them; their start-up is inside the timed part). Its CPU and RSS are summed over "
            "the parent and its workers; client CPU % is of one core, so up to 100 x cores. "
            "*aiowsman* and *raw* run in one process. Memory per in-flight host of "
            "*aiowsman-mp* includes each worker process's own baseline.\n"
        )
        parts.append(_fanout_table(pick("multicore")))
    if pick("enumerate"):
        parts.append("## Enumerate one big class\n")
        lines = []
        for r in pick("enumerate"):
            c = r["case"]
            lines.append(
                [
                    f"{c['items']:,}",
                    str(c["batch"]),
                    r["contender"],
                    *_rate_cells(r),
                    _f(r.get("cpu_per_unit_us"), ".1f"),
                    _f(r.get("client_cpu_pct")),
                    _f(r.get("server_cpu_pct")),
                    _f(r.get("other_cpu_pct")),
                    _f(r.get("client_ceiling")),
                    _f(r.get("server_ceiling")),
                    _f(r.get("rss_peak_mib"), ".0f"),
                    _f(r.get("rss_growth_mib"), ".1f"),
                    r.get("bound", ""),
                    r.get("quiet_limit", ""),
                ]
            )
        parts.append(
            _table(
                [
                    "items",
                    "batch",
                    "contender",
                    "items/s",
                    "range",
                    "client CPU µs/item",
                    "client CPU %",
                    "server CPU %",
                    "other CPU %",
                    "client ceiling /s",
                    "server ceiling /s",
                    "peak RSS MiB",
                    "RSS growth MiB",
                    "bound",
                    "limit when quiet",
                ],
                lines,
            )
        )
        enum_flat = [f for f in s["flatness"] if f["batch"]]
        if enum_flat:
            parts.append(
                "Peak RSS growth as the item count grows (flat = memory does not "
                "grow with the item count):\n"
            )
            lines = [
                [
                    f["contender"],
                    str(f["batch"]),
                    f"{f['growth_small_mib']:.1f} MiB @ {f['items_small']:,}",
                    f"{f['growth_large_mib']:.1f} MiB @ {f['items_large']:,}",
                    "yes" if f["flat"] else "**no**",
                ]
                for f in s["flatness"]
            ]
            parts.append(_table(["contender", "batch", "small", "large", "flat"], lines))
    if pick("encrypted"):
        parts.append(f"## Transports: sequential Get ({plan['encrypted_count']} ops)\n")
        lines = []
        for r in pick("encrypted"):
            lines.append(
                [
                    r["case"]["mode"],
                    r["contender"],
                    *_rate_cells(r),
                    _f(r.get("cpu_per_unit_us")),
                    _f(r.get("server_cpu_pct")),
                    _f(r.get("other_cpu_pct")),
                    _f(r.get("client_ceiling")),
                    _f(r.get("server_ceiling")),
                    r.get("bound", ""),
                    r.get("quiet_limit", ""),
                ]
            )
        parts.append(
            _table(
                [
                    "transport",
                    "contender",
                    "ops/s",
                    "range",
                    "client CPU µs/op",
                    "server CPU %",
                    "other CPU %",
                    "client ceiling /s",
                    "server ceiling /s",
                    "bound",
                    "limit when quiet",
                ],
                lines,
            )
        )
    elif "encrypted" in plan["scenarios"]:
        parts.append("## Transports\n\nNot measured in this run (see notes).\n")
    if pick("events"):
        parts.append(
            "## Events: backlogs read through pull-mode subscriptions (aiowsman only)\n\n"
            "One host: one `Subscription`; many hosts: one `collect_events` stream "
            "(each event parsed into a typed `Event`, bookmarks kept per event).\n"
        )
        lines = [
            [
                str(r["case"]["hosts"]),
                f"{r['case']['events']:,}",
                str(r["case"]["batch"]),
                *_rate_cells(r),
                _f(r.get("cpu_per_unit_us"), ".1f"),
                _f(r.get("client_cpu_pct")),
                _f(r.get("server_cpu_pct")),
                _f(r.get("client_ceiling")),
                _f(r.get("server_ceiling")),
                _f(r.get("rss_peak_mib"), ".0f"),
                r.get("bound", ""),
            ]
            for r in pick("events")
        ]
        parts.append(
            _table(
                [
                    "hosts",
                    "events",
                    "batch",
                    "events/s",
                    "range",
                    "client CPU µs/event",
                    "client CPU %",
                    "server CPU %",
                    "client ceiling /s",
                    "server ceiling /s",
                    "peak RSS MiB",
                    "bound",
                ],
                lines,
            )
        )
    if pick("subscriptions"):
        parts.append(
            "## Memory per subscription (aiowsman only)\n\n"
            "One idle subscription per host, each with a Pull waiting on its host, "
            "held at once by one `collect_events` stream.\n"
        )
        lines = [
            [
                str(r["case"]["hosts"]),
                *_rate_cells(r),
                _f(r.get("rss_peak_mib"), ".0f"),
                _f(r.get("rss_growth_mib"), ".1f"),
                _f(r.get("kib_per_subscription"), ".1f"),
            ]
            for r in pick("subscriptions")
        ]
        parts.append(
            _table(
                [
                    "subscriptions",
                    "subscribed/s (1 s hold included)",
                    "range",
                    "peak RSS MiB",
                    "RSS growth MiB",
                    "KiB per subscription",
                ],
                lines,
            )
        )
    failed = [r for r in doc["records"] if not r.get("ok")]
    if failed:
        parts.append("## Failed measurements (left out of the medians)\n")
        lines = [
            [
                case_label(r["scenario"], r["case"]).strip("[]"),
                r["contender"],
                str(r["rep"]),
                str(r.get("error") or f"{r.get('errors')} errors, e.g. {r.get('error_sample')}")
                .replace("|", "/")
                .replace("\n", " ")[:300],
            ]
            for r in failed
        ]
        parts.append(_table(["case", "contender", "rep", "error"], lines))
    parts.extend(_command_sections(plan, s, pick))
    parts.extend(_psrp_sections(plan, pick))
    if s["goals"]:
        parts.append(
            "## Goals\n\naiowsman within 10% of the raw floor on every case "
            "(ratio ≥ 0.90), for the runner (*aiowsman*) and for one `AsyncSession` per host "
            "(*sessions*); ≥ 4x pypsrp on fan-out and ≥ 3x pypsrp on remote commands; memory "
            "per in-flight host within the raw floor's + 20% (*mem*: aiowsman's KiB over raw's, "
            "≤ 1.20). Ratios of median throughput; the *CPU* columns compare client CPU per unit "
            "(raw's over aiowsman's, so ≥ 0.90 is within 10%), which is what to read where the "
            "server set the pace.\n"
        )
        lines = []
        for g in s["goals"]:
            if g["scenario"] == "multicore":
                continue
            lines.append(
                [
                    case_label(g["scenario"], g["case"]).strip("[]"),
                    _ratio_cell(g, "vs_raw", "vs_raw_met"),
                    _ratio_cell(g, "sessions_vs_raw", "sessions_vs_raw_met"),
                    _ratio_cell(g, "vs_pypsrp", "vs_pypsrp_met"),
                    _ratio_cell(g, "vs_pywinrm", ""),
                    _ratio_cell(g, "raw_vs_pypsrp", ""),
                    _ratio_cell(g, "cpu_vs_raw", "cpu_vs_raw_met"),
                    _ratio_cell(g, "sessions_cpu_vs_raw", "sessions_cpu_vs_raw_met"),
                    _ratio_cell(g, "mem_vs_raw", "mem_vs_raw_met"),
                    _ratio_cell(g, "sessions_mem_vs_raw", "sessions_mem_vs_raw_met"),
                ]
            )
        header = [
            "case",
            "aiowsman / raw",
            "sessions / raw",
            "aiowsman / pypsrp",
            "aiowsman / pywinrm",
            "raw / pypsrp",
            "CPU: raw / aiowsman",
            "CPU: raw / sessions",
            "mem: aiowsman / raw",
            "mem: sessions / raw",
        ]
        parts.append(_table(header, lines))
        multicore = [g for g in s["goals"] if g["scenario"] == "multicore"]
        if multicore:
            parts.append(
                f"Every core: *aiowsman-mp* over the single-process raw floor (goal ≥ "
                f"{GOAL_MULTICORE:.1f}) and over the single-process runner.\n"
            )
            lines = [
                [
                    case_label(g["scenario"], g["case"]).strip("[]"),
                    _ratio_cell(g, "mp_vs_raw", "mp_vs_raw_met"),
                    _ratio_cell(g, "mp_vs_runner", ""),
                    _ratio_cell(g, "vs_raw", ""),
                ]
                for g in multicore
            ]
            parts.append(
                _table(
                    ["case", "aiowsman-mp / raw", "aiowsman-mp / aiowsman", "aiowsman / raw"],
                    lines,
                )
            )
    return "\n".join(parts)


#: The columns every command table ends with (see :func:`_tail`).
_COMMON = [
    "client CPU %",
    "server CPU %",
    "other CPU %",
    "client ceiling /s",
    "server ceiling /s",
    "peak RSS MiB",
    "bound",
    "limit when quiet",
]


def _tail(r: dict[str, Any]) -> list[str]:
    return [
        _f(r.get("client_cpu_pct")),
        _f(r.get("server_cpu_pct")),
        _f(r.get("other_cpu_pct")),
        _f(r.get("client_ceiling")),
        _f(r.get("server_ceiling")),
        _f(r.get("rss_peak_mib"), ".0f"),
        r.get("bound", ""),
        r.get("quiet_limit", ""),
    ]


def _psrp_sections(plan: dict[str, Any], pick: Any) -> list[str]:
    """The PowerShell remoting tables: pipelines/s, objects/s, Invoke-Command on N hosts."""
    parts: list[str] = []
    if pick("psrp_commands"):
        parts.append(
            "## PowerShell remoting, one host: pipelines one after another in one "
            f"runspace pool ({plan['psrp_count']} per measurement)\n\n"
            "aiowsman `pool.powershell().add_script('1').invoke()` (Command, Receive, and a "
            "Terminate in the background); pypsrp `PowerShell(pool).invoke()` (Command, "
            "Receive: it terminates nothing unless `close()` is called).\n"
        )
        lines = [
            [r["contender"], *_rate_cells(r), _f(r.get("cpu_per_unit_us")), *_tail(r)]
            for r in pick("psrp_commands")
        ]
        parts.append(
            _table(["contender", "pipelines/s", "range", "client CPU µs/pipeline", *_COMMON], lines)
        )
    if pick("psrp_objects"):
        parts.append(
            "## PowerShell remoting, one host: one pipeline writing N objects "
            "(`aiowsman-objects N`: six properties each), all read and deserialized\n"
        )
        lines = [
            [
                str(r["case"]["objects"]),
                r["contender"],
                *_rate_cells(r),
                _f(r.get("cpu_per_unit_us"), ",.1f"),
                *_tail(r),
            ]
            for r in pick("psrp_objects")
        ]
        parts.append(
            _table(
                ["objects", "contender", "objects/s", "range", "client CPU µs/object", *_COMMON],
                lines,
            )
        )
    if pick("psrp_fanout"):
        parts.append(
            "## Invoke-Command on N hosts: a runspace pool per host, `hostname`, the pool "
            f"closed; {plan['psrp_fanout_latency'] * 1000:.0f} ms simulated latency per "
            "request\n\naiowsman `fanout.invoke_command`; pypsrp a `RunspacePool` per host on "
            "a thread pool.\n"
        )
        parts.append(_per_host_table(pick("psrp_fanout")))
    return parts


def _per_host_table(rows: list[dict[str, Any]]) -> str:
    """A fan-out of commands or pipelines: hosts/s, CPU and memory per host."""
    lines = [
        [
            str(r["case"]["hosts"]),
            str(r["case"]["concurrency"]),
            r["contender"],
            *_rate_cells(r),
            _f(r.get("cpu_per_unit_us")),
            _f(r.get("kib_per_inflight"), ".1f"),
            *_tail(r),
        ]
        for r in rows
    ]
    header = ["hosts", "concurrency", "contender", "hosts/s", "range", "client CPU µs/host"]
    return _table([*header, "KiB per in-flight host", *_COMMON], lines)


def _command_sections(plan: dict[str, Any], s: dict[str, Any], pick: Any) -> list[str]:
    """The remote-command (WinRS) tables."""
    parts: list[str] = []
    common = _COMMON
    tail = _tail

    if pick("commands"):
        parts.append(
            f"## Remote commands (WinRS), one host ({plan['command_count']} `hostname` per "
            "measurement)\n\n*cycle*: a shell per command (Create, Command, Receive, Signal, "
            "Delete: aiowsman `run_cmd`, pypsrp `Client.execute_cmd`, pywinrm "
            "`Session.run_cmd`); *reused*: all in one shell (Command, Receive, Signal each).\n"
        )
        lines = [
            [
                r["case"]["mode"],
                r["contender"],
                *_rate_cells(r),
                _f(r.get("cpu_per_unit_us")),
                *tail(r),
            ]
            for r in pick("commands")
        ]
        parts.append(
            _table(
                ["case", "contender", "commands/s", "range", "client CPU µs/cmd", *common], lines
            )
        )
    if pick("command_fanout"):
        parts.append(
            "## Remote commands over many hosts: `hostname` on each (a shell per host), "
            f"{plan['command_fanout_latency'] * 1000:.0f} ms simulated latency per request\n"
        )
        parts.append(_per_host_table(pick("command_fanout")))
    if pick("command_stream"):
        parts.append(
            "## One command's large output, read to the end (`aiowsman-bytes N`)\n\n"
            "aiowsman streams it (`Process.stdout`, a bounded buffer); the peers return it "
            "whole.\n"
        )
        lines = []
        for r in pick("command_stream"):
            mib_rate = _f(r["rate_median"] / MIB, ".1f") if r.get("reps_ok") else "failed"
            lines.append(
                [
                    f"{r['case']['bytes'] / MIB:g}",
                    r["contender"],
                    mib_rate,
                    _f(r.get("rss_peak_mib"), ".0f"),
                    _f(r.get("rss_growth_mib"), ".1f"),
                    _f(r.get("client_cpu_pct")),
                    _f(r.get("server_cpu_pct")),
                ]
            )
        parts.append(
            _table(
                [
                    "MiB",
                    "contender",
                    "MiB/s",
                    "peak RSS MiB",
                    "RSS growth MiB",
                    "client CPU %",
                    "server CPU %",
                ],
                lines,
            )
        )
        flat = [f for f in s["flatness"] if f["batch"] == 0]
        if flat:
            parts.append("Peak RSS growth as the output grows (flat = it does not):\n")
            parts.append(
                _table(
                    ["contender", "small", "large", "flat"],
                    [
                        [
                            f["contender"],
                            f"{f['growth_small_mib']:.1f} MiB @ {f['items_small'] / MIB:g} MiB",
                            f"{f['growth_large_mib']:.1f} MiB @ {f['items_large'] / MIB:g} MiB",
                            "yes" if f["flat"] else "**no**",
                        ]
                        for f in flat
                    ],
                )
            )
    return parts


# -- plot ----------------------------------------------------------------------

COLOURS = {
    "aiowsman": "tab:blue",
    "aiowsman-sessions": "tab:cyan",
    "aiowsman-mp": "tab:olive",
    "raw": "tab:gray",
    "pypsrp": "tab:orange",
    "pywinrm": "tab:green",
}


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["summary"]["rows"] if r.get("reps_ok")]
    fan = [r for r in rows if r["scenario"] == "fanout"]
    host_counts = sorted({r["case"]["hosts"] for r in fan})
    fan_panels = len(host_counts) + (2 if fan else 0)
    multicore = [r for r in rows if r["scenario"] == "multicore"]
    panels = fan_panels + 2 + (1 if multicore else 0)
    cols = 2
    nrows = (panels + 1) // 2
    fig, axes = plt.subplots(nrows, cols, figsize=(12, 4.2 * nrows), squeeze=False)
    flat = [ax for line in axes for ax in line]
    for ax, hosts in zip(flat, host_counts):
        for contender in sorted({r["contender"] for r in fan}, key=lambda c: ORDER.get(c, 9)):
            pts = sorted(
                (r["case"]["concurrency"], r["rate_median"], r["rate_min"], r["rate_max"])
                for r in fan
                if r["case"]["hosts"] == hosts and r["contender"] == contender
            )
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            err = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
            ax.errorbar(
                xs,
                ys,
                yerr=err,
                marker="o",
                capsize=3,
                label=contender,
                color=COLOURS.get(contender),
            )
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("concurrency (hosts in flight)")
        ax.set_ylabel("hosts/s (Identify + Get)")
        latency_ms = doc["plan"]["fanout_latency"] * 1000
        ax.set_title(f"Fan-out, {hosts} hosts, {latency_ms:.0f} ms/request")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if fan:
        _fan_metric(
            flat[len(host_counts)],
            fan,
            "cpu_per_unit_us",
            "client CPU µs per host",
            "Fan-out: client CPU per host (noise-robust)",
        )
        _fan_metric(
            flat[len(host_counts) + 1],
            fan,
            "kib_per_inflight",
            "KiB per in-flight host",
            "Fan-out: memory per in-flight host",
        )
    _bars(
        flat[fan_panels],
        [r for r in rows if r["scenario"] == "single"],
        lambda c: c["op"],
        "ops/s",
        "Single host, sequential",
    )
    _bars(
        flat[fan_panels + 1],
        [r for r in rows if r["scenario"] == "enumerate"],
        lambda c: f"{_count(c['items'])} / {c['batch']}",
        "items/s",
        "Enumerate (items/batch)",
    )
    if multicore:
        _bars(
            flat[fan_panels + 2],
            multicore,
            lambda c: f"{_count(c['hosts'])} hosts, c={c['concurrency']}",
            "hosts/s",
            "Every core: aiowsman-mp vs one process",
        )
    for ax in flat[panels:]:
        ax.axis("off")
    mach = doc["machine"]
    fig.suptitle(
        f"aiowsman benchmarks ({doc['plan']['name']}), {doc['started']}: "
        f"{mach['cpu_model']}, {mach['cpus_logical']} CPUs, Python {mach['python']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fan_metric(ax: Any, fan: list[dict[str, Any]], key: str, ylabel: str, title: str) -> None:
    """One line per contender and host count: ``key`` against concurrency."""
    styles = ["-", "--", ":", "-."]
    host_counts = sorted({r["case"]["hosts"] for r in fan})
    for contender in sorted({r["contender"] for r in fan}, key=lambda c: ORDER.get(c, 9)):
        for style, hosts in zip(styles, host_counts):
            pts = sorted(
                (r["case"]["concurrency"], r[key])
                for r in fan
                if r["contender"] == contender and r["case"]["hosts"] == hosts and key in r
            )
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    marker="o",
                    color=COLOURS.get(contender),
                    label=f"{contender}, {hosts} hosts",
                )
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("concurrency (hosts in flight)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _bars(ax: Any, rows: list[dict[str, Any]], label: Any, unit: str, title: str) -> None:
    ax.set_title(title)
    if not rows:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    groups: list[str] = []
    for r in rows:
        g = label(r["case"])
        if g not in groups:
            groups.append(g)
    contenders = sorted({r["contender"] for r in rows}, key=lambda c: ORDER.get(c, 9))
    width = 0.8 / len(contenders)
    for i, contender in enumerate(contenders):
        xs, ys, lo, hi = [], [], [], []
        for j, g in enumerate(groups):
            for r in rows:
                if r["contender"] == contender and label(r["case"]) == g:
                    xs.append(j + i * width)
                    ys.append(r["rate_median"])
                    lo.append(r["rate_median"] - r["rate_min"])
                    hi.append(r["rate_max"] - r["rate_median"])
        ax.bar(
            xs, ys, width, yerr=[lo, hi], capsize=2, label=contender, color=COLOURS.get(contender)
        )
    ax.set_xticks([j + width * (len(contenders) - 1) / 2 for j in range(len(groups))])
    ax.set_xticklabels(groups)
    ax.set_ylabel(unit)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
