"""Enumerations under failure: expiry, server time-outs, cancellation, abandonment.

An enumeration context holds resources on the server until released or
expired (DSP0226 8.6), so every way an enumeration can end early must leave
no context open; the server's ``releases`` and ``contexts_open`` are the
witnesses.
"""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from aioresponses import CallbackResult

from aiowsman import (
    AsyncSession,
    InvalidEnumerationContextFault,
    OperationTimedOutFault,
    ProtocolError,
    TimeoutError,
)
from aiowsman.fanout import run
from aiowsman.protocol import parse_duration
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from tests.conftest import _CompatResponse
from tests.test_hygiene_probe import ResourceProbe
from tests.waiting import BOUND, until

if TYPE_CHECKING:
    from tests.conftest import MockedHTTP

K = InjectionKind
SERVICE = "wmicimv2/Win32_Service"  # 200 instances: 10 batches of 20


def on_pull(injection: Injection, *, nth: int | None = None) -> HostBehaviour:
    pulls: list[int] = []

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation != "Pull":
            return None
        pulls.append(info.number)
        return injection if nth is None or len(pulls) == nth else None

    return HostBehaviour(inject=inject)


async def test_a_context_expired_between_pulls_is_an_invalid_context_fault(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = on_pull(Injection(K.EXPIRE_CONTEXTS), nth=2)
    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20) as session,
    ):
        with pytest.raises(InvalidEnumerationContextFault) as info:
            await session.enumerate(SERVICE).to_list()
        assert (info.value.host, info.value.operation) == (session.host, "Pull")
        # The context is gone on the server: nothing to release, none left.
        assert server.host(0).stats.releases == []
        assert server.host(0).contexts_open == 0
        assert session.error is info.value


async def test_a_pull_the_server_keeps_timing_out_fails_before_the_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = on_pull(Injection(K.TIMED_OUT))
    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20, timeout=1.0) as session,
    ):
        async with asyncio.timeout(3.0) as bound:
            with pytest.raises(OperationTimedOutFault) as info:
                await session.enumerate(SERVICE).to_list()
        assert not bound.expired()
        assert info.value.operation == "Pull"
        # The first Pull and 16 retries, then the enumerator gives up.
        assert server.host(0).stats.by_operation["Pull"] == 17
        # TimedOut leaves the context valid (DSP0226 8.4): it was released.
        assert len(server.host(0).stats.releases) == 1
        assert server.host(0).contexts_open == 0


async def test_pull_retries_ask_for_less_time_and_stop_before_the_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # The server would take 30 s, so it answers TimedOut after each Pull's
    # OperationTimeout (DSP0226 6.1). Each retry must ask for less than what
    # is left of the Pull's deadline, so the last answer is still a TimedOut
    # fault (not a client time-out), and retrying stops once too little is left.
    behaviour = on_pull(Injection(K.LATENCY, delay=30.0))
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20, timeout=2.0) as session,
    ):
        async with asyncio.timeout(10.0):
            with pytest.raises(OperationTimedOutFault) as info:
                await session.enumerate(SERVICE).to_list()
        assert info.value.operation == "Pull"
        assert 2 <= server.host(0).stats.by_operation["Pull"] < 17


async def test_a_pull_timed_out_once_is_pulled_again_and_loses_nothing(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = on_pull(Injection(K.TIMED_OUT), nth=3)
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20) as session,
    ):
        items = await session.enumerate(SERVICE).to_list()
    assert len(items) == 200
    assert len({item["Name"] for item in items}) == 200  # type: ignore[index]


async def test_a_cancelled_enumeration_releases_its_context(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = on_pull(Injection(K.LATENCY, delay=5.0))
    first_batch = asyncio.Event()

    async def consume(session: AsyncSession) -> None:
        async with session.enumerate(SERVICE) as e:
            async for _ in e:
                first_batch.set()

    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20, timeout=30.0) as session,
    ):
        task = asyncio.create_task(consume(session))
        async with asyncio.timeout(5):
            await first_batch.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(server.host(0).stats.releases) == 1
        assert server.host(0).contexts_open == 0
        # The session is still usable.
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"


