"""The baseline run: which test executes which line of the mutated modules.

Run as ``python -m benchmarks.mutation._collect PLAN.json OUT.json`` (the
runner does this in a fresh process). A line tracer is installed before
anything is imported, so the lines a module runs at import time are seen
too: they are attributed to no test ("import"), and a mutant there is run
against every test of its module. Every other line maps to the tests that
ran it; a mutant is run against those tests only. Durations order the tests
(fastest first) and size each mutant's timeout. The baseline must pass.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import FrameType
from typing import Any


class _Tracer:
    def __init__(self, files: set[str]) -> None:
        self.files = files
        self.current: str | None = None
        self.by_test: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.at_import: dict[str, set[int]] = defaultdict(set)

    def global_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename in self.files:
            return self.local_trace
        return None

    def local_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            path = frame.f_code.co_filename
            if self.current is None:
                self.at_import[path].add(frame.f_lineno)
            else:
                self.by_test[self.current][path].add(frame.f_lineno)
        return self.local_trace


def main(plan_path: str, out_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    root = Path(plan["root"])
    files = {str(root / m) for m in plan["modules"]}
    tracer = _Tracer(files)
    sys.settrace(tracer.global_trace)
    threading.settrace(tracer.global_trace)

    import pytest
    from hypothesis import settings

    settings.register_profile("mutation", database=None, derandomize=True, deadline=None)
    settings.load_profile("mutation")

    durations: dict[str, float] = {}
    failed: list[str] = []

    class Recorder:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
            tracer.current = item.nodeid
            started = time.perf_counter()
            yield
            durations[item.nodeid] = time.perf_counter() - started
            tracer.current = None

        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            if report.failed:
                failed.append(report.nodeid)

    code = pytest.main(
        [*plan["tests"], "-q", "-p", "no:cacheprovider", "--assert=plain"],
        plugins=[Recorder()],
    )
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    rel = {str(root / m): m for m in plan["modules"]}
    out = {
        "exit_code": int(code),
        "failed": failed,
        "durations": durations,
        "tests": {
            test: {rel[p]: sorted(lines) for p, lines in per_file.items()}
            for test, per_file in tracer.by_test.items()
        },
        "import_lines": {rel[p]: sorted(lines) for p, lines in tracer.at_import.items()},
    }
    Path(out_path).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
