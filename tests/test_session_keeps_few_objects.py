"""What a per-host session keeps, and that keeping less changed nothing a user sees.

Thousands of ``AsyncSession`` objects open at once (one per host of a
fan-out, as an async service embeds the library) are walked again and again
by CPython's garbage collector while they wait on the network: every object
a session keeps costs collector time in proportion
(``benchmarks/results/profiles/s23-*``). So a session keeps only what it
needs, and each saving here has a behaviour to keep:

* sessions of one account share one ``BasicAuth`` (and the headers it
  makes) while any of them is open, and it goes with the last of them: no
  password outlives the sessions given it;
* Basic is its own context (no per-session context object);
* only whether the server is OMI is kept from its Identify answer, which
  still spares the Identify the ``"auto"`` datetime format would send;
* the connections a shared pool hands a session are noted through a
  context variable set, not reset, by each request: a value left behind
  never notes another pool's connections;
* operation deadlines fire in one context per thread, not a copy of the
  caller's per timer: loops in two threads each get their own.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import gc
import threading
from collections.abc import Callable

import aiohttp
import pytest

from aiowsman import AsyncSession
from aiowsman._deadline import Deadline, timer_context
from aiowsman._http import CredentialHeader, credential_tag, new_client
from aiowsman.auth import BasicAuth, resolve_auth
from aiowsman.auth import basic as basic_module
from aiowsman.errors import AuthenticationError, ConfigurationError
from aiowsman.testing import WSManTestServer
from aiowsman.transport import _HELD, GuardedConnector, _Held
from tests.conftest import USER
from tests.test_deadlines_of_successive_operations import _timed

START = dt.datetime(2031, 5, 17, 3, 0, tzinfo=dt.UTC)


def _entries_for(password: str) -> list[tuple[str, str]]:
    return [key for key in list(basic_module._SHARED.keys()) if key[1] == password]


def test_sessions_of_one_account_share_one_basic_auth() -> None:
    first = AsyncSession(
        "127.0.0.1", username="u", password="p1", auth="basic", allow_unencrypted=True
    )
    second = AsyncSession(
        "127.0.0.2", username="u", password="p1", auth="basic", allow_unencrypted=True
    )
    other = AsyncSession(
        "127.0.0.1", username="u", password="p2", auth="basic", allow_unencrypted=True
    )
    assert first.auth is second.auth
    assert other.auth is not first.auth
    assert isinstance(first.auth, BasicAuth)
    header = first.auth.preemptive_headers["Authorization"]
    # Tagged once, by the scheme, for the pool's credential keying.
    assert type(header) is CredentialHeader
    assert header.tag == credential_tag(str(header))
    assert header != other.auth.preemptive_headers["Authorization"]


def test_the_shared_auth_goes_with_its_last_session() -> None:
    password = "Only-Here-9"
    sessions = [
        AsyncSession(
            f"127.0.0.{i}", username="u", password=password, auth="basic", allow_unencrypted=True
        )
        for i in range(1, 4)
    ]
    assert _entries_for(password) == [("u", password)]
    sessions.pop()
    gc.collect()
    assert _entries_for(password) == [("u", password)]  # still used by two
    sessions.clear()
    gc.collect()
    assert _entries_for(password) == []
    # A new session after that makes a new one.
    again = AsyncSession(
        "127.0.0.1", username="u", password=password, auth="basic", allow_unencrypted=True
    )
    assert _entries_for(password) == [("u", password)]
    del again


def test_basic_auth_keeps_its_user_name() -> None:
    assert BasicAuth.shared("DOMAIN\\user", "p").username == "DOMAIN\\user"
    assert BasicAuth("user@example.com", "p").username == "user@example.com"


def test_a_password_that_cannot_be_a_key_is_used_unshared() -> None:
    # Not a str, as typed, but it worked before sharing: it still does.
    odd = bytearray(b"p")
    first = BasicAuth.shared("u", odd)  # type: ignore[arg-type]
    second = BasicAuth.shared("u", odd)  # type: ignore[arg-type]
    assert first is not second
    assert first.preemptive_headers == second.preemptive_headers


def test_an_auth_object_given_is_used_as_given() -> None:
    mine = BasicAuth("u", "p")
    session = AsyncSession("127.0.0.1", auth=mine, allow_unencrypted=True)
    assert session.auth is mine
    assert resolve_auth("basic", username="u", password="p") is not mine


def test_basic_is_its_own_context_and_refuses_encryption() -> None:
    auth = BasicAuth.shared("u", "p")
    assert auth.new_context(url="http://h/wsman", host="h") is auth
    with pytest.raises(ConfigurationError):
        auth.new_context(url="http://h/wsman", host="h", encrypt=True)
    refusal = auth.refusal(
        type("R", (), {"headers": {"www-authenticate": "Negotiate, Basic realm=x"}})()  # type: ignore[arg-type]
    )
    assert isinstance(refusal, AuthenticationError)
    assert refusal.scheme == "basic"
    assert "refused the user name or password" in str(refusal)
    assert "Basic, Negotiate" in str(refusal)
    assert "p" not in repr(auth).replace("scheme", "")


def test_request_headers_are_made_once_per_base() -> None:
    auth = BasicAuth("u", "p")
    base = {"User-Agent": "a", "Authorization": "overridden"}
    headers = auth.request_headers(base)
    assert headers == {"User-Agent": "a", "Authorization": auth.preemptive_headers["Authorization"]}
    assert auth.request_headers(base) is headers
    other_base = {"User-Agent": "b"}
    assert auth.request_headers(other_base)["User-Agent"] == "b"
    assert auth.request_headers(base) is not headers  # the last base asked is kept
    assert auth.request_headers(base) == headers


async def test_two_sessions_of_one_account_are_each_served(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server(hosts=2) as server:
        async with make_session(server, 0) as first, make_session(server, 1) as second:
            assert first.auth is second.auth
            await first.identify()
            await second.identify()
        assert server.host(0).stats.by_user == {USER: 1}
        assert server.host(1).stats.by_user == {USER: 1}


async def test_an_explicit_identify_spares_the_datetime_identify(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    locator = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/AIOWSMAN_Schedule"
    async with make_server(flavour="omi") as omi, make_session(omi) as session:
        assert (await session.identify()).is_omi
        await session.create(locator, {"Name": "Patch", "Command": "c", "Start": START})
        await session.put(
            f"{locator}?Name=Patch&__cimnamespace=root/cimv2", {"Name": "Patch", "Start": START}
        )
    assert omi.host(0).stats.by_operation["Identify"] == 1


async def test_an_identify_of_a_fixed_format_session_changes_nothing(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server(flavour="omi") as omi:
        async with make_session(omi, datetime_format="cim") as session:
            await session.identify()
            assert session._server_is_omi is None  # nothing to decide: not kept
        async with make_session(omi) as session:
            await session.identify()
            assert session._server_is_omi is True


async def _request_noting_in(held: _Held, client: aiohttp.ClientSession, url: str) -> None:
    """One POST with ``held`` as the transport's connection record (as _send sets it)."""
    token = _HELD.set(held)
    try:
        async with client.post(url, data=b"x") as response:
            await response.read()  # an error status (no credentials): a connection all the same
    finally:
        _HELD.reset(token)


