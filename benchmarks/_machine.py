"""Machine details recorded with every result file."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

__all__ = ["describe"]

_PACKAGES = ("aiowsman", "aiohttp", "lxml", "pypsrp", "requests", "urllib3", "pyspnego", "psutil")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip() or None
    if rev and dirty.stdout.strip():
        rev += "+dirty"
    return rev


def calibrate() -> float:
    """CPU milliseconds for a fixed pure-Python + lxml workload (lower is faster).

    Recorded with every run so that runs on different days, or on a machine
    shared with other work (which slows even CPU time through caches), can be
    compared: divide a run's CPU-per-unit figures by its calibration.
    """
    import resource

    from lxml import etree

    doc = b"<r>" + b"".join(b'<i n="%d">item %d</i>' % (i, i) for i in range(200)) + b"</r>"
    best = float("inf")
    for _ in range(3):
        start = resource.getrusage(resource.RUSAGE_SELF)
        total = 0
        for i in range(200):
            root = etree.fromstring(doc)
            total += len(root) + sum(len(str(k)) for k in range(200)) + i
        end = resource.getrusage(resource.RUSAGE_SELF)
        spent = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
        best = min(best, spent * 1000)
    return round(best, 1)


def describe() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    mem = psutil.virtual_memory()
    return {
        "cpu_model": _cpu_model(),
        "cpus_logical": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(mem.total / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "event_loop": "asyncio (default selector loop)",
        "packages": versions,
        "git": _git_revision(),
        "calibration_cpu_ms": calibrate(),
        # 1, 5 and 15 minute load averages: other work on the machine when the run began.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
