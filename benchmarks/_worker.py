"""Worker process: runs ONE contender on ONE case and measures itself.

Run as ``python -m benchmarks._worker``; the orchestrator (``_runner``) writes
one JSON line on stdin::

    {"contender": "raw", "scenario": "single", "params": {...}, "target": {...}}

The worker imports only its own contender (so one client's imports and
caches never inflate another's memory figures), sets the workload up and warms
it (untimed), prints ``BENCH READY {...}`` and waits for ``GO`` on stdin. The
orchestrator uses that pause to snapshot the server's CPU times. Then the
worker runs the timed part and prints ``BENCH RESULT {...}``: wall time, its
own CPU (``getrusage(RUSAGE_SELF)``, all threads, plus ``RUSAGE_CHILDREN``: the
CPU of the processes a multi-process contender started and waited for during
the timed part), RSS before and ``ru_maxrss`` after. Peak RSS *during* the run
is sampled from outside by the orchestrator (over the worker's whole process
tree when the workload says it starts processes: ``spawns_processes``).
"""

from __future__ import annotations

import gc
import importlib
import json
import resource
import sys
import time
import traceback
from typing import Any

from benchmarks._common import Target, raise_fd_limit, settle_allocator

PREFIX = "BENCH "


def _emit(kind: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(f"{PREFIX}{kind} {json.dumps(payload)}\n")
    sys.stdout.flush()


def _rss() -> int:
    # /proc/self/statm: resident pages are the second field; avoids importing psutil here.
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    settle_allocator()
    fd_limit = raise_fd_limit()
    try:
        module = importlib.import_module(f"benchmarks.contenders.{spec['contender']}")
        target = Target.from_json(spec["target"])
        workload = module.create(spec["scenario"], target, spec["params"])
        workload.setup()
    except Exception as exc:
        _emit("ERROR", {"stage": "setup", "error": repr(exc), "trace": traceback.format_exc()})
        return 1
    gc.collect()
    rss_before = _rss()
    tree = bool(getattr(workload, "spawns_processes", False))
    _emit("READY", {"rss_before": rss_before, "fd_limit": fd_limit, "tree": tree})
    if sys.stdin.readline().strip() != "GO":
        return 2
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        result = workload.run()
    except Exception as exc:
        _emit("ERROR", {"stage": "run", "error": repr(exc), "trace": traceback.format_exc()})
        return 1
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_after = _rss()
    _emit(
        "RESULT",
        {
            "wall": t1 - t0,
            "cpu_user": r1.ru_utime - r0.ru_utime + c1.ru_utime - c0.ru_utime,
            "cpu_sys": r1.ru_stime - r0.ru_stime + c1.ru_stime - c0.ru_stime,
            "cpu_children": (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime),
            "rss_before": rss_before,
            "rss_after": rss_after,
            # Linux reports ru_maxrss in KiB: the lifetime peak, setup included.
            "ru_maxrss": r1.ru_maxrss * 1024,
            **result,
        },
    )
    try:
        workload.close()
    except Exception:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
