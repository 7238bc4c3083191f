"""Sessions given no pool share one per event loop, and keep apart on it all the same.

``AsyncSession(host)`` without ``client_session`` or ``connector`` (and a
scheme not bound to connections: Basic, none, certificate) uses its event
loop's default pool instead of making and closing an aiohttp client of its
own. That must change nothing a user can see but the cost:

* a connection is only ever reused by a session with the same credentials,
  TLS settings and proxy (a server that authenticates connections would
  serve the second user as the first);
* a closed session's idle connections are closed, as its own pool's were,
  while another session's request in flight is left alone;
* a session bounds its own requests in flight (``max_channels``);
* each event loop has its own pool, closed with its last session, and a
  forked child never touches the parent's.

Observed on the server side where it can be (``HostStats``): who each
request was served as, connections opened and open.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable

import pytest

from aiowsman import AsyncSession, TLSError
from aiowsman.errors import TimeoutError
from aiowsman.protocol import ResourceLocator
from aiowsman.testing import WSManTestServer
from aiowsman.transport import _acquire_loop_pool, _forget_pools_after_fork, _release_loop_pool
from tests.conftest import PASSWORD, USER, slow
from tests.waiting import until

SERVICE = "wmicimv2/Win32_Service"
OMI_SERVICE = ResourceLocator(
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/Win32_Service",
    __cimnamespace="root/cimv2",
    Name="WinRM",
)
OTHER, OTHER_PASSWORD = "other", "Other-Pa55"


def _client(session: AsyncSession) -> object:
    transport = session._transport
    assert transport is not None
    return transport._client


async def test_sessions_given_no_pool_share_the_loops_client(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(hosts=2) as server,
        make_session(server, 0) as first,
        make_session(server, 1) as second,
    ):
        await first.identify()
        await second.identify()
        assert _client(first) is _client(second)


async def test_sessions_of_one_identity_reuse_a_connection_while_open(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server() as server,
        make_session(server) as first,
        make_session(server) as second,
    ):
        await first.identify()
        await second.identify()  # the first's idle connection: same user, same TLS
        assert server.host(0).stats.connections == 1


async def test_two_users_on_the_default_pool_are_each_served_as_themselves(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # OMI authenticates the connection: a connection reused across users
    # would serve the second user's requests as the first user.
    users = {USER: PASSWORD, OTHER: OTHER_PASSWORD}
    async with make_server(flavour="omi", users=users) as omi:
        async with (
            make_session(omi) as mine,
            make_session(omi, username=OTHER, password=OTHER_PASSWORD) as theirs,
        ):
            for _ in range(3):
                await mine.get(OMI_SERVICE)
                await theirs.get(OMI_SERVICE)
            assert _client(mine) is _client(theirs)
        assert omi.host(0).stats.by_user == {USER: 3, OTHER: 3}


async def test_a_session_without_credentials_never_rides_another_users_connection(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server(flavour="omi") as omi:
        async with make_session(omi) as user, make_session(omi, auth="none", timeout=1.0) as anon:
            await user.get(OMI_SERVICE)  # leaves an authenticated connection idle
            # OMI never answers an unauthenticated request on a fresh
            # connection: a timeout here is the proof it got a fresh one.
            with pytest.raises(TimeoutError):
                await anon.get(OMI_SERVICE)
        assert omi.host(0).stats.by_user == {USER: 1}


async def test_tls_settings_keep_connections_apart_on_the_default_pool(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
) -> None:
    # A session that checks nothing leaves a connection idle; a session that
    # verifies certificates (system CAs: this server's CA is not among them)
    # must not be handed it, and so must fail its own verification.
    async with (
        make_server(tls=make_tls()) as server,
        make_session(server, skip_ca_check=True, allow_unencrypted=False) as lax,
        make_session(server, allow_unencrypted=False) as strict,
    ):
        await lax.identify()
        with pytest.raises(TLSError):
            await strict.identify()
        assert _client(lax) is _client(strict)


async def test_a_closed_session_closes_its_idle_connections(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server(hosts=3) as server, make_session(server, 0) as keeper:
        await keeper.identify()  # keeps the loop's pool open throughout
        for index in (1, 2):
            async with make_session(server, index) as session:
                await session.identify()
                assert server.host(index).stats.open_connections == 1
            await until(lambda index=index: server.host(index).stats.open_connections == 0)
        assert server.host(0).stats.open_connections == 1  # still open: still in use


async def test_closing_a_session_leaves_another_sessions_request_alone(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # The staying session's Invoke (never resent: a dropped connection would
    # fail it) rides the connection the closing session opened and noted.
    async with (
        make_server(behaviours={0: slow("Invoke", 0.5)}) as server,
        make_session(server) as staying,
    ):
        closing = make_session(server)
        await closing.identify()
        await staying.identify()  # the same connection, same identity
        call = asyncio.ensure_future(staying.invoke("StopService", f"{SERVICE}?Name=WinRM"))
        await until(lambda: server.host(0).stats.in_flight == 1)
        await closing.aclose()
        await asyncio.wait_for(call, 20)
        assert server.host(0).stats.connections == 1


async def test_max_channels_bounds_a_session_on_the_default_pool(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: slow("Get", 0.2)}) as server,
        make_session(server, max_channels=2) as session,
    ):
        await asyncio.gather(*(session.get(SERVICE, Name="WinRM") for _ in range(6)))
        assert server.host(0).stats.max_in_flight == 2


async def test_the_pool_closes_with_the_last_session_of_its_loop(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server(hosts=2) as server:
        first, second = make_session(server, 0), make_session(server, 1)
        await first.identify()
        await second.identify()
        client = _client(first)
        await first.aclose()
        assert not client.closed  # type: ignore[attr-defined]
        await second.aclose()
        assert client.closed  # type: ignore[attr-defined]
        async with make_session(server, 0) as later:
            await later.identify()
            assert _client(later) is not client  # a fresh pool for the next one


def test_each_event_loop_has_a_pool_of_its_own(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    clients: list[object] = []

    async def use(server: WSManTestServer, ready: threading.Barrier) -> None:
        async with make_session(server) as session:
            await session.identify()
            clients.append(_client(session))
            await asyncio.to_thread(ready.wait, 20)  # both loops' sessions open at once

    async def main() -> None:
        async with make_server() as server:
            ready = threading.Barrier(2)
            other = threading.Thread(target=asyncio.run, args=(use(server, ready),))
            other.start()
            await use(server, ready)
            await asyncio.to_thread(other.join, 20)

    asyncio.run(main())
    assert len(clients) == 2 and clients[0] is not clients[1]
    assert all(c.closed for c in clients)  # type: ignore[attr-defined]


async def test_a_forked_child_never_closes_the_pool_it_inherited() -> None:
    inherited = _acquire_loop_pool()
    assert inherited is not None
    _forget_pools_after_fork()  # as os.fork() runs it in the child
    fresh = _acquire_loop_pool()
    assert fresh is not None and fresh is not inherited
    # The last user's release hands back the client to close -- never the inherited one.
    assert _release_loop_pool(inherited) is None
    assert not inherited.client.closed  # the parent's sockets: left alone
    assert _release_loop_pool(fresh) is fresh.client
    await fresh.client.close()
    await inherited.client.close()  # (in this test the "parent" is us)
