"""An enumeration is bounded whatever the service does, and ends released.

DSP0226 8.2.3 and 8.4: a service may return fewer items than MaxElements,
never more. A service that never says EndOfSequence is stopped by the
caller's ``max_items`` or ``deadline``, and ``to_list()`` is bounded by
default. Every early end sends Release first -- checked on the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from aiowsman import (
    AsyncSession,
    ConfigurationError,
    EnumerationTooLargeError,
    Item,
    ProtocolError,
    TimeoutError,
)
from aiowsman.enumerator import DEFAULT_LIST_MAX_ITEMS, MAX_EMPTY_BATCHES
from aiowsman.protocol import parse_envelope
from aiowsman.protocol.response import parse_enumeration
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer

SERVICE = "wmicimv2/Win32_Service"
SERVICES = 200  # Win32_Service instances of simulated host 0 (seed 0)
K = InjectionKind
#: A regression must fail the test, not run until the suite's timeout.
GUARD = 60.0


def on(kind: InjectionKind, *operations: str, **kwargs: float) -> HostBehaviour:
    """A host that applies ``kind`` to the given operations only."""

    def inject(info: RequestInfo) -> Injection | None:
        return Injection(kind, **kwargs) if info.operation in operations else None  # type: ignore[arg-type]

    return HostBehaviour(inject=inject)


@pytest.fixture
async def hostile(
    request: pytest.FixtureRequest,
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
) -> AsyncIterator[tuple[WSManTestServer, AsyncSession]]:
    behaviour: HostBehaviour = request.param
    async with make_server(behaviours={0: behaviour}) as server, make_session(server) as session:
        yield server, session


def released(server: WSManTestServer) -> bool:
    host = server.host(0)
    return host.contexts_open == 0 and len(host.stats.releases) == 1


# -- MaxElements ----------------------------------------------------------------------


@pytest.mark.parametrize("hostile", [on(K.OVERSIZE_BATCH, "Pull", count=5)], indirect=True)
async def test_a_pull_with_more_items_than_max_elements_is_a_protocol_error(
    hostile: tuple[WSManTestServer, AsyncSession],
) -> None:
    server, session = hostile
    async with asyncio.timeout(GUARD):
        with pytest.raises(ProtocolError, match="more than the 20 items asked for") as info:
            await session.enumerate(SERVICE, batch_items=20).to_list()
    assert (info.value.host, info.value.operation) == (session.host, "Pull")
    assert released(server)


@pytest.mark.parametrize("hostile", [on(K.OVERSIZE_BATCH, "Enumerate")], indirect=True)
async def test_an_enumerate_response_with_too_many_items_is_refused_and_released(
    hostile: tuple[WSManTestServer, AsyncSession],
) -> None:
    server, session = hostile
    async with asyncio.timeout(GUARD):
        with pytest.raises(ProtocolError, match="MaxElements") as info:
            async for _ in session.enumerate(SERVICE, batch_items=20):
                pass
    assert info.value.operation == "Enumerate"
    assert released(server)


def test_an_oversize_batch_is_read_no_further_than_one_item_past_the_limit() -> None:
    items = "".join(f"<i>{n}</i>" for n in range(10_000))
    data = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><s:Body>'
        f"<n:PullResponse><n:EnumerationContext>c</n:EnumerationContext><n:Items>{items}"
        "</n:Items></n:PullResponse></s:Body></s:Envelope>"
    ).encode()
    batch = parse_enumeration(parse_envelope(data), max_elements=5)
    assert batch.excess and len(batch.items) == 6 and batch.context == "c"
    assert not parse_enumeration(parse_envelope(data), max_elements=10_000).excess


@pytest.mark.parametrize(("first", "second"), [(3, 5), (7, 5)])
def test_the_bound_holds_for_the_whole_batch_however_many_items_lists_it_holds(
    first: int, second: int
) -> None:
    def items(start: int, count: int) -> str:
        return (
            "<n:Items>" + "".join(f"<i>{n}</i>" for n in range(start, start + count)) + "</n:Items>"
        )

    data = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><s:Body>'
        f"<n:PullResponse><n:EnumerationContext>c</n:EnumerationContext>{items(0, first)}"
        f"{items(first, second)}</n:PullResponse></s:Body></s:Envelope>"
    ).encode()
    batch = parse_enumeration(parse_envelope(data), max_elements=5)
    assert batch.excess and [i.text for i in batch.items] == [str(n) for n in range(6)]  # type: ignore[union-attr]


# -- services that never end ----------------------------------------------------------


@pytest.mark.parametrize("hostile", [on(K.ENDLESS_ENUMERATION, "Enumerate", "Pull")], indirect=True)
async def test_max_items_stops_an_endless_enumeration_and_releases_it(
    hostile: tuple[WSManTestServer, AsyncSession],
) -> None:
    server, session = hostile
    seen = 0
    async with asyncio.timeout(GUARD):
        with pytest.raises(EnumerationTooLargeError, match="more than 450 items") as info:
            async for _ in session.enumerate(SERVICE, batch_items=100, max_items=450):
                seen += 1
    assert seen == 450  # every item up to the bound was delivered
    assert info.value.max_items == 450 and info.value.host == session.host
    assert released(server)


@pytest.mark.parametrize("hostile", [on(K.ENDLESS_ENUMERATION, "Enumerate", "Pull")], indirect=True)
async def test_to_list_is_bounded_by_default(
    hostile: tuple[WSManTestServer, AsyncSession],
) -> None:
    server, session = hostile
    async with asyncio.timeout(GUARD):
        with pytest.raises(EnumerationTooLargeError, match=r"to_list\(max_items=N\)") as info:
            await session.enumerate(SERVICE, batch_items=250).to_list()
    assert info.value.max_items == DEFAULT_LIST_MAX_ITEMS
    assert released(server)


@pytest.mark.parametrize("hostile", [on(K.ENDLESS_ENUMERATION, "Enumerate", "Pull")], indirect=True)
async def test_to_list_takes_its_bound_from_the_caller(
    hostile: tuple[WSManTestServer, AsyncSession],
) -> None:
    server, session = hostile
    async with asyncio.timeout(GUARD):
        with pytest.raises(EnumerationTooLargeError) as info:
            await session.enumerate(SERVICE, batch_items=30).to_list(max_items=75)
    assert info.value.max_items == 75
    assert released(server)


@pytest.mark.parametrize(
    "hostile",
    [HostBehaviour(latency=0.05, always=Injection(K.ENDLESS_ENUMERATION))],
    indirect=True,
)
async def test_a_whole_enumeration_deadline_stops_a_service_that_never_ends(
    hostile: tuple[WSManTestServer, AsyncSession],
) -> None:
    server, session = hostile
    async with asyncio.timeout(GUARD):
        with pytest.raises(TimeoutError, match=r"did not end within its 0\.5s deadline") as info:
            async for _ in session.enumerate(SERVICE, batch_items=10, deadline=0.5):
                pass
    # Usually a Pull; on a loaded machine the deadline may already pass
    # during the Enumerate itself. Either way the whole enumeration is cut.
    assert info.value.operation in ("Enumerate", "Pull") and info.value.host == session.host
    assert released(server)


@pytest.mark.parametrize("hostile", [on(K.EMPTY_BATCHES, "Pull")], indirect=True)
async def test_empty_batches_without_an_end_cannot_spin(
    hostile: tuple[WSManTestServer, AsyncSession],
) -> None:
    server, session = hostile
    async with asyncio.timeout(GUARD):
        with pytest.raises(ProtocolError, match="empty batches in a row"):
            await session.enumerate(SERVICE, batch_items=10).to_list()
    # One Enumerate, then at most MAX_EMPTY_BATCHES + 1 Pulls (the last one
    # prefetched), then the Release.
    pulls = server.host(0).stats.by_operation["Pull"]
    assert MAX_EMPTY_BATCHES < pulls <= MAX_EMPTY_BATCHES + 2
    assert released(server)


# -- what still works -----------------------------------------------------------------


async def test_exactly_max_items_and_an_end_is_no_error(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    items = await basic_session.enumerate(SERVICE, batch_items=50, max_items=SERVICES).to_list(
        max_items=SERVICES
    )
    assert len(items) == SERVICES and all(isinstance(i, Item) for i in items)
    assert basic_server.host(0).stats.releases == []  # it ended: nothing to release


async def test_to_list_without_a_bound_returns_everything(basic_session: AsyncSession) -> None:
    assert len(await basic_session.enumerate(SERVICE).to_list(max_items=None)) == SERVICES


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_items", 0), ("max_items", -1), ("max_items", 2.5), ("deadline", 0), ("max_items", True)],
)
async def test_bounds_must_be_positive(basic_session: AsyncSession, name: str, value: int) -> None:
    with pytest.raises(ConfigurationError, match=name):
        basic_session.enumerate(SERVICE, **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_items", 0, "max_items must be a positive integer or None, not 0"),
        ("max_items", 2.5, "max_items must be a positive integer or None, not 2.5"),
        ("deadline", -1, "deadline must be a positive number or None, not -1"),
    ],
)
async def test_a_bad_bound_says_what_it_must_be(
    basic_session: AsyncSession, name: str, value: float, message: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        basic_session.enumerate(SERVICE, **{name: value})  # type: ignore[arg-type]
    assert info.value.message == message
    assert (info.value.host, info.value.operation) == (basic_session.host, "Enumerate")


@pytest.mark.parametrize("value", [0, 1.5])
async def test_a_bad_bound_of_to_list_is_refused_before_anything_is_sent(
    basic_session: AsyncSession, basic_server: WSManTestServer, value: float
) -> None:
    with pytest.raises(ConfigurationError, match="max_items must be a positive integer"):
        await basic_session.enumerate(SERVICE).to_list(max_items=value)  # type: ignore[arg-type]
    assert basic_server.host(0).stats.by_operation["Enumerate"] == 0


def test_the_bounds_given_are_the_enumerators_own(basic_session: AsyncSession) -> None:
    services = basic_session.enumerate(SERVICE, max_items=7, deadline=2.5)
    assert (services.max_items, services.deadline) == (7, 2.5)


async def test_read_item_hands_out_max_items_and_then_stops_for_good(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    services = basic_session.enumerate(SERVICE, batch_items=2, max_items=3)
    for _ in range(3):
        assert isinstance(await services.read_item(), Item)
    with pytest.raises(EnumerationTooLargeError) as info:
        await services.read_item()
    assert info.value.message == (
        "the enumeration returned more than 3 items (pass a larger "
        "session.enumerate(max_items=...), or None for no bound); it was released"
    )
    assert (info.value.max_items, info.value.operation) == (3, "Pull")
    assert released(basic_server)
    # It stays stopped: the same error again, and nothing left to read.
    assert services.at_end_of_stream
    with pytest.raises(EnumerationTooLargeError) as again:
        await services.read_item()
    assert again.value is info.value


async def test_a_bound_passed_within_the_first_batch_is_blamed_on_the_enumerate(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    seen = 0
    with pytest.raises(EnumerationTooLargeError) as info:
        async for _ in basic_session.enumerate(SERVICE, batch_items=10, max_items=3):
            seen += 1
    assert seen == 3
    assert (info.value.max_items, info.value.operation) == (3, "Enumerate")
    assert basic_server.host(0).stats.by_operation["Pull"] == 0
    assert released(basic_server)


async def test_to_list_one_item_short_of_the_whole_enumeration_is_stopped(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    with pytest.raises(EnumerationTooLargeError) as info:
        await basic_session.enumerate(SERVICE, batch_items=50).to_list(max_items=SERVICES - 1)
    assert info.value.message == (
        f"the enumeration returned more than {SERVICES - 1} items (to_list() keeps every item "
        "in memory: pass to_list(max_items=N), or None for no bound, or iterate with "
        "'async for' to stream); it was released"
    )
    # The last batch ended the sequence: no context is left, none to release.
    assert basic_server.host(0).contexts_open == 0


async def test_a_read_cancelled_while_the_next_batch_comes_does_not_count_against_max_items(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # read_item takes the batch's last item, then waits for the next batch; a
    # cancellation there keeps the item for the next read, and so must the
    # count of items handed out: exactly max_items reads succeed.
    async with (
        make_server(behaviours={0: on(K.LATENCY, "Pull", delay=0.3)}) as server,
        make_session(server) as session,
        session.enumerate(SERVICE, batch_items=10, max_items=25) as services,
    ):
        first = [await services.read_item() for _ in range(9)]
        reader = asyncio.ensure_future(services.read_item())
        await asyncio.sleep(0)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        rest = []
        async with asyncio.timeout(GUARD):
            with pytest.raises(EnumerationTooLargeError):
                while True:
                    rest.append(await services.read_item())
    assert len(first) + len(rest) == 25
    assert len({item["Name"] for item in first + rest}) == 25  # type: ignore[index]
    assert server.host(0).contexts_open == 0
