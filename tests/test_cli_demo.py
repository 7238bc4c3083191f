"""``aiowsman demo``: the README's first command, run as a real subprocess."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

from aiowsman.demo import FAILURE_KINDS, demo_behaviours, expected_classes

REPO = Path(__file__).resolve().parents[1]


async def test_demo_writes_one_inventory_record_per_simulated_host(tmp_path: Path) -> None:
    out, table = tmp_path / "inventory.jsonl", tmp_path / "inventory.csv"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiowsman.cli", "demo", "--hosts", "60", "--output", str(out),
        "--csv", str(table), "--timeout", "3", "--deadline", "6",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    # The bound: one black hole costs one deadline; everything else is quick.
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    report = stdout.decode()

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 60
    assert len({r["host"] for r in records}) == 60
    _, kinds = demo_behaviours(60)
    expected = Counter(c for c in expected_classes(kinds).values() if c)
    assert Counter(r["error_class"] for r in records if not r["ok"]) == expected
    for r in records:
        if r["ok"]:
            assert r["value"]["name"].startswith("HOST")
            assert r["value"]["services"] > 0
    assert "60 simulated hosts, inventoried in" in report
    assert "56 answered within" in report
    assert len(list(csv.DictReader(table.open()))) == 60


async def test_demo_report_goes_to_stdout_and_explains_every_failure_class(
    tmp_path: Path,
) -> None:
    # `aiowsman demo > report.txt` captures the report; stderr has the banner.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiowsman.cli", "demo", "--hosts", "40", "--timeout", "2",
        "--deadline", "3", "--failure-rate", "0.025",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=tmp_path,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    report, banner = stdout.decode(), stderr.decode()
    assert banner.startswith("aiowsman demo: simulating 40 hosts") and "busy" in banner
    _, kinds = demo_behaviours(40, failure_rate=0.025)
    classes = {c for c in expected_classes(kinds).values() if c}
    assert classes == {"timeout", "connect", "auth", "fault"}
    for klass in classes:  # each class shown is explained
        line = next(x for x in report.splitlines() if x.strip().startswith(klass + " "))
        assert len(line.split(None, 2)[2]) > 20, line
    assert "the *server* giving up" in report  # fault is not timeout
    assert "were busy at first (HTTP 503" in report  # the busy hosts' recovery
    assert "the black-holed hosts' deadline is not counted" in report
    assert (tmp_path / "inventory.jsonl").is_file()


def test_demo_fleet_breaks_one_host_per_kind_at_one_percent_of_100() -> None:
    _, kinds = demo_behaviours(100, failure_rate=0.01)
    broken = Counter(k for k in kinds.values() if k != "slow")
    assert broken == dict.fromkeys(FAILURE_KINDS, 1)