async def test_a_held_of_another_pool_notes_nothing(
    make_server: Callable[..., WSManTestServer],
) -> None:
    connector = GuardedConnector(limit=0)
    client = new_client(connector, connector_owner=True)
    other = GuardedConnector(limit=0)
    try:
        async with make_server() as server:
            url = server.endpoints[0]
            stale = _Held(1, other)
            await _request_noting_in(stale, client, url)
            assert stale.protocol is None and stale.last is None

            mine = _Held(1, connector)
            await _request_noting_in(mine, client, url)
            assert mine.protocol is not None and mine.key is not None

            # Once its connections are closed it forgets the pool: noting stops.
            mine.close_connections()
            assert mine.connector is None
            await _request_noting_in(mine, client, url)
            assert mine.protocol is None and mine.last is None
            assert server.host(0).stats.connections >= 1  # they reached the server
    finally:
        await client.close()
        await other.close()


async def test_sessions_one_after_another_in_one_task_close_their_connections(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # The context variable is left set by each request: the next session of
    # the same task must still note (and close) its own connections.
    async with make_server(hosts=3) as server, make_session(server, 0) as keeper:
        await keeper.identify()
        for index in (1, 2, 1):
            async with make_session(server, index) as session:
                await session.identify()
                await session.identify()
            assert server.host(index).stats.open_connections <= 1
            for _ in range(200):
                if server.host(index).stats.open_connections == 0:
                    break
                await asyncio.sleep(0.01)
            assert server.host(index).stats.open_connections == 0
        assert server.host(0).stats.open_connections == 1


def test_timers_run_in_one_context_per_thread() -> None:
    mine = timer_context()
    assert timer_context() is mine
    theirs: list[contextvars.Context] = []
    thread = threading.Thread(target=lambda: theirs.append(timer_context()))
    thread.start()
    thread.join(10)
    assert theirs and theirs[0] is not mine


def test_deadlines_fire_in_loops_of_two_threads_at_once() -> None:
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="unset")

    async def timed() -> str:
        variable.set("caller's")
        deadline = Deadline(asyncio.get_running_loop())
        barrier.wait()
        try:
            return await _timed(deadline, 0.05, 10)
        finally:
            deadline.close()

    def run() -> None:
        outcomes.append(asyncio.run(timed()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert outcomes == ["timeout", "timeout"]
    assert variable.get() == "unset"
