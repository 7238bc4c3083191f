"""The pytest plugin's fixtures, used from a throw-away test suite (in-process; the
installed wheel in a clean virtualenv is tests/test_packaging.py's)."""

from __future__ import annotations

import importlib.metadata

import pytest

pytest_plugins = ["pytester"]
PLUGIN = "aiowsman.testing.pytest_plugin"

USER_TESTS = """
import base64

import aiohttp
import pytest

from aiowsman.testing import WSManTestServer

IDENTIFY = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    b"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)


@pytest.mark.asyncio
async def test_endpoint_answers_with_the_fixture_credentials(wsman_endpoint, wsman_credentials):
    token = base64.b64encode(":".join(wsman_credentials).encode()).decode()
    headers = {
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Authorization": f"Basic {token}",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(wsman_endpoint, data=IDENTIFY, headers=headers) as resp:
            assert resp.status == 200


def test_server_fixture_is_one_host(wsman_server):
    assert isinstance(wsman_server, WSManTestServer)
    assert len(wsman_server.endpoints) == 1


def test_factory_starts_servers_with_arguments(wsman_server_factory):
    server = wsman_server_factory(hosts=3, seed=5)
    assert len(server.endpoints) == 3
    assert server.seed == 5
"""


def test_plugin_fixtures_work_in_a_user_test_suite_in_strict_mode(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    # Installed, the package registers the plugin itself (entry point
    # pytest11); from a source tree it has to be named.
    installed = any(ep.value == PLUGIN for ep in importlib.metadata.entry_points(group="pytest11"))
    args = ["-q"] if installed else ["-p", PLUGIN, "-q"]
    result = pytester.runpytest_inprocess(*args)
    result.assert_outcomes(passed=3)
