"""Fan-out and command line as a user drives them: limits, quota back-off, pipes, terminals.

Regression tests from the review of the fan-out issue: the runner's global
and per-host limits observed at a real server, a real per-host quota backed
off, and the ``aiowsman`` program run as a subprocess -- values after the
options (winrm.cmd takes switches anywhere), output into a pipe that closes
early (``aiowsman ... | head``), and stderr on a terminal (a pty).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiowsman import AsyncSession
from aiowsman.cli._ops import IdentifyOp
from aiowsman.fanout import run
from aiowsman.testing import HostBehaviour, WSManTestServer

REPO = Path(__file__).resolve().parents[1]
AUTH = ["-u", "user", "--auth", "basic", "--insecure-allow-unencrypted"]
CREDENTIALS: dict[str, Any] = {
    "username": "user",
    "password": "pass",
    "auth": "basic",
    "allow_unencrypted": True,
}


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["AIOWSMAN_PASSWORD"] = "pass"
    return env


async def aiowsman(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiowsman.cli", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=cli_env(),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# -- the runner's limits, seen by the server -----------------------------------


async def test_per_host_limit_bounds_the_requests_one_host_sees_at_once() -> None:
    # The same host four times in the input: four sessions on one endpoint.
    async with WSManTestServer(hosts=1, behaviours={0: HostBehaviour(latency=0.4)}) as server:
        hosts = server.endpoints * 4
        results = [
            r async for r in run(hosts, IdentifyOp(), concurrency=4, per_host=1, **CREDENTIALS)
        ]
        assert server.host(0).stats.max_in_flight == 1
    assert len(results) == 4 and all(r.ok for r in results)


async def test_per_host_limit_of_two_lets_two_requests_overlap_and_no_more() -> None:
    async with WSManTestServer(hosts=1, behaviours={0: HostBehaviour(latency=0.4)}) as server:
        hosts = server.endpoints * 4
        results = [
            r async for r in run(hosts, IdentifyOp(), concurrency=4, per_host=2, **CREDENTIALS)
        ]
        assert server.host(0).stats.max_in_flight == 2
    assert all(r.ok for r in results)


async def test_global_concurrency_bounds_the_hosts_in_flight() -> None:
    in_flight = peak = 0

    async def identify(session: AsyncSession) -> object:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await session.identify()
        finally:
            in_flight -= 1

    slow = HostBehaviour(latency=0.2)
    async with WSManTestServer(hosts=12, behaviours=dict.fromkeys(range(12), slow)) as server:
        results = [r async for r in run(server.endpoints, identify, concurrency=3, **CREDENTIALS)]
    assert peak == 3
    assert sorted(r.host for r in results) == sorted(server.endpoints)
    assert all(r.ok for r in results)


async def test_a_host_at_its_operation_quota_is_backed_off_until_every_request_succeeds() -> None:
    # Windows' MaxConcurrentOperationsPerUser, for real: beyond one request in
    # flight the host answers w:QuotaLimit. Two channels to it overrun the
    # quota; the runner backs the refused ones off and tries again, even for
    # an operation not flagged idempotent, because the refused request did
    # not run.
    quota = HostBehaviour(latency=0.3, max_concurrent_operations=1)
    async with WSManTestServer(hosts=1, behaviours={0: quota}) as server:
        results = [
            r
            async for r in run(
                server.endpoints * 3,
                IdentifyOp(),
                concurrency=3,
                per_host=2,
                retries=8,
                backoff=0.1,
                backoff_max=0.5,
                deadline=30,
                idempotent=False,
                **CREDENTIALS,
            )
        ]
        refused = server.host(0).stats.faults["w:QuotaLimit"]
    assert all(r.ok for r in results), [r.message for r in results]
    assert refused >= 1  # the quota was hit ...
    assert sum(r.attempts for r in results) == 3 + refused  # ... and each refusal retried once


# -- the command line as a user runs it ------------------------------------------


async def test_values_may_follow_the_host_options_as_with_winrm_cmd() -> None:
    async with WSManTestServer(hosts=1) as server:
        code, out, err = await aiowsman(
            "set", "wmicimv2/Win32_Environment?Name=OS&UserName=<SYSTEM>",
            "-r", server.endpoints[0], *AUTH, "-q", '@{VariableValue="after-the-options"}',
            "--format", "jsonl",
        )  # fmt: skip
    assert code == 0, err
    assert '"VariableValue": "after-the-options"' in out


async def test_a_selector_filter_selects_like_the_same_wql_query() -> None:
    async with WSManTestServer(hosts=1) as server:
        common = ["enumerate", "wmicimv2/Win32_Service", "--count", "-r", server.endpoints[0]]
        common += ["--format", "jsonl"]
        counts = []
        for filter_args in (
            [],
            ["--filter", "SELECT * FROM Win32_Service WHERE State='Running'"],
            ["--dialect", "selector", "--filter", "State=Running"],
            ["-dialect:selector", '-filter:{State="Running"}'],  # winrm.cmd's spelling
        ):
            code, out, err = await aiowsman(*common, *filter_args, *AUTH, "-q")
            assert code == 0, err
            counts.append(json.loads(out)["value"]["count"])
    everything, wql, selector, winrm_cmd = counts
    assert 0 < wql < everything
    assert selector == winrm_cmd == wql


async def test_output_into_a_pipe_closed_early_ends_quietly_with_every_session_closed() -> None:
    # `aiowsman identify --hosts big.txt | head -1`: the reader leaves after
    # one line. More records than a pipe holds, so the program's writes fail.
    async with WSManTestServer(hosts=1) as server:
        hosts = "\n".join(server.endpoints * 400).encode()
        read_end, write_end = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "aiowsman.cli", "identify", "--hosts", "-", *AUTH,
                "--concurrency", "4", "-q",
                stdin=asyncio.subprocess.PIPE, stdout=write_end,
                stderr=asyncio.subprocess.PIPE, env=cli_env(),
            )  # fmt: skip
        finally:
            os.close(write_end)
        assert proc.stdin is not None
        proc.stdin.write(hosts)
        await proc.stdin.drain()
        proc.stdin.close()
        try:
            first = await asyncio.wait_for(asyncio.to_thread(os.read, read_end, 200), 60)
        finally:
            os.close(read_end)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert first.startswith(b'{"host": ')
    assert proc.returncode == 0, err.decode()
    assert b"Unclosed" not in err and b"Traceback" not in err, err.decode()[:2000]


@contextlib.contextmanager
def terminal() -> Iterator[tuple[int, list[bytes]]]:
    """A pty: yields the terminal side (to hand to a child) and what was drawn on it."""
    controller, child_side = pty.openpty()
    drawn: list[bytes] = []

    def drain() -> None:
        # Read while the child writes, so a full pty never blocks it; EIO
        # once the last holder of the terminal side has closed it.
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield child_side, drawn
    finally:
        os.close(child_side)
        reader.join(10)
        os.close(controller)


async def run_on_terminal(*args: str) -> tuple[int, str]:
    """Run the program with stderr on a terminal; its exit status and what stderr drew."""
    with terminal() as (tty, drawn):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aiowsman.cli", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=tty, env=dict(cli_env(), COLUMNS="100", TERM="xterm"),
        )  # fmt: skip
        await asyncio.wait_for(proc.wait(), 60)
    assert proc.returncode is not None
    return proc.returncode, b"".join(drawn).decode(errors="replace")


async def test_a_progress_bar_is_drawn_when_stderr_is_a_terminal() -> None:
    async with WSManTestServer(hosts=3) as server:
        code, screen = await run_on_terminal(
            "identify", *(a for url in server.endpoints for a in ("-r", url)), *AUTH
        )
    assert code == 0
    assert "hosts" in screen and "3/3" in screen and "3 ok" in screen  # the bar, at the end
    assert "3 hosts: 3 ok, 0 failed" in screen  # then the summary


async def test_quiet_draws_nothing_even_on_a_terminal() -> None:
    async with WSManTestServer(hosts=1) as server:
        code, screen = await run_on_terminal("identify", "-r", server.endpoints[0], *AUTH, "-q")
    assert code == 0
    assert screen == ""
