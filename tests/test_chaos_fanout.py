"""Chaos fan-out: 2000 simulated hosts, at least 10% in each failure group.

The scenario (``benchmarks/chaos.py``, also run at larger scale as a
benchmark) puts every host in one of ten equal groups -- healthy, timeout,
connect, TLS, auth, quota, server time-out, HTTP status, malformed, hostile
XML/oversized -- each group rotating through its injection kinds. Every host
must yield exactly one record carrying the error type its fault calls for,
the run must end within its deadline bound, and nothing may leak.
"""

from __future__ import annotations

from collections import Counter

from benchmarks.chaos import GROUPS, PASSWORD, USER, plan, run_chaos
from tests.test_hygiene_probe import ResourceProbe

HOSTS = 2000


def test_every_failure_group_holds_at_least_a_tenth_of_the_fleet() -> None:
    groups = Counter(group for group, _ in plan(HOSTS))
    assert set(groups) == set(GROUPS)
    assert min(groups.values()) >= HOSTS // 10
    # and every mode of every group is exercised
    modes = Counter(mode.name for _, mode in plan(HOSTS))
    assert set(modes) == {m.name for ms in GROUPS.values() for m in ms}


async def test_chaos_fan_out_gives_each_host_one_correctly_classified_record() -> None:
    async with ResourceProbe(settle=10.0):
        report = await run_chaos(HOSTS)
    assert report.records == HOSTS
    assert (report.duplicates, report.missing) == (0, 0)
    assert report.mismatches == []
    assert report.elapsed < report.deadline_bound
    assert report.fds_after <= report.fds_before
    assert report.tasks_after <= report.tasks_before
    # Every failure class the fleet was built to produce did occur.
    assert set(report.failures_by_class) == {
        "timeout",
        "connect",
        "tls",
        "auth",
        "fault",
        "protocol",
    }
    for result in report.results:
        assert USER not in repr(result) or PASSWORD not in repr(result)
        assert PASSWORD not in (result.message or "")
        assert PASSWORD not in str(result.to_dict())
        if result.error is not None:
            assert result.host.split("//")[-1].split("/")[0] in str(result.error)
