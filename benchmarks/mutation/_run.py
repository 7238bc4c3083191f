"""Running mutants: one forked, fresh process per mutant, with a timeout.

The runner imports the heavy third-party modules once (pytest, hypothesis,
lxml, aiohttp...) but never aiowsman, then forks one child per mutant. The
child puts a finder first on ``sys.meta_path`` that serves the mutated source
for the mutated module (compiled from text: no ``.pyc`` is written, nothing
on disk changes), and runs pytest on the selected tests, fastest first,
stopping at the first failure. So each mutant sees a freshly imported
aiowsman, and a mutant that hangs is killed with its whole process group.

Outcomes: ``killed`` (a test failed, or the mutated module failed to import),
``timeout`` (counted as killed: the suite noticed), ``survived`` (every
selected test passed), ``uncovered`` (no test runs the mutated line: a
survivor that needs no run) and ``error`` (the run itself went wrong: no
tests collected, a usage error).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from types import ModuleType

from benchmarks.mutation._operators import Mutant

__all__ = ["Job", "preload", "run_jobs"]

_PRELOAD = (
    "pytest",
    "_pytest.python",
    "_pytest.fixtures",
    "hypothesis",
    "hypothesis.strategies",
    "lxml.etree",
    "aiohttp",
    "aiohttp.web",
    "pytest_asyncio",
    "pytest_timeout",
    "yarl",
    "multidict",
    "spnego",
    "cryptography.x509",
    "trustme",
    "aioresponses",
)


def preload() -> None:
    """Import what every child needs, once, so forks start warm (never aiowsman)."""
    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    leaked = [m for m in sys.modules if m == "aiowsman" or m.startswith("aiowsman.")]
    if leaked:
        raise RuntimeError(
            f"preloading imported aiowsman ({leaked[:3]}): children would not be fresh"
        )
    from hypothesis import settings

    # Deterministic property tests (the same examples as the baseline run)
    # and no example database written by thousands of mutant runs.
    settings.register_profile("mutation", database=None, derandomize=True, deadline=None)


@dataclass(frozen=True)
class Job:
    """One mutant and the tests it runs against (in order), with its timeout."""

    mutant: Mutant
    dotted: str
    path: str
    source: bytes
    tests: tuple[str, ...]
    timeout: float


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, dotted: str, path: str, source: bytes) -> None:
        self.dotted, self.path, self.source = dotted, path, source

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self.dotted:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        code = compile(self.source, self.path, "exec", dont_inherit=True)
        exec(code, module.__dict__)


def _child(job: Job) -> int:
    import pytest
    from hypothesis import settings

    sys.meta_path.insert(0, _MutantFinder(job.dotted, job.path, job.mutant.apply(job.source)))
    settings.load_profile("mutation")
    order = {nodeid: i for i, nodeid in enumerate(job.tests)}

    class Select:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
            keep = [item for item in items if item.nodeid in order]
            keep.sort(key=lambda item: order[item.nodeid])
            items[:] = keep

    files = sorted({t.partition("::")[0] for t in job.tests})
    return int(
        pytest.main(
            [*files, "-x", "-q", "-p", "no:cacheprovider", "--assert=plain"],
            plugins=[Select()],
        )
    )


def _fork(job: Job) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        code = _child(job)
    except BaseException:
        code = 3
    finally:
        os._exit(code)


def _status(exit_code: int) -> str:
    if exit_code == 0:
        return "survived"
    if exit_code in (1, 2, 3):  # tests failed; interrupted (import error); internal error
        return "killed"
    return "error"  # 4: usage error, 5: no tests collected


def run_jobs(
    jobs: Sequence[Job],
    parallel: int,
    report: Callable[[Job, str, float], None],
) -> None:
    """Run every job, ``parallel`` at a time; ``report(job, status, seconds)`` as each ends."""
    queue = list(jobs)
    queue.reverse()
    running: dict[int, tuple[Job, float]] = {}
    while queue or running:
        while queue and len(running) < parallel:
            job = queue.pop()
            running[_fork(job)] = (job, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            job, started = running.pop(pid)
            try:
                os.killpg(pid, signal.SIGKILL)  # anything the tests left behind
            except (ProcessLookupError, PermissionError):
                pass
            code = os.waitstatus_to_exitcode(status)
            report(job, _status(code) if code >= 0 else "killed", time.monotonic() - started)
            continue
        now = time.monotonic()
        for pid, (job, started) in list(running.items()):
            if now - started > job.timeout:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                del running[pid]
                report(job, "timeout", now - started)
        time.sleep(0.005)
