"""What the command line prints: one host reads well, a fleet is data, enumerations stream.

Every test runs ``aiowsman`` as a user does, in a subprocess, against the
test server.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from aiowsman.testing import WSManTestServer
from tests.cli_run import AUTH, aiowsman, cli_env, records


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=2) as srv:
        yield srv


# -- one host -----------------------------------------------------------------------------


async def test_one_host_prints_winrm_cmd_text(server: WSManTestServer) -> None:
    code, out, err = await aiowsman(
        "get", "wmicimv2/Win32_Service?Name=WinRM", "-r", server.endpoints[0], *AUTH
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Win32_Service"
    assert "    Name = WinRM" in lines and "    InstallDate = null" in lines


async def test_one_host_run_ends_without_a_fleet_summary(server: WSManTestServer) -> None:
    code, _, err = await aiowsman("identify", "-r", server.endpoints[0], *AUTH)
    assert code == 0
    assert err == ""  # no "1 hosts ... (254 hosts/s)", no "slowest"


async def test_identify_text_uses_the_protocol_names(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman("identify", "-r", server.endpoints[0])
    assert code == 0
    assert out.splitlines()[:2] == ["IdentifyResponse", "    ProtocolVersion = "
        "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"]  # fmt: skip


async def test_property_picks_and_orders_columns_case_insensitively(
    server: WSManTestServer,
) -> None:
    code, out, err = await aiowsman(
        "enumerate", "wmicimv2/Win32_Service", "-r", server.endpoints[0], *AUTH,
        "--format", "table", "--property", "state,NAME",
    )  # fmt: skip
    assert code == 0, err
    header, rule, *rows = out.splitlines()
    assert header.split() == ["State", "Name"]  # the server's spelling, the order asked
    services = server.host(0).store.instances("Win32_Service")
    assert len(rows) == len(list(services))
    assert set(rule.replace(" ", "")) == {"-"}


async def test_table_without_property_names_what_it_left_out(server: WSManTestServer) -> None:
    code, out, err = await aiowsman(
        "get", "wmicimv2/Win32_Service?Name=WinRM", "-r", server.endpoints[0], *AUTH,
        "--format", "table",
    )  # fmt: skip
    assert code == 0
    assert len(out.splitlines()[0].split()) == 8
    assert "more properties not shown; pick them with --property" in err


async def test_pretty_indents_the_instance_xml(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "get", "wmicimv2/Win32_Service?Name=WinRM", "-r", server.endpoints[0], *AUTH,
        "-format:pretty",
    )  # fmt: skip
    assert code == 0
    assert "\n  <p:Name>WinRM</p:Name>\n" in out


# -- a fleet --------------------------------------------------------------------------------


async def test_more_hosts_default_to_json_lines_with_a_summary(server: WSManTestServer) -> None:
    remotes = [a for url in server.endpoints for a in ("-r", url)]
    code, out, err = await aiowsman("identify", *remotes, *AUTH)
    assert code == 0
    assert sorted(r["host"] for r in records(out)) == sorted(server.endpoints)
    assert err.splitlines() == [err.splitlines()[0]]
    assert err.startswith("2 hosts: 2 ok, 0 failed in ") and "hosts/s" not in err


async def test_text_for_many_hosts_names_each_block_s_host(server: WSManTestServer) -> None:
    remotes = [a for url in server.endpoints for a in ("-r", url)]
    code, out, _ = await aiowsman("identify", *remotes, *AUTH, "--format", "text")
    assert code == 0
    assert {f"[{url}]" for url in server.endpoints} <= set(out.splitlines())


# -- enumerations stream ------------------------------------------------------------------


async def test_enumerate_writes_one_record_per_item_with_its_host(
    server: WSManTestServer,
) -> None:
    remotes = [a for url in server.endpoints for a in ("-r", url)]
    code, out, err = await aiowsman(
        "enumerate", "wmicimv2/Win32_LogicalDisk", *remotes, *AUTH, "--property", "DeviceID"
    )
    assert code == 0, err
    for i, url in enumerate(server.endpoints):
        disks = {d.values["DeviceID"] for d in server.host(i).store.instances("Win32_LogicalDisk")}
        mine = [r["value"] for r in records(out) if r["host"] == url]
        assert sorted(d["DeviceID"] for d in mine) == sorted(disks)
    assert f"{len(records(out))} items" in err


async def test_enumerate_as_csv_is_one_row_per_item(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "enumerate", "wmicimv2/Win32_LogicalDisk", "--format", "csv",
        "-r", server.endpoints[0], *AUTH,
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    disks = {d.values["DeviceID"] for d in server.host(0).store.instances("Win32_LogicalDisk")}
    assert {r["DeviceID"] for r in rows} == disks
    assert {r["host"] for r in rows} == {server.endpoints[0]}


async def test_enumerated_items_are_out_before_the_enumeration_ends() -> None:
    # 5000 items in Pulls of 10: the first records must appear long before
    # the host's last Pull, which they could not if a host's items were held.
    async with WSManTestServer(hosts=1, bulk_instances=5000) as srv:
        assert srv.bulk_uri is not None
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aiowsman.cli", "enumerate", srv.bulk_uri,
            "-r", srv.endpoints[0], *AUTH, "--batch-items", "10", "--format", "jsonl", "-q",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=cli_env(),
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
            assert first["value"]["Id"] == "1"
            pulls_so_far = srv.host(0).stats.requests
            assert pulls_so_far < 5000 // 10  # far from done
        finally:
            proc.kill()
            await proc.wait()


MEASURE = """\
import resource, sys
from aiowsman.cli import main
status = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
sys.stderr.write(f"\\npeak_kib={peak}\\n")
raise SystemExit(status)
"""


async def _peak_rss_of_enumeration(server: WSManTestServer, out: Path) -> tuple[int, int]:
    assert server.bulk_uri is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MEASURE, "enumerate", server.bulk_uri, "-r", server.endpoints[0],
        *AUTH, "--batch-items", "500", "--format", "jsonl", "-q", "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=cli_env(),
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode == 0, err.decode()
    peak = int(err.decode().rsplit("peak_kib=", 1)[1].split()[0])
    with out.open() as fh:
        lines = sum(1 for _ in fh)
    return peak, lines


@pytest.mark.timeout(600)
async def test_enumeration_memory_stays_flat_whatever_the_count(tmp_path: Path) -> None:
    # The bound, not a timing: 20,000 items (~45 MB of XML) held whole cost
    # hundreds of MB in the CLI; streamed, the peak RSS of 20,000 is within a
    # few MB of the peak of 1,000.
    small, large = 1_000, 20_000
    async with (
        WSManTestServer(hosts=1, bulk_instances=small) as few,
        WSManTestServer(hosts=1, bulk_instances=large) as many,
    ):
        peak_small, n_small = await _peak_rss_of_enumeration(few, tmp_path / "small.jsonl")
        peak_large, n_large = await _peak_rss_of_enumeration(many, tmp_path / "large.jsonl")
    assert (n_small, n_large) == (small, large)
    growth_mib = (peak_large - peak_small) / 1024
    assert growth_mib < 20, f"peak RSS grew {growth_mib:.1f} MiB from {small} to {large} items"
