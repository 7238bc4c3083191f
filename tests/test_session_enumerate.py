"""Enumerations against the real test server: batches, prefetch, release, faults."""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import AsyncIterator, Callable

import pytest

from aiowsman import (
    AssociationFilter,
    AsyncSession,
    ConfigurationError,
    EndpointReference,
    Enumerator,
    InvalidEnumerationContextFault,
    Item,
    ResourceLocator,
    WSManFault,
)
from aiowsman.testing import (
    HostBehaviour,
    Injection,
    InjectionKind,
    RequestInfo,
    WSManTestServer,
)

SERVICE = "wmicimv2/Win32_Service"
SERVICES = 200  # Win32_Service instances of simulated host 0 (seed 0)


async def test_async_for_yields_every_instance_across_several_pulls(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    names = [item["Name"] async for item in basic_session.enumerate(SERVICE, batch_items=30)]
    assert len(names) == len(set(names)) == SERVICES
    # The first batch comes optimised in the EnumerateResponse; the rest by Pull.
    assert basic_server.host(0).stats.by_operation["Pull"] == math.ceil(SERVICES / 30) - 1


async def test_batch_items_of_the_session_sets_max_elements(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    basic_session.batch_items = 50
    items = await basic_session.enumerate(SERVICE).to_list()
    assert len(items) == SERVICES
    assert basic_server.host(0).stats.by_operation["Pull"] == SERVICES // 50 - 1


async def test_without_optimisation_every_batch_is_pulled(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    items = await basic_session.enumerate(SERVICE, batch_items=100, optimize=False).to_list()
    assert len(items) == SERVICES
    assert basic_server.host(0).stats.by_operation["Pull"] == 2


async def test_wql_filter_selects_matching_instances(basic_session: AsyncSession) -> None:
    running = await basic_session.enumerate(
        SERVICE, filter="SELECT * FROM Win32_Service WHERE State = 'Running'"
    ).to_list()
    assert running
    assert {item["State"] for item in running if isinstance(item, Item)} == {"Running"}
    assert len(running) < SERVICES


async def test_epr_mode_yields_endpoint_references(basic_session: AsyncSession) -> None:
    refs = await basic_session.enumerate(SERVICE, mode="epr").to_list()
    assert len(refs) == SERVICES
    assert all(isinstance(r, EndpointReference) for r in refs)
    first = refs[0]
    assert isinstance(first, EndpointReference)
    assert (await basic_session.get(first))["Name"] == first.selectors["Name"]


async def test_object_and_epr_mode_attaches_a_reference_to_each_item(
    basic_session: AsyncSession,
) -> None:
    items = await basic_session.enumerate(SERVICE, mode="object_and_epr").to_list()
    assert all(isinstance(i, Item) and i.epr is not None for i in items)


async def test_the_next_pull_is_sent_while_the_caller_holds_the_first_batch(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    pulled = asyncio.Event()

    def watch(info: RequestInfo) -> Injection | None:
        if info.operation == "Pull":
            pulled.set()
        return None

    behaviour = HostBehaviour(inject=watch)
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server) as session,
        session.enumerate(SERVICE, batch_items=10) as services,
    ):
        first = await services.__anext__()
        assert isinstance(first, Item)
        # Nine items of the first batch are still unread, yet the Pull is out.
        await asyncio.wait_for(pulled.wait(), 10)
        assert services.pulls == 1


async def test_at_most_one_pull_is_in_flight(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    count = 0
    async for _ in basic_session.enumerate(SERVICE, batch_items=5):
        count += 1
    assert count == SERVICES
    assert basic_server.host(0).stats.max_in_flight == 1


async def test_read_item_and_at_end_of_stream_follow_the_seed_idiom(
    basic_session: AsyncSession,
) -> None:
    services = await basic_session.enumerate(SERVICE, batch_items=64)
    names = []
    for _ in range(SERVICES + 1):  # bounded: one more than there are items
        if services.at_end_of_stream:
            break
        names.append((await services.read_item())["Name"])
    assert len(names) == SERVICES
    assert services.at_end_of_stream
    with pytest.raises(EOFError):
        await services.read_item()


async def test_breaking_out_inside_async_with_releases_the_context(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    async with basic_session.enumerate(SERVICE, batch_items=10) as services:
        async for _ in services:
            break
        context = services.context
    assert context is not None
    assert basic_server.host(0).stats.releases == [context]


async def test_an_exception_in_the_consumer_releases_the_context(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    with pytest.raises(LookupError):
        async with basic_session.enumerate(SERVICE, batch_items=10) as services:
            async for _ in services:
                raise LookupError("consumer failed")
    assert len(basic_server.host(0).stats.releases) == 1


async def test_a_finished_enumeration_sends_no_release(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    async with basic_session.enumerate(SERVICE, batch_items=100) as services:
        assert len([i async for i in services]) == SERVICES
    assert basic_server.host(0).stats.releases == []
    assert services.at_end_of_stream


async def test_closing_the_session_releases_abandoned_enumerations(
    basic_server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(basic_server) as session:
        services = session.enumerate(SERVICE, batch_items=10)
        await services.read_item()  # then abandoned, without async with
        context = services.context
    assert basic_server.host(0).stats.releases == [context]


async def test_cancelling_a_read_loses_no_item(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    slow_pulls = HostBehaviour(
        inject=lambda info: (
            Injection(InjectionKind.LATENCY, delay=0.3) if info.operation == "Pull" else None
        )
    )
    async with (
        make_server(behaviours={0: slow_pulls}) as server,
        make_session(server) as session,
        session.enumerate(SERVICE, batch_items=100) as services,
    ):
        names = [(await services.read_item())["Name"] for _ in range(99)]
        # The 100th read waits for the (slow) second batch: cancel it there.
        reader = asyncio.ensure_future(services.read_item())
        await asyncio.sleep(0)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        names += [item["Name"] async for item in services]
    assert len(names) == len(set(names)) == SERVICES


async def test_a_timed_out_pull_is_retried(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    pulls = 0

    def time_out_first_pull(info: RequestInfo) -> Injection | None:
        nonlocal pulls
        if info.operation != "Pull":
            return None
        pulls += 1
        return Injection(InjectionKind.TIMED_OUT) if pulls == 1 else None

    behaviour = HostBehaviour(inject=time_out_first_pull)
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server) as session,
    ):
        items = await session.enumerate(SERVICE, batch_items=150).to_list()
        assert len(items) == SERVICES
        assert server.host(0).stats.faults["w:TimedOut"] == 1


async def test_an_expired_context_is_an_invalid_enumeration_context_fault(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = HostBehaviour(
        inject=lambda info: (
            Injection(InjectionKind.EXPIRE_CONTEXTS) if info.operation == "Pull" else None
        )
    )
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server) as session,
    ):
        with pytest.raises(InvalidEnumerationContextFault) as info:
            await session.enumerate(SERVICE, batch_items=10).to_list()
        assert info.value.operation == "Pull"
        assert session.error is info.value
        assert server.host(0).stats.releases == []


def test_enumerate_sends_nothing_until_used(basic_session: AsyncSession) -> None:
    services = basic_session.enumerate(SERVICE)
    assert isinstance(services, Enumerator)
    assert services.context is None and not services.at_end_of_stream


async def test_shallow_polymorphism_excludes_subclass_instances(
    basic_session: AsyncSession,
) -> None:
    base = "wmicimv2/Win32_BaseService"
    deep = await basic_session.enumerate(base, batch_items=200).to_list()
    shallow = await basic_session.enumerate(base, polymorphism="shallow").to_list()
    assert {i.name for i in deep if isinstance(i, Item)} >= {"Win32_Service"}
    assert len(shallow) < len(deep)
    assert all(i.name == "Win32_BaseService" for i in shallow if isinstance(i, Item))


async def test_selector_filter_mapping_selects_by_key(basic_session: AsyncSession) -> None:
    found = await basic_session.enumerate(SERVICE, filter={"Name": "WinRM"}).to_list()
    assert [i["Name"] for i in found if isinstance(i, Item)] == ["WinRM"]


async def test_association_filter_finds_associated_instances(
    basic_session: AsyncSession,
) -> None:
    winrm = await basic_session.get(SERVICE, Name="WinRM")
    association = AssociationFilter(
        object=ResourceLocator(SERVICE, Name="WinRM"),
        association_class_name="Win32_DependentService",
    )
    related = await basic_session.enumerate(
        "http://schemas.dmtf.org/wbem/wscim/1/*", association=association
    ).to_list()
    assert winrm["Name"] == "WinRM"
    assert related
    assert all(isinstance(i, Item) and i["Name"] != "WinRM" for i in related)


async def test_a_failed_enumerate_raises_again_instead_of_ending_quietly(
    basic_session: AsyncSession,
) -> None:
    services = basic_session.enumerate("wmicimv2/Win32_NoSuchClass")
    with pytest.raises(WSManFault):
        await services.read_item()
    with pytest.raises(WSManFault):
        async for _ in services:
            pass


def server_order(server: WSManTestServer) -> list[str]:
    return [str(i.values["Name"]) for i in server.host(0).store.instances("Win32_Service")]


async def test_items_arrive_in_the_server_order_across_batches(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    services = basic_session.enumerate(SERVICE, batch_items=7)
    names = [item["Name"] async for item in services]
    assert names == server_order(basic_server)
    assert services.pulls == basic_server.host(0).stats.by_operation["Pull"] == 28


async def test_read_item_returns_items_in_the_server_order(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    async with basic_session.enumerate(SERVICE, batch_items=9) as services:
        names = [(await services.read_item())["Name"] for _ in range(SERVICES)]
        assert services.at_end_of_stream
    assert names == server_order(basic_server)


async def test_without_optimisation_the_enumerate_response_carries_no_item(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    # 199 per batch: the 200 items take exactly two Pulls only if the
    # EnumerateResponse brought none of them.
    items = await basic_session.enumerate(SERVICE, batch_items=199, optimize=False).to_list()
    assert len(items) == SERVICES
    assert basic_server.host(0).stats.by_operation["Pull"] == 2


async def test_the_dialect_given_is_the_dialect_used(basic_session: AsyncSession) -> None:
    # A mapping filter is a selector filter: naming another dialect is refused.
    with pytest.raises(ConfigurationError, match="selector dialect"):
        await basic_session.enumerate(SERVICE, filter={"Name": "WinRM"}, dialect="WQL")


async def test_more_than_a_hundred_batches_with_items_are_not_empty_batches(
    basic_session: AsyncSession,
) -> None:
    items = await basic_session.enumerate(SERVICE, batch_items=1).to_list()
    assert len(items) == SERVICES


async def test_a_failed_pull_fails_every_later_read_the_same_way(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = HostBehaviour(
        inject=lambda info: (
            Injection(InjectionKind.EXPIRE_CONTEXTS) if info.operation == "Pull" else None
        )
    )
    async with make_server(behaviours={0: behaviour}) as server, make_session(server) as session:
        services = session.enumerate(SERVICE, batch_items=10)
        names = [item["Name"] async for item in _until_fault(services)]
        assert len(names) == 10
        for _ in range(2):
            with pytest.raises(InvalidEnumerationContextFault):
                await services.read_item()
        assert services.at_end_of_stream and services.context is None


async def _until_fault(services: Enumerator) -> AsyncIterator[Item]:
    with pytest.raises(InvalidEnumerationContextFault):
        async for item in services:
            assert isinstance(item, Item)
            yield item


async def test_repr_names_the_class_state_buffer_and_host(basic_session: AsyncSession) -> None:
    uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"
    host = basic_session.host
    services = basic_session.enumerate(SERVICE, batch_items=10)
    assert repr(services) == f"<Enumerator {uri} new buffered=0 host={host}>"
    async with services:
        assert repr(services) == f"<Enumerator {uri} open buffered=10 host={host}>"
    assert repr(services) == f"<Enumerator {uri} closed buffered=0 host={host}>"
    everything = basic_session.enumerate(SERVICE, batch_items=500)
    await everything
    assert repr(everything) == f"<Enumerator {uri} ended buffered={SERVICES} host={host}>"
    failing = basic_session.enumerate("wmicimv2/No_Such_Class")
    with pytest.raises(WSManFault):
        await failing
    assert repr(failing).startswith("<Enumerator ") and " failed buffered=0 " in repr(failing)


async def test_a_finished_enumerator_dropped_without_closing_sends_no_release(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    services = basic_session.enumerate(SERVICE, batch_items=30)
    assert len([item async for item in services]) == SERVICES
    del services
    gc.collect()
    await basic_session.aclose()
    assert basic_server.host(0).stats.releases == []


async def test_an_enumerate_cancelled_in_flight_starts_over_on_the_next_use(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    slow_enumerate = HostBehaviour(
        inject=lambda info: (
            Injection(InjectionKind.LATENCY, delay=0.5) if info.operation == "Enumerate" else None
        )
    )
    async with (
        make_server(behaviours={0: slow_enumerate}) as server,
        make_session(server) as session,
    ):
        services = session.enumerate(SERVICE, batch_items=50)
        starting = asyncio.ensure_future(services.start())
        for _ in range(100):  # bounded: until the server has the request
            if server.host(0).stats.in_flight:
                break
            await asyncio.sleep(0.01)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        assert services.context is None and not services.at_end_of_stream
        assert len(await services.to_list()) == SERVICES
        assert server.host(0).stats.by_operation["Enumerate"] == 2
