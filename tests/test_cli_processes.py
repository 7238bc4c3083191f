"""``aiowsman --processes N|auto``: the command line on every core.

Run as a real subprocess against a real server (see test_cli_commands.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from aiowsman.cli._main import AUTO_PROCESSES_FROM
from aiowsman.testing import HostBehaviour, WSManTestServer
from tests.test_cli_commands import AUTH, REPO, aiowsman, records

CPUS = len(os.sched_getaffinity(0))


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _content(out: str) -> list[tuple[Any, ...]]:
    return sorted((r["host"], r["ok"], r["attempts"], repr(r.get("value"))) for r in records(out))


async def _one_then_two_processes(hosts: int, *command: str) -> tuple[str, str, str, str]:
    """Run ``command`` against ``hosts`` hosts in one process, then in two: (out, err) twice."""
    async with WSManTestServer(hosts=hosts) as server:
        remotes = [arg for url in server.endpoints for arg in ("-r", url)]
        code1, one, err1 = await aiowsman(*command, *remotes, *AUTH)
        code2, two, err2 = await aiowsman(*command, *remotes, *AUTH, "--processes", "2")
    assert code1 == code2 == 0
    return one, err1, two, err2


async def test_processes_gives_the_same_records_as_one_process() -> None:
    one, err1, two, err2 = await _one_then_two_processes(
        30, "get", "wmicimv2/Win32_OperatingSystem"
    )
    assert _content(two) == _content(one)
    assert len(records(two)) == 30
    assert "running on 2 worker processes" in err2
    assert "worker processes" not in err1


async def test_enumerated_items_are_the_same_records_from_worker_processes() -> None:
    # In one process the items are streamed to the output as they come; from
    # worker processes each host's items come back whole. The output is the same.
    one, _, two, _ = await _one_then_two_processes(4, "enumerate", "wmicimv2/Win32_Service")
    assert sorted(one.splitlines()) == sorted(two.splitlines())
    assert len(records(two)) == 4 * 200


async def test_a_long_hosts_file_uses_every_core_unless_told_otherwise(tmp_path: Path) -> None:
    async with WSManTestServer(hosts=1) as server:
        hosts = tmp_path / "hosts.txt"
        hosts.write_text((server.endpoints[0] + "\n") * AUTO_PROCESSES_FROM)
        args = ["identify", "--hosts", str(hosts), "--concurrency", "50", *AUTH]
        code, out, err = await aiowsman(*args)
        code1, out1, err1 = await aiowsman(*args, "--processes", "1")
    assert code == code1 == 0
    assert len(records(out)) == len(records(out1)) == AUTO_PROCESSES_FROM
    assert ("running on" in err) == (CPUS > 1)
    assert "running on" not in err1


async def test_processes_and_dask_are_refused_together() -> None:
    code, out, err = await aiowsman(
        "identify", "-r", "h", *AUTH, "--processes", "2", "--dask", "tcp://127.0.0.1:1"
    )
    assert code == 2 and out == ""
    assert "--processes and --dask do not mix" in err


async def test_a_bad_process_count_is_a_usage_error() -> None:
    code, _, err = await aiowsman("identify", "-r", "h", *AUTH, "--processes", "zero")
    assert code == 2
    assert "--processes" in err and "auto" in err
    assert "Traceback" not in err


def _as_a_terminal_job() -> None:
    """In the child before exec: a process group of its own, Ctrl-C not ignored.

    An interactive shell gives each job its own group and leaves SIGINT at its
    default; a non-interactive one starting this suite in the background (`&`)
    leaves it ignored, which Python would then honour.
    """
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _interrupt(ready: Callable[[list[psutil.Process], WSManTestServer], bool]) -> str:
    """Run the CLI on two worker processes, Ctrl-C it once ``ready``: its stderr.

    Asserts the run ended as interrupted (130) with no worker left running.
    """
    slow = {i: HostBehaviour(latency=60.0) for i in range(20)}
    async with WSManTestServer(hosts=20, behaviours=slow) as server:
        remotes = [arg for url in server.endpoints for arg in ("-r", url)]
        env = dict(os.environ, AIOWSMAN_PASSWORD="pass")
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aiowsman.cli", "identify", *remotes, *AUTH,
            "--processes", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            preexec_fn=_as_a_terminal_job,
        )  # fmt: skip
        workers: list[psutil.Process] = []
        try:
            for _ in range(3000):  # until ready (bounded: 60 s)
                await asyncio.sleep(0.02)
                try:
                    workers = psutil.Process(proc.pid).children()
                except psutil.NoSuchProcess:
                    break  # the CLI ended: its output says why (below)
                if ready(workers, server):
                    break
            if not ready(workers, server) or proc.returncode is not None:
                _, err = await asyncio.wait_for(proc.communicate(), 30)
                raise AssertionError(
                    f"workers {workers}, server {server.summary()}; the CLI ended "
                    f"({proc.returncode}): {err.decode()[-300:]}"
                )
            # Ctrl-C in a terminal signals the job's process group.
            os.killpg(proc.pid, signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            running = [w for w in workers if _alive(w)]  # looked at before the clean-up below
        finally:
            # A failing run leaves nothing behind for the tests after it.
            for w in workers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    w.kill()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 130
    assert running == []
    return err.decode()


async def test_ctrl_c_stops_the_run_and_its_worker_processes() -> None:
    err = await _interrupt(
        lambda workers, server: len(workers) == 2 and server.summary()["connections"] >= 4
    )
    assert "interrupted" in err


async def test_ctrl_c_while_the_workers_start_is_a_clean_interruption() -> None:
    # The first worker has just been spawned: its interpreter is still starting.
    err = await _interrupt(lambda workers, server: len(workers) >= 1)
    assert "interrupted" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
