"""``aiowsman subscribe``: events from a fleet as JSON lines, bookmarks that make a restart resume.

The command runs as a user runs it (a subprocess) against a multi-host test
server whose event logs have no events arriving on their own (``rate=0``):
the tests add events between runs and check the EventRecordIDs written.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from aiowsman.cli._subscribe import load_bookmarks, save_bookmarks
from aiowsman.cli._values import UsageError
from aiowsman.testing import WSManTestServer
from aiowsman.testing._eventlog import EventLogSettings
from aiowsman.testing.families import EventingFamily
from tests.cli_run import AUTH, aiowsman, cli_env, records
from tests.waiting import until

HOSTS = 3
BACKLOG = 4


def family(server: WSManTestServer, index: int) -> EventingFamily:
    return server.host(index).family(EventingFamily)


@pytest.fixture
async def server(make_server: Callable[..., WSManTestServer]) -> AsyncIterator[WSManTestServer]:
    async with make_server(hosts=HOSTS, users={"user": "pass"}) as srv:
        for i in range(HOSTS):
            family(srv, i).settings = EventLogSettings(backlog=BACKLOG, rate=0)
        yield srv


@pytest.fixture
def hosts_file(server: WSManTestServer, tmp_path: Path) -> Path:
    path = tmp_path / "hosts.txt"
    path.write_text("\n".join(server.endpoints) + "\n")
    return path


def by_host(out: str) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for record in records(out):
        grouped[record["host"]].append(record["record_id"])
    return dict(grouped)


def nothing_left(server: WSManTestServer) -> bool:
    return all(not family(server, i).subscriptions for i in range(HOSTS))


async def test_events_are_printed_as_json_lines_tagged_with_their_host(
    server: WSManTestServer, hosts_file: Path
) -> None:
    code, out, err = await aiowsman(
        "subscribe", "--hosts", str(hosts_file), *AUTH, "--read-existing",
        "--count", str(HOSTS * BACKLOG),
    )  # fmt: skip
    assert code == 0, err
    assert by_host(out) == {url: list(range(1, BACKLOG + 1)) for url in server.endpoints}
    assert {r["channel"] for r in records(out)} == {"System"}
    assert f"{HOSTS * BACKLOG} events from {HOSTS} hosts" in err
    assert nothing_left(server)


async def test_a_restart_with_the_bookmarks_file_resumes_without_gap_or_duplicate(
    server: WSManTestServer, hosts_file: Path, tmp_path: Path
) -> None:
    bookmarks = tmp_path / "bookmarks.json"
    common = ["subscribe", "--hosts", str(hosts_file), *AUTH, "--read-existing"]
    code, first, err = await aiowsman(*common, "--bookmarks", str(bookmarks), "--count", "7")
    assert code == 0, err
    for i in range(HOSTS):
        family(server, i).log.emit(2, "System")
    total = HOSTS * (BACKLOG + 2)
    code, second, err = await aiowsman(
        *common, "--bookmarks", str(bookmarks), "--count", str(total - 7)
    )
    assert code == 0, err
    both = defaultdict(list)
    for host, ids in [*by_host(first).items(), *by_host(second).items()]:
        both[host] += ids
    assert dict(both) == {url: list(range(1, BACKLOG + 3)) for url in server.endpoints}


async def test_text_format_is_one_readable_line_per_event(
    server: WSManTestServer, hosts_file: Path
) -> None:
    code, out, err = await aiowsman(
        "subscribe", "-r", server.endpoints[0], *AUTH, "--read-existing", "--rendered",
        "--format", "text", "--count", "1",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"{server.endpoints[0]} System#1 ")
    assert "service entered the" in out


async def test_sigterm_unsubscribes_everywhere_and_saves_the_bookmarks(
    server: WSManTestServer, hosts_file: Path, tmp_path: Path
) -> None:
    bookmarks = tmp_path / "bookmarks.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiowsman.cli", "subscribe", "--hosts", str(hosts_file), *AUTH,
        "--read-existing", "--bookmarks", str(bookmarks), "--max-time", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env("pass"),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [await asyncio.wait_for(proc.stdout.readline(), 30) for _ in range(HOSTS * BACKLOG)]
        # every host subscribed, its Pull waiting for more
        await until(lambda: all(family(server, i).subscriptions for i in range(HOSTS)))
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err.decode()
    assert len(lines) == HOSTS * BACKLOG
    assert nothing_left(server)
    saved = load_bookmarks(str(bookmarks))
    assert sorted(saved) == sorted(server.endpoints)
    assert all(f'RecordId="{BACKLOG}"' in mark for mark in saved.values())


async def test_duration_ends_the_run_and_leaves_nothing_subscribed(
    server: WSManTestServer, hosts_file: Path
) -> None:
    code, out, err = await aiowsman(
        "subscribe", "--hosts", str(hosts_file), *AUTH, "--duration", "1", "--max-time", "5"
    )
    assert (code, out) == (0, ""), err
    assert nothing_left(server)


async def test_a_host_that_refuses_the_query_is_reported_and_the_status_says_so(
    server: WSManTestServer, hosts_file: Path
) -> None:
    family(server, 1).settings = EventLogSettings(backlog=BACKLOG, rate=0, channels=("Other",))
    code, out, err = await aiowsman(
        "subscribe", "--hosts", str(hosts_file), *AUTH, "--read-existing", "--duration", "2"
    )
    assert code == 1
    assert f"{server.endpoints[1]}: " in err and "giving up on this host" in err
    assert "15007" in err
    assert server.endpoints[1] not in by_host(out)


@pytest.mark.parametrize(
    "extra", [["--count", "0"], ["--max-time", "-1"], ["--query", "*", "--channel", ""]]
)
async def test_bad_arguments_are_usage_errors(
    server: WSManTestServer, hosts_file: Path, extra: list[str]
) -> None:
    code, _, err = await aiowsman("subscribe", "--hosts", str(hosts_file), *AUTH, *extra)
    assert code == 2
    assert err.startswith("aiowsman: error:")


def test_bookmarks_are_saved_whole_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    save_bookmarks(str(path), {"h1": "<BookmarkList/>"})
    save_bookmarks(str(path), {"h1": "<BookmarkList/>", "h2": "<x/>"})
    assert load_bookmarks(str(path)) == {"h1": "<BookmarkList/>", "h2": "<x/>"}
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temporary file left


def test_a_file_that_is_not_a_bookmarks_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"bookmarks": [1, 2]}))
    with pytest.raises(UsageError):
        load_bookmarks(str(path))


def test_a_missing_bookmarks_file_is_an_empty_start(tmp_path: Path) -> None:
    assert load_bookmarks(str(tmp_path / "absent.json")) == {}
