"""An IPv6 literal endpoint, end to end over [::1] (skipped where ::1 is unavailable)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from aiowsman import AsyncSession, ConnectError

IDENTIFY = (Path(__file__).parent / "corpus" / "knifewin-identify-response-stack3.xml").read_bytes()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")


@pytest.fixture
async def ipv6_port() -> AsyncIterator[int]:
    """A minimal WS-Man Identify responder on [::1] (the test server is IPv4-only)."""

    async def identify(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=IDENTIFY, content_type="application/soap+xml", charset="UTF-8")

    app = web.Application()
    app.router.add_post("/wsman", identify)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6)
    sock.bind(("::1", 0))
    await web.SockSite(runner, sock).start()
    try:
        yield sock.getsockname()[1]
    finally:
        await runner.cleanup()


async def test_identify_over_a_bracketed_ipv6_endpoint(ipv6_port: int) -> None:
    async with AsyncSession(f"[::1]:{ipv6_port}", auth="none") as session:
        assert session.host == f"[::1]:{ipv6_port}"
        info = await session.identify()
    assert info.product_vendor


async def test_errors_name_the_ipv6_host_in_brackets() -> None:
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        closed_port = sock.getsockname()[1]
    async with AsyncSession(f"http://[::1]:{closed_port}/wsman", auth="none") as session:
        with pytest.raises(ConnectError) as info:
            await session.identify()
    assert info.value.host == f"[::1]:{closed_port}"
