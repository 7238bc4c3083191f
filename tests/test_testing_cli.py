"""``python -m aiowsman.testing`` runs the server in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tests.testing_raw import IDENTIFY, post

ROOT = Path(__file__).resolve().parent.parent


async def _start(*args: str) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiowsman.testing",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 15)


async def test_cli_prints_endpoints_serves_them_and_exits_cleanly_on_sigterm() -> None:
    proc = await _start("--hosts", "3", "--users", "alice:secret")
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        info = json.loads(line)
        assert len(info["endpoints"]) == 3 and info["users"] == ["alice"]
        async with aiohttp.ClientSession() as http:
            reply = await post(
                http,
                info["endpoints"][2],
                IDENTIFY,
                headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"},
            )
        assert reply.status == 200
    finally:
        code = await _stop(proc)
    assert code == 0


async def test_cli_ready_file_holds_the_endpoints(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = await _start("--hosts", "2", "--address-mode", "addresses", "--ready-file", str(ready))
    try:
        assert proc.stdout is not None
        summary = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert summary["ready_file"] == str(ready)
        endpoints = json.loads(ready.read_text())["endpoints"]
        assert len(endpoints) == 2 and endpoints[0] != endpoints[1]
    finally:
        code = await _stop(proc)
    assert code == 0
