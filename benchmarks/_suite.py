"""The orchestrator: servers up, cases in order, contenders alternating, results out."""

from __future__ import annotations

import compileall
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import _machine, _report
from benchmarks._config import CONTENDERS, SCENARIO_CONTENDERS, Plan
from benchmarks._runner import ROOT, WorkerError, run_worker
from benchmarks._server import FANOUT_GET_URI, ServerError, TestServer, server_options

__all__ = ["Suite"]


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Suite:
    """Runs a :class:`Plan` for some contenders and writes the result files."""

    def __init__(
        self,
        plan: Plan,
        contenders: list[str],
        out_dir: Path,
        *,
        server_module: str = "aiowsman.testing",
    ) -> None:
        self.plan = plan
        self.server_module = server_module
        self.contenders = contenders
        self.out_dir = out_dir
        self.records: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.unavailable: dict[str, str] = {}
        self.started = time.time()
        self.machine = _machine.describe()

    # -- running ------------------------------------------------------------

    def preflight(self) -> None:
        """Byte-compile aiowsman; import each contender in a throwaway process (skip failures).

        The package is compiled as pip compiles an installed one: every
        contender imports its client before the timed part, but the
        *aiowsman-mp* workers are fresh interpreters importing aiowsman inside
        it, and from a source checkout where nothing writes bytecode (this
        machine sets ``PYTHONDONTWRITEBYTECODE``) each would compile every
        module first, which no installed copy does. The other contenders'
        packages are installed, hence compiled already.
        """
        package = ROOT / "aiowsman"
        if package.is_dir():
            compileall.compile_dir(str(package), quiet=1)
        checked: dict[str, str | None] = {}
        for name in list(self.contenders):
            module = f"benchmarks.contenders.{CONTENDERS[name]}"
            if module in checked:
                if checked[module] is not None:
                    self.unavailable[name] = str(checked[module])
                continue
            checked[module] = None
            proc = subprocess.run(
                [sys.executable, "-c", f"import {module}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                self.unavailable[name] = last
                checked[module] = last
                _log(f"contender {name} unavailable: {last}")
        self.contenders = [c for c in self.contenders if c not in self.unavailable]

    def run(self, scenarios: list[str]) -> dict[str, Path]:
        self.preflight()
        steps: dict[str, Callable[[], None]] = {
            "single": self.single,
            "fanout": self.fanout,
            "multicore": self.multicore,
            "enumerate": self.enumerate,
            "encrypted": self.encrypted,
            "events": self.events,
            "subscriptions": self.subscriptions,
            "commands": self.commands,
            "command_fanout": self.command_fanout,
            "command_stream": self.command_stream,
            "psrp_commands": self.psrp_commands,
            "psrp_objects": self.psrp_objects,
            "psrp_fanout": self.psrp_fanout,
        }
        for scenario in scenarios:
            _log(f"== {scenario}")
            try:
                steps[scenario]()
            except ServerError as exc:
                self.notes.append(f"{scenario}: server did not start: {exc}")
                _log(f"{scenario}: server did not start: {exc}")
            self.write()  # keep what we have if a later scenario breaks
        return self.write()

    def measure(
        self,
        scenario: str,
        case: dict[str, Any],
        contenders: list[str],
        server: TestServer,
        params: dict[str, Any],
        target: dict[str, Any],
        *,
        order_seed: int = 0,
        worker_scenario: str | None = None,
    ) -> None:
        """All repetitions of one case, rotating the contenders' order each time."""
        for rep in range(self.plan.reps):
            k = (rep + order_seed) % max(len(contenders), 1)
            for contender in contenders[k:] + contenders[:k]:
                record: dict[str, Any] = {
                    "scenario": scenario,
                    "case": case,
                    "contender": contender,
                    "rep": rep,
                }
                try:
                    result = run_worker(
                        CONTENDERS[contender],
                        worker_scenario or scenario,
                        {**params, "contender": contender},
                        target,
                        server_pid=server.pid,
                        timeout=self.plan.worker_timeout,
                    )
                except WorkerError as exc:
                    record.update(ok=False, error=str(exc))
                    label = _report.case_label(scenario, case)
                    _log(f"  {label} {contender} rep{rep}: FAILED {exc}")
                else:
                    record.update(ok=result.get("errors", 0) == 0, **result)
                    _log(
                        f"  {_report.case_label(scenario, case)} {contender} rep{rep}: "
                        + _report.one_line(scenario, record)
                    )
                self.records.append(record)

    def _server(self, *, kind: str | None = None, **kwargs: Any) -> TestServer:
        return TestServer(kind=kind or self.plan.server, module=self.server_module, **kwargs)

    def who(self, scenario: str) -> list[str]:
        """The contenders taking part in ``scenario``, in the scenario's order."""
        return [c for c in SCENARIO_CONTENDERS[scenario] if c in self.contenders]

    def single(self) -> None:
        with self._server(hosts=1, latency=0.0, prewarm=("Win32_Service",)) as server:
            target = server.target().to_json()
            for i, op in enumerate(self.plan.single_ops):
                params = {"op": op, "count": self.plan.single_count}
                self.measure(
                    "single", {"op": op}, self.who("single"), server, params, target, order_seed=i
                )

    def fanout(self) -> None:
        cases = self.plan.fanout_cases()
        with self._server(
            hosts=max(h for h, _ in cases),
            latency=self.plan.fanout_latency,
            prewarm=("Win32_OperatingSystem",),
        ) as server:
            target = server.target(get_uri=FANOUT_GET_URI, get_selectors={}).to_json()
            for i, (hosts, conc) in enumerate(cases):
                case = {"hosts": hosts, "concurrency": conc, "latency": self.plan.fanout_latency}
                params = {"hosts": hosts, "concurrency": conc}
                self.measure(
                    "fanout", case, self.who("fanout"), server, params, target, order_seed=i
                )

    def multicore(self) -> None:
        """A fan-out large enough to use every core: aiowsman-mp vs the single-process floor."""
        cases = self.plan.multicore_cases
        with self._server(
            hosts=max(h for h, _ in cases),
            latency=self.plan.fanout_latency,
            prewarm=("Win32_OperatingSystem",),
        ) as server:
            target = server.target(get_uri=FANOUT_GET_URI, get_selectors={}).to_json()
            for i, (hosts, conc) in enumerate(cases):
                case = {"hosts": hosts, "concurrency": conc, "latency": self.plan.fanout_latency}
                params = {
                    "hosts": hosts,
                    "concurrency": conc,
                    "processes": self.plan.multicore_processes or "auto",
                }
                self.measure(
                    "multicore",
                    case,
                    self.who("multicore"),
                    server,
                    params,
                    target,
                    order_seed=i,
                    worker_scenario="fanout",
                )

    def enumerate(self) -> None:
        if self.plan.server == "python" and "--bulk-class" not in server_options(
            self.server_module
        ):
            self._enumerate_fallback()
            return
        i = 0
        for items in self.plan.enum_items:
            with self._server(hosts=1, latency=0.0, enum_items=items) as server:
                target = server.target().to_json()
                if not target["enum_uri"]:
                    self.notes.append("enumerate: the server's ready file names no bulk_uri")
                    return
                for batch in self.plan.enum_batch:
                    case = {"items": items, "batch": batch}
                    self.measure(
                        "enumerate",
                        case,
                        self.who("enumerate"),
                        server,
                        {"batch": batch},
                        target,
                        order_seed=i,
                    )
                    i += 1

    def _enumerate_fallback(self) -> None:
        """No big class on the server yet: enumerate Win32_Service many times over."""
        with self._server(hosts=1, latency=0.0, prewarm=("Win32_Service",)) as server:
            target = server.target().to_json()
            per_run = int(target["enum_items"])
            repeat = max(1, min(self.plan.enum_items) // per_run)
            self.notes.append(
                f"enumerate: the server has no --bulk-class option yet, so each measurement "
                f"enumerates Win32_Service ({per_run} instances) {repeat} times in a row "
                f"instead of one class of {min(self.plan.enum_items):,}; this adds one "
                "Enumerate round trip per "
                f"{per_run} items and cannot show whether memory stays flat with item count."
            )
            for i, batch in enumerate(self.plan.enum_batch):
                case = {"items": per_run * repeat, "batch": batch, "class": "Win32_Service"}
                params = {"batch": batch, "repeat": repeat}
                self.measure(
                    "enumerate", case, self.who("enumerate"), server, params, target, order_seed=i
                )

    def encrypted(self) -> None:
        """NTLM-encrypted HTTP vs Basic over HTTPS vs Basic over HTTP (sequential Get)."""
        params = {"op": "get", "count": self.plan.encrypted_count}
        for i, mode in enumerate(self.plan.encrypted_modes):
            tls = mode == "basic-https"
            auth = ("ntlm",) if mode.startswith("ntlm") else ("basic",)
            # The raw contender has no auth layer: it takes part only where the
            # transport is plain Basic (HTTP or HTTPS).
            contenders = [
                c for c in self.who("encrypted") if not (c == "raw" and auth != ("basic",))
            ]
            try:
                # TLS and NTLM: only the Python test server has them.
                server = self._server(kind="python", hosts=1, latency=0.0, tls=tls, auth=auth)
                server.start()
            except ServerError as exc:
                self.notes.append(
                    f"encrypted/{mode}: server did not start "
                    f"(needs --tls / --auth ntlm): {str(exc)[-300:]}"
                )
                _log(f"encrypted/{mode}: server did not start: {exc}")
                continue
            try:
                target = server.target(auth=auth[0], encrypt=mode.endswith("encrypted"))
                self.measure(
                    "encrypted",
                    {"mode": mode},
                    contenders,
                    server,
                    params,
                    target.to_json(),
                    order_seed=i,
                    worker_scenario="single",
                )
            finally:
                server.stop()

    def events(self) -> None:
        """Events per second: one host's backlog, then many hosts' through one stream."""
        contenders = self.who("events")
        if not contenders:
            self.notes.append("events: measured for aiowsman only, which was not run")
            return
        plan = self.plan
        i = 0
        with self._server(kind="python", hosts=1, events=(plan.events_single, 0.0)) as server:
            target = server.target().to_json()
            for batch in plan.events_batch:
                case = {"hosts": 1, "events": plan.events_single, "batch": batch}
                self.measure("events", case, contenders, server, dict(case), target, order_seed=i)
                i += 1
        with self._server(
            kind="python", hosts=max(plan.events_hosts), events=(plan.events_per_host, 0.0)
        ) as server:
            target = server.target().to_json()
            for hosts in plan.events_hosts:
                for batch in plan.events_batch:
                    case = {"hosts": hosts, "events": hosts * plan.events_per_host, "batch": batch}
                    self.measure(
                        "events", case, contenders, server, dict(case), target, order_seed=i
                    )
                    i += 1

    def subscriptions(self) -> None:
        """Memory per subscription: one idle subscription per host, held at once."""
        contenders = self.who("subscriptions")
        if not contenders:
            self.notes.append("subscriptions: measured for aiowsman only, which was not run")
            return
        with self._server(
            kind="python", hosts=max(self.plan.subscription_hosts), events=(0, 0.0)
        ) as server:
            target = server.target().to_json()
            for i, hosts in enumerate(self.plan.subscription_hosts):
                case = {"hosts": hosts}
                self.measure(
                    "subscriptions", case, contenders, server, dict(case), target, order_seed=i
                )

    def commands(self) -> None:
        """Remote commands on one host: a shell per command, or one shell for all."""
        # Shells: only the Python test server has them (the native responder
        # answers Identify, Get and enumerations).
        with self._server(kind="python", hosts=1, latency=0.0) as server:
            target = server.target().to_json()
            for i, mode in enumerate(self.plan.command_modes):
                params = {"mode": mode, "count": self.plan.command_count}
                self.measure(
                    "commands",
                    {"mode": mode},
                    self.who("commands"),
                    server,
                    params,
                    target,
                    order_seed=i,
                )

    def command_fanout(self) -> None:
        """``hostname`` on each of N hosts (a shell per host), with simulated latency."""
        top = max(self.plan.command_fanout_hosts)
        with self._server(
            kind="python", hosts=top, latency=self.plan.command_fanout_latency
        ) as server:
            target = server.target().to_json()
            i = 0
            for hosts in self.plan.command_fanout_hosts:
                for conc in self.plan.command_fanout_concurrency:
                    case = {
                        "hosts": hosts,
                        "concurrency": conc,
                        "latency": self.plan.command_fanout_latency,
                    }
                    params = {"hosts": hosts, "concurrency": conc}
                    self.measure(
                        "command_fanout",
                        case,
                        self.who("command_fanout"),
                        server,
                        params,
                        target,
                        order_seed=i,
                    )
                    i += 1

    def command_stream(self) -> None:
        """One command's large output read to the end: does memory stay flat?"""
        with self._server(kind="python", hosts=1, latency=0.0) as server:
            target = server.target().to_json()
            for i, size in enumerate(self.plan.command_stream_bytes):
                self.measure(
                    "command_stream",
                    {"bytes": size},
                    self.who("command_stream"),
                    server,
                    {"bytes": size},
                    target,
                    order_seed=i,
                )

    def psrp_commands(self) -> None:
        """PowerShell remoting on one host: pipelines one after another in one pool."""
        # Runspace pools: only the Python test server has them.
        with self._server(kind="python", hosts=1, latency=0.0) as server:
            params = {"count": self.plan.psrp_count}
            self.measure(
                "psrp_commands",
                {"pipelines": self.plan.psrp_count},
                self.who("psrp_commands"),
                server,
                params,
                server.target().to_json(),
            )

    def psrp_objects(self) -> None:
        """PowerShell remoting on one host: one pipeline writing many objects."""
        with self._server(kind="python", hosts=1, latency=0.0) as server:
            target = server.target().to_json()
            for i, count in enumerate(self.plan.psrp_objects):
                self.measure(
                    "psrp_objects",
                    {"objects": count},
                    self.who("psrp_objects"),
                    server,
                    {"objects": count},
                    target,
                    order_seed=i,
                )

    def psrp_fanout(self) -> None:
        """``Invoke-Command`` on N hosts: a pool per host, one script, the pool closed."""
        top = max(self.plan.psrp_fanout_hosts)
        latency = self.plan.psrp_fanout_latency
        with self._server(kind="python", hosts=top, latency=latency) as server:
            target = server.target().to_json()
            i = 0
            for hosts in self.plan.psrp_fanout_hosts:
                for conc in self.plan.psrp_fanout_concurrency:
                    case = {"hosts": hosts, "concurrency": conc, "latency": latency}
                    params = {"hosts": hosts, "concurrency": conc}
                    self.measure(
                        "psrp_fanout",
                        case,
                        self.who("psrp_fanout"),
                        server,
                        params,
                        target,
                        order_seed=i,
                    )
                    i += 1

    # -- output -------------------------------------------------------------

    def write(self) -> dict[str, Path]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "plan": self.plan.__dict__,
            "contenders": self.contenders,
            "unavailable": self.unavailable,
            "machine": self.machine,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "notes": self.notes,
            "records": self.records,
        }
        doc["summary"] = _report.summarize(doc)
        stem = self.out_dir / self.plan.name
        json_path = stem.with_suffix(".json")
        json_path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        md_path = stem.with_suffix(".md")
        md_path.write_text(_report.markdown(doc))
        png_path = stem.with_suffix(".png")
        _report.plot(doc, png_path)
        return {"json": json_path, "md": md_path, "png": png_path}
