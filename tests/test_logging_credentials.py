"""Credentials never reach a log, even with the root logger at DEBUG.

pyspnego logs each NTLM message (base64) at DEBUG; aiowsman keeps its logger
at INFO unless the application chose a level for it. Checked in a fresh
process, as an application configures logging: ``basicConfig(DEBUG)`` first.
"""

from __future__ import annotations

import asyncio
import sys

from tests.cli_run import cli_env

PASSWORD = "S3cret-Pa55"
#: base64 of the start of every NTLM message ("NTLMSSP\0").
NTLM_B64 = "TlRMTVNTUA"

APP = f"""
import asyncio, logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(message)s")
if "--spnego-debug" in sys.argv:
    logging.getLogger("spnego").setLevel(logging.DEBUG)  # asked for, explicitly

from aiowsman import AsyncSession
from aiowsman.testing import WSManTestServer
from aiowsman.testing.spnego_auth import NegotiateServerAuth, NTLMUserFile


async def main():
    with NTLMUserFile({{"alice": "{PASSWORD}"}}, domain="CORP"):
        async with WSManTestServer(auth=(), auth_handlers=[NegotiateServerAuth()]) as server:
            async with AsyncSession(server.endpoints[0], auth="ntlm", username="CORP\\\\alice",
                                    password="{PASSWORD}") as session:
                await session.get("wmicimv2/Win32_Service", Name="WinRM")

asyncio.run(main())
"""


async def run_app(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", APP, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(None),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_root_logger_at_debug_logs_the_exchange_but_no_token_or_password() -> None:
    log = await run_app()
    assert "Get action=http://schemas.xmlsoap.org/ws/2004/09/transfer/Get" in log
    assert NTLM_B64 not in log
    assert PASSWORD not in log


async def test_an_application_that_asks_for_spnego_debug_gets_it() -> None:
    log = await run_app("--spnego-debug")
    assert NTLM_B64 in log  # the documented opt-in; and proof the first test can fail