async def test_an_aclose_cancelled_while_the_prefetch_unwinds_still_releases_the_context(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # A task cancelled again while it leaves ``async with session.enumerate()``
    # cancels aclose() at its first wait: the prefetched Pull unwinding.
    behaviour = on_pull(Injection(K.LATENCY, delay=5.0))
    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20, timeout=30.0) as session,
    ):
        e = session.enumerate(SERVICE)
        await e.read_item()  # the first batch is in; its prefetched Pull waits on the server
        context = e.context
        closing = asyncio.create_task(e.aclose())
        await asyncio.sleep(0)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        # Released while the session is still open, not left for it to expire.
        await until(lambda: server.host(0).contexts_open == 0)
        assert server.host(0).stats.releases == [context]


async def test_a_dropped_open_enumerator_is_released_when_the_session_closes(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server() as server:
        async with make_session(server, batch_items=20) as session:
            e = session.enumerate(SERVICE)
            await e.read_item()
            # Let the prefetched Pull land, so nothing but ``e`` refers to it.
            pending = e._pending
            assert pending is not None
            await asyncio.wait_for(asyncio.shield(pending), 5)
            del pending
            context = e.context
            assert context is not None
            del e
            gc.collect()
            assert server.host(0).contexts_open == 1
        assert server.host(0).stats.releases == [context]
        assert server.host(0).contexts_open == 0


async def test_a_fan_out_deadline_mid_enumeration_still_releases_the_context(
    make_server: Callable[..., WSManTestServer],
) -> None:
    behaviour = on_pull(Injection(K.LATENCY, delay=30.0))

    async def enumerate_all(session: AsyncSession) -> Any:
        return await session.enumerate(SERVICE, batch_items=20).to_list()

    async with ResourceProbe(), make_server(behaviours={0: behaviour}) as server:
        async with asyncio.timeout(10) as bound:
            [result] = [
                r
                async for r in run(
                    server.endpoints,
                    enumerate_all,
                    deadline=1.0,
                    close_grace=3.0,
                    timeout=20.0,
                    auth="basic",
                    username="user",
                    password="Pa55-w0rd-never-logged",
                    allow_unencrypted=True,
                )
            ]
        assert not bound.expired()
        assert isinstance(result.error, TimeoutError)
        assert len(server.host(0).stats.releases) == 1
        assert server.host(0).contexts_open == 0


async def test_a_dropped_enumerator_whose_prefetch_failed_leaves_no_unretrieved_error(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        behaviour = on_pull(Injection(K.EXPIRE_CONTEXTS))
        async with (
            make_server(behaviours={0: behaviour}) as server,
            make_session(server) as session,
        ):
            services = session.enumerate(SERVICE, batch_items=20)
            await services.start()  # the first batch; the prefetched Pull then fails
            pending = services._pending
            assert pending is not None
            # Let the failed Pull's task finish (without retrieving its error here).
            await asyncio.wait({pending}, timeout=BOUND)
            assert pending.done() and server.host(0).stats.by_operation["Pull"] == 1
            del pending, services
        del session  # it keeps the last error, whose traceback reaches the task
        gc.collect()  # the enumerator, its task and the task's error are garbage now
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert reported == []


# -- which deadline ends a request the server never answers ------------------------------


def on(operation: str, injection: Injection) -> HostBehaviour:
    return HostBehaviour(inject=lambda info: injection if info.operation == operation else None)


async def test_an_unanswered_enumerate_fails_at_the_session_timeout_and_stays_failed(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: on("Enumerate", Injection(K.BLACK_HOLE))}) as server,
        make_session(server, timeout=0.5) as session,
    ):
        services = session.enumerate(SERVICE)
        async with asyncio.timeout(10):
            with pytest.raises(TimeoutError) as info:
                await services.read_item()
            assert info.value.message.startswith("no answer within the 0.5s deadline")
            assert info.value.operation == "Enumerate"
            with pytest.raises(TimeoutError) as again:
                await services.read_item()
        assert again.value is info.value


async def test_an_unanswered_enumerate_fails_at_a_shorter_enumeration_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: on("Enumerate", Injection(K.BLACK_HOLE))}) as server,
        make_session(server, timeout=30.0) as session,
    ):
        async with asyncio.timeout(10):
            with pytest.raises(TimeoutError) as info:
                await session.enumerate(SERVICE, deadline=0.5).to_list()
        assert info.value.message == (
            "the enumeration did not end within its 0.5s deadline "
            "(session.enumerate(deadline=...)); it was released"
        )
        assert info.value.operation == "Enumerate"


