"""Run the ``aiowsman`` command line as a user does: a subprocess, real stdout and stderr.

The servers of these tests run in the test's event loop, so the CLI is
started with ``asyncio.create_subprocess_exec`` (a blocking
``subprocess.run`` would stop the server from answering).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: Basic over plain HTTP to the test server's default account.
AUTH = ["-u", "user", "--auth", "basic", "--insecure-allow-unencrypted"]


def cli_env(
    password: str | None = "pass", extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a CLI subprocess: this tree importable, the password set or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("AIOWSMAN_PASSWORD", None)
    if password is not None:
        env["AIOWSMAN_PASSWORD"] = password
    env.update(extra or {})
    return env


async def aiowsman(
    *args: str,
    stdin: bytes | None = None,
    password: str | None = "pass",
    cwd: Path | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109 - a bound on the subprocess, not an API
) -> tuple[int, str, str]:
    """Run ``python -m aiowsman.cli ARGS``; returns ``(status, stdout, stderr)``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiowsman.cli", *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_env(password), cwd=cwd,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def records(out: str) -> list[dict[str, Any]]:
    """The JSON lines of an output."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]
