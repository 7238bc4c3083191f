"""The command line's messages name what a command-line user writes, once.

Run as a user runs it: a subprocess against the test server.
"""

from __future__ import annotations

import pytest

from aiowsman.testing import WSManTestServer
from tests.cli_run import AUTH, aiowsman, records


async def test_basic_over_http_refusal_names_the_cli_switch_once_for_every_host() -> None:
    async with WSManTestServer(hosts=2) as server:
        code, out, err = await aiowsman(
            "identify", "-r", server.endpoints[0], "-r", server.endpoints[1],
            "-u", "user", "--auth", "basic",
        )  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1, err  # one line, no per-host repeats, no summary
    assert "--insecure-allow-unencrypted" in err and "allow_unencrypted=True" not in err
    assert all("--insecure-allow-unencrypted" in r["error"] for r in records(out))


@pytest.mark.parametrize("scheme", ["digest", "Digest", "kerbros"])
async def test_an_unknown_auth_scheme_is_one_usage_line_before_anything_is_sent(
    scheme: str,
) -> None:
    code, out, err = await aiowsman("identify", "-r", "127.0.0.1:1", "-u", "u", "--auth", scheme)
    assert code == 2
    assert out == "" and len(err.splitlines()) == 1
    assert "negotiate" in err  # says what to use instead


@pytest.mark.parametrize("argv", [["-p", "pass"], ["-p:pass"], ["-password", "pass"]])
async def test_a_password_switch_gets_the_helpful_refusal_however_spelled(
    argv: list[str],
) -> None:
    code, out, err = await aiowsman("identify", "-r", "127.0.0.1:1", "-u", "u", *argv)
    assert code == 2 and out == ""
    assert "AIOWSMAN_PASSWORD" in err and "unrecognized" not in err


async def test_identify_without_credentials_is_unauthenticated_like_test_wsman() -> None:
    # The server requires Basic for everything but the anonymous Identify.
    async with WSManTestServer(hosts=1, users={"user": "pass"}) as server:
        code, out, err = await aiowsman("identify", "-r", server.endpoints[0])
    assert code == 0, err
    assert "ProductVendor = Microsoft Corporation" in out
    # Unauthenticated, Windows hides the OS version (MS-WSMV 3.1.4.16).
    assert "ProductVersion = OS: 0.0.0 SP: 0.0 Stack: 3.0" in out


async def test_identify_with_a_user_authenticates() -> None:
    async with WSManTestServer(hosts=1, users={"user": "pass"}) as server:
        code, _, err = await aiowsman(
            "identify", "-r", server.endpoints[0], *AUTH, password="wrong"
        )
    assert code == 3
    assert "refused the user name or password" in err
