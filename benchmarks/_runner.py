"""Run one worker process and measure it from outside.

The orchestrator side of the ``_worker`` handshake: start the worker, wait
for READY, snapshot the server's and the machine's CPU, say GO, sample the
worker's RSS every few milliseconds until its RESULT arrives, snapshot again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks._worker import PREFIX

__all__ = ["ProcessCpu", "WorkerError", "run_worker"]

ROOT = Path(__file__).resolve().parent.parent


class WorkerError(RuntimeError):
    """A worker failed (setup, run, crash or timeout); the text says which."""


class ProcessCpu:
    """CPU seconds (user + system) of a process and its children, read via psutil."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)

    def seconds(self) -> float:
        total = 0.0
        procs = [self.proc]
        try:
            procs += self.proc.children(recursive=True)
        except psutil.Error:
            pass
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        try:
            return int(self.proc.memory_info().rss)
        except psutil.Error:
            return 0


class _RssSampler(threading.Thread):
    """Track the peak RSS of one process from outside (no cost inside it).

    With ``tree``, the RSS of the process and all its descendants is summed
    (a multi-process contender), sampled less often: listing children reads
    /proc and costs the machine CPU the contenders are measured with.
    """

    def __init__(self, pid: int, interval: float = 0.005, *, tree: bool = False) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.tree = tree
        self.interval = 0.05 if tree else interval
        self.peak = 0
        self._stop_event = threading.Event()

    def _rss(self) -> int:
        rss = int(self.proc.memory_info().rss)
        if self.tree:
            for child in self.proc.children(recursive=True):
                try:
                    rss += int(child.memory_info().rss)
                except psutil.Error:
                    pass
        return rss

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                rss = self._rss()
            except psutil.Error:
                return
            if rss > self.peak:
                self.peak = rss
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def _read_message(proc: subprocess.Popen[str]) -> tuple[str, dict[str, Any]]:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            return "EOF", {}
        if line.startswith(PREFIX):
            kind, _, payload = line[len(PREFIX) :].partition(" ")
            return kind, json.loads(payload)


def run_worker(
    contender: str,
    scenario: str,
    params: dict[str, Any],
    target: dict[str, Any],
    *,
    server_pid: int | None,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Run one measurement in a fresh worker process.

    Returns:
        The worker's RESULT fields plus ``rss_peak`` (sampled), ``server_cpu``
        (seconds the server spent during the timed part) and ``machine_busy``
        (fraction of all cores busy during it).

    Raises:
        WorkerError: the worker failed or timed out.
    """
    spec = {"contender": contender, "scenario": scenario, "params": params, "target": target}
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
            env=env,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(spec) + "\n")
            proc.stdin.flush()
            kind, ready = _read_message(proc)
            if kind != "READY":
                raise WorkerError(_failure(kind, ready, stderr, proc))
            server = ProcessCpu(server_pid) if server_pid else None
            sampler = _RssSampler(proc.pid, tree=bool(ready.get("tree")))
            sampler.peak = int(ready["rss_before"])
            sampler.start()
            machine0 = psutil.cpu_times()
            s0 = server.seconds() if server else 0.0
            t0 = time.perf_counter()
            proc.stdin.write("GO\n")
            proc.stdin.flush()
            kind, result = _read_message(proc)
            t1 = time.perf_counter()
            s1 = server.seconds() if server else 0.0
            machine1 = psutil.cpu_times()
            rss_peak = sampler.stop()
            if kind != "RESULT":
                raise WorkerError(_failure(kind, result, stderr, proc))
            proc.stdin.close()
            proc.wait(timeout=60)
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    busy, busy_seconds = _busy(machine0, machine1)
    result["rss_peak"] = max(rss_peak, int(result.get("rss_after", 0)))
    result["server_cpu"] = s1 - s0
    result["outer_wall"] = t1 - t0
    result["machine_busy"] = busy
    # Everything else the machine did meanwhile (other processes, softirq,
    # this orchestrator): a noisy neighbour shows up here.
    result["other_cpu"] = max(
        0.0, busy_seconds - result["server_cpu"] - result["cpu_user"] - result["cpu_sys"]
    )
    result["fd_limit"] = ready.get("fd_limit")
    return result


def _busy(a: Any, b: Any) -> tuple[float, float]:
    """(fraction of all CPUs busy, busy CPU-seconds) between two ``psutil.cpu_times()``."""
    idle = (b.idle - a.idle) + (getattr(b, "iowait", 0.0) - getattr(a, "iowait", 0.0))
    total = sum(b) - sum(a)
    if total <= 0:
        return 0.0, 0.0
    return max(0.0, 1.0 - idle / total), max(0.0, total - idle)


def _failure(kind: str, payload: dict[str, Any], stderr: Any, proc: subprocess.Popen[str]) -> str:
    if kind == "ERROR":
        text = f"{payload.get('stage')}: {payload.get('error')}"
        trace = str(payload.get("trace", "")).strip().splitlines()
        return text + (f" [{trace[-1]}]" if trace else "")
    proc.kill()
    proc.wait()
    stderr.seek(0)
    tail = stderr.read()[-800:]
    return f"worker ended without a result (exit {proc.returncode}): {tail}"
