"""No cookie set by one host is ever sent again, to it or to another host.

WinRM uses no cookies, but a load balancer in front of a listener may set an
affinity cookie (the test server's ``HostBehaviour(set_cookie=)``). Cookies
are scoped by host name, not port, so with a cookie jar the fan-out runner's
shared client would send one host's cookie to every other host of the same
name. Hosts here are reached as ``localhost`` (aiohttp keeps no cookies for
IP addresses at all).
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from yarl import URL

from aiowsman import AsyncSession
from aiowsman.fanout import run
from aiowsman.testing import HostBehaviour, WSManTestServer
from tests.conftest import BASIC_OVER_HTTP, PASSWORD, USER

COOKIE = "ARRAffinity=0123456789abcdef; Path=/"


def by_name(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


def cookies_received(server: WSManTestServer) -> int:
    return sum(sum(h.stats.cookies_received.values()) for h in server.hosts)


async def test_the_fan_out_runner_never_carries_a_cookie_to_another_host(
    make_server: Callable[..., WSManTestServer],
) -> None:
    async def two_gets(session: AsyncSession) -> None:
        for _ in range(2):
            await session.get("wmicimv2/Win32_Service", Name="WinRM")

    behaviours = {0: HostBehaviour(set_cookie=COOKIE)}
    async with make_server(hosts=3, behaviours=behaviours) as server:
        results = await run(
            [by_name(url) for url in server.endpoints],
            two_gets,
            concurrency=1,  # host 0 first: its cookie would reach the others
            **BASIC_OVER_HTTP,
        ).collect()
        assert all(r.ok for r in results)
        assert server.summary()["requests"] == 6
        assert cookies_received(server) == 0


async def test_a_session_never_sends_a_cookie_back(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server(behaviours={0: HostBehaviour(set_cookie=COOKIE)}) as server:
        async with AsyncSession(by_name(server.endpoints[0]), **BASIC_OVER_HTTP) as session:
            for _ in range(3):
                await session.identify()
        assert server.host(0).stats.by_operation["Identify"] == 3
        assert cookies_received(server) == 0


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
async def test_a_callers_client_session_lends_its_pool_not_its_cookies(
    make_server: Callable[..., WSManTestServer], auth: str
) -> None:
    async with make_server(auth=(auth,)) as server:
        url = by_name(server.endpoints[0])
        async with aiohttp.ClientSession() as http:
            http.cookie_jar.update_cookies({"session": "from-the-caller"}, URL(url))
            async with AsyncSession(
                url,
                auth=auth,
                username=USER,
                password=PASSWORD,
                allow_unencrypted=True,
                client_session=http,
            ) as session:
                await session.identify()
        assert cookies_received(server) == 0