async def test_a_pull_is_bounded_by_the_session_timeout_under_a_longer_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: on("Pull", Injection(K.BLACK_HOLE))}) as server,
        make_session(server, timeout=0.5, batch_items=20) as session,
    ):
        async with asyncio.timeout(10):
            with pytest.raises(TimeoutError) as info:
                await session.enumerate(SERVICE, deadline=60.0).to_list()
        # The Pull's own deadline: what was left of session.timeout when it was sent.
        assert re.match(r"no answer within the 0\.\d+s deadline", info.value.message)
        assert info.value.operation == "Pull"
        assert server.host(0).contexts_open == 0  # released by to_list on the way out


async def test_an_unanswered_pull_fails_at_a_shorter_enumeration_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: on("Pull", Injection(K.BLACK_HOLE))}) as server,
        make_session(server, timeout=30.0, batch_items=20) as session,
    ):
        async with asyncio.timeout(10):
            with pytest.raises(TimeoutError) as info:
                await session.enumerate(SERVICE, deadline=0.5).to_list()
        assert info.value.message.startswith("the enumeration did not end within its 0.5s")
        assert info.value.operation == "Pull"
        assert len(server.host(0).stats.releases) == 1
        assert server.host(0).contexts_open == 0


async def test_a_pull_is_still_sent_with_less_than_a_second_of_the_deadline_left(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # The Enumerate takes 0.6 s of a 1.4 s deadline: the Pull goes out with
    # about 0.8 s left, and the server answers it at once.
    slow_enumerate = on("Enumerate", Injection(K.LATENCY, delay=0.6))
    async with (
        make_server(behaviours={0: slow_enumerate}) as server,
        make_session(server, timeout=30.0, batch_items=150) as session,
    ):
        items = await session.enumerate(SERVICE, deadline=1.4).to_list()
    assert len(items) == 200
    assert server.host(0).stats.by_operation["Pull"] == 1


async def test_an_enumeration_ending_within_a_deadline_shorter_than_the_timeout_loses_nothing(
    basic_server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(basic_server, timeout=60.0, batch_items=20) as session:
        items = await session.enumerate(SERVICE, deadline=30.0).to_list()
    assert len(items) == 200
    assert basic_server.host(0).stats.by_operation["Pull"] == 9


# -- a service that answers Pulls with empty batches (DSP0226 8.4 allows a few) ----------

URL = "http://127.0.0.1:5985/wsman"
_ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">'
    "<s:Header><a:RelatesTo>{}</a:RelatesTo></s:Header><s:Body>{}</s:Body></s:Envelope>"
)
_OPENED = (
    "<n:EnumerateResponse><n:EnumerationContext>ctx</n:EnumerationContext></n:EnumerateResponse>"
)
_EMPTY = (
    "<n:PullResponse><n:EnumerationContext>ctx</n:EnumerationContext><n:Items/></n:PullResponse>"
)
_ONE = (
    "<n:PullResponse><n:EnumerationContext>ctx</n:EnumerationContext>"
    "<n:Items><x:I xmlns:x='urn:x'><x:N>{}</x:N></x:I></n:Items></n:PullResponse>"
)
_LAST = "<n:PullResponse><n:Items/><n:EndOfSequence/></n:PullResponse>"
_MESSAGE_ID = re.compile(rb"<a:MessageID>([^<]+)</a:MessageID>")


def _serve(mocked_http: MockedHTTP, *bodies: str) -> None:
    """Answer the next requests with ``bodies``, each relating to its request."""
    for body in bodies:

        def answer(url: Any, *, body: str = body, **kwargs: Any) -> CallbackResult:
            match = _MESSAGE_ID.search(kwargs["data"])
            assert match is not None
            text = _ENVELOPE.format(match.group(1).decode(), body)
            return CallbackResult(
                status=200,
                body=text.encode(),
                content_type="application/soap+xml;charset=UTF-8",
                response_class=_CompatResponse,
            )

        mocked_http.post(URL, callback=answer)


def _session() -> AsyncSession:
    return AsyncSession(URL, auth="basic", username="u", password="p", allow_unencrypted=True)


async def test_a_hundred_empty_batches_in_a_row_are_tolerated_between_items(
    mocked_http: MockedHTTP,
) -> None:
    _serve(mocked_http, _OPENED, *[_EMPTY] * 100, _ONE.format(1), *[_EMPTY] * 100, _LAST)
    async with _session() as session:
        items = await session.enumerate("urn:x/I", optimize=False).to_list()
    assert [item["N"] for item in items] == ["1"]  # type: ignore[index]


async def test_a_service_answering_only_empty_batches_is_given_up_and_released(
    mocked_http: MockedHTTP,
) -> None:
    _serve(mocked_http, _OPENED, *[_EMPTY] * 101, "<n:ReleaseResponse/>")
    async with _session() as session:
        with pytest.raises(ProtocolError, match="empty batches") as info:
            await session.enumerate("urn:x/I", optimize=False).to_list()
    assert (info.value.host, info.value.operation) == (session.host, "Pull")
    sent = [call["data"] for call in mocked_http.sent(URL)]
    assert len(sent) == 1 + 101 + 1
    assert b"/enumeration/Release<" in sent[-1]


async def test_an_enumerate_response_ending_the_sequence_with_a_context_needs_no_pull(
    mocked_http: MockedHTTP,
) -> None:
    # iDRAC-like: a context is sent along with EndOfSequence. The sequence has
    # ended (DSP0226 8.2.3): nothing is pulled and nothing released.
    ended = (
        "<n:EnumerateResponse><n:EnumerationContext>ctx</n:EnumerationContext>"
        "<w:Items><x:I xmlns:x='urn:x'><x:N>1</x:N></x:I></w:Items><w:EndOfSequence/>"
        "</n:EnumerateResponse>"
    )
    _serve(mocked_http, ended)
    async with _session() as session:
        items = await session.enumerate("urn:x/I").to_list()
    assert [item["N"] for item in items] == ["1"]  # type: ignore[index]
    assert len(mocked_http.sent(URL)) == 1


async def test_the_release_after_too_many_empty_batches_names_the_newest_context(
    mocked_http: MockedHTTP,
) -> None:
    # A service may hand out a new context with each PullResponse (DSP0226
    # 8.4): the one to release is the last one it sent.
    rotating = [_EMPTY.replace(">ctx<", f">ctx{n}<") for n in range(1, 102)]
    _serve(mocked_http, _OPENED, *rotating, "<n:ReleaseResponse/>")
    async with _session() as session:
        with pytest.raises(ProtocolError) as info:
            await session.enumerate("urn:x/I", optimize=False).to_list()
    assert info.value.message.startswith("100 empty batches in a row without an end")
    sent = [call["data"] for call in mocked_http.sent(URL)]
    assert b"<n:EnumerationContext>ctx100</n:EnumerationContext>" in sent[-2]  # the last Pull
    assert b"<n:EnumerationContext>ctx101</n:EnumerationContext>" in sent[-1]  # the Release


async def test_too_many_items_with_the_end_of_the_sequence_leave_nothing_to_release(
    mocked_http: MockedHTTP,
) -> None:
    ended = (
        "<n:EnumerateResponse><n:EnumerationContext>ctx</n:EnumerationContext><w:Items>"
        + "".join(f"<x:I xmlns:x='urn:x'><x:N>{n}</x:N></x:I>" for n in range(3))
        + "</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
    )
    _serve(mocked_http, ended)
    async with _session() as session:
        with pytest.raises(ProtocolError) as info:
            await session.enumerate("urn:x/I", batch_items=2).to_list()
    assert info.value.message.startswith("the service returned more than the 2 items asked for")
    assert len(mocked_http.sent(URL)) == 1  # the Enumerate; the sequence ended with it


@pytest.mark.parametrize(("deadline", "asked"), [(2.0, 1.5), (120.0, 55.0)])
async def test_an_enumerate_asks_for_no_more_time_than_the_enumeration_has(
    mocked_http: MockedHTTP, deadline: float, asked: float
) -> None:
    # OperationTimeout (DSP0226 6.1) from the shorter of session.timeout (60 s)
    # and the enumeration's deadline, less the margin for the answer's trip.
    _serve(mocked_http, _LAST.replace("PullResponse", "EnumerateResponse"))
    async with AsyncSession(
        URL, auth="basic", username="u", password="p", allow_unencrypted=True, timeout=60.0
    ) as session:
        await session.enumerate("urn:x/I", deadline=deadline).to_list()
    [sent] = [call["data"] for call in mocked_http.sent(URL)]
    timeout = re.search(rb"<w:OperationTimeout>([^<]+)</w:OperationTimeout>", sent)
    assert timeout is not None and parse_duration(timeout.group(1).decode()) == asked
