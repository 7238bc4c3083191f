"""Every answer is correlated with its request; a response nobody asked for is never taken.

HTTP/1.1 has no request identifiers, so a server that writes an extra
response on a kept-alive connection would have it read as the answer to the
next request sent there. Two guards, each tested here against a raw hostile
peer (tests/hostile_peers.py) and the test server's PUSH_EXTRA_RESPONSE:

* the connection pool never hands out a kept-alive connection that received
  data while idle (:class:`aiowsman.transport.GuardedConnector`);
* SOAP correlation: a non-fault answer must carry the request's MessageID in
  RelatesTo. Faults may omit it, as Windows' do (corpus), and Identify has
  no MessageID (DSP0226 11): for those the pool guard is what holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from aiowsman import AsyncSession, ProtocolError, QuotaExceededFault
from aiowsman.protocol import envelope as env
from aiowsman.protocol import response as resp
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer
from tests.conftest import PASSWORD, USER
from tests.hostile_peers import (
    Exchange,
    get_response,
    http_response,
    identify_response,
    quota_fault,
    serve,
)

OS = "wmicimv2/Win32_OperatingSystem"
CORPUS = Path(__file__).parent / "corpus"
#: Long enough for a pushed response to arrive while the connection is idle.
IDLE = 0.2


def pushing(pushed: str, *, delay: float) -> Callable[[Exchange, asyncio.StreamWriter], object]:
    """A peer that answers every request correctly and, after the first, pushes ``pushed``."""

    async def answer(exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        if exchange.message_id is None:
            writer.write(http_response(identify_response(f"REAL-{exchange.number}")))
        else:
            caption = f"REAL-{exchange.connection}-{exchange.number}"
            writer.write(http_response(get_response(caption, exchange.message_id)))
        if exchange.connection == 1 and exchange.number == 1:
            await writer.drain()
            if delay:
                await asyncio.sleep(delay)
            writer.write(http_response(pushed, status=500 if "Fault" in pushed else 200))

    return answer


PUSHED = {
    # Faults may omit RelatesTo (Windows does): correlation cannot refuse it.
    "fault-without-relates-to": quota_fault("PUSHED"),
    "answer-without-relates-to": get_response("PUSHED", None),
    "answer-to-another-request": get_response("PUSHED", "uuid:0-0-0-0-0"),
}


@pytest.mark.parametrize("pushed", sorted(PUSHED))
@pytest.mark.parametrize("delay", [0.0, 0.05], ids=["pipelined", "while-idle"])
async def test_a_pushed_response_is_never_taken_as_the_next_answer(
    pushed: str, delay: float
) -> None:
    async with (
        serve(pushing(PUSHED[pushed], delay=delay)) as peer,
        AsyncSession(peer.url, auth="none", timeout=10) as session,
    ):
        first = await session.get(OS)
        await asyncio.sleep(IDLE)
        second = await session.get(OS)
        third = await session.get(OS)
    assert first["Caption"] == "REAL-1-1"
    # The connection that received the push was dropped, not read from.
    assert second["Caption"] == "REAL-2-1" and third["Caption"] == "REAL-2-2"
    assert peer.connections == 2


async def test_a_pushed_identify_response_is_never_taken_for_the_next_identify() -> None:
    # Identify carries no MessageID (DSP0226 11): only the pool guard can tell.
    async with (
        serve(pushing(identify_response("PUSHED"), delay=0.05)) as peer,
        AsyncSession(peer.url, auth="none", timeout=10) as session,
    ):
        assert (await session.identify()).product_vendor == "REAL-1"
        await asyncio.sleep(IDLE)
        assert (await session.identify()).product_vendor == "REAL-1"  # its own answer
    assert peer.connections == 2


async def test_a_test_server_host_pushing_faults_never_spoils_the_next_answer(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    push = HostBehaviour(always=Injection(InjectionKind.PUSH_EXTRA_RESPONSE, delay=0.02))
    async with make_server(behaviours={0: push}) as server, make_session(server) as session:
        for _ in range(5):
            item = await session.get(OS)
            assert item["Caption"]
            await asyncio.sleep(0.1)
    assert server.host(0).stats.connections >= 5  # each poisoned connection was dropped


@pytest.mark.parametrize("auth", ["ntlm"])
async def test_connection_bound_channels_are_guarded_too(
    auth: str,
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
) -> None:
    push = HostBehaviour(always=Injection(InjectionKind.PUSH_EXTRA_RESPONSE, delay=0.02))
    async with (
        make_server(auth=(auth,), behaviours={0: push}, allow_unencrypted=False) as server,
        make_session(
            server, auth=auth, username=USER, password=PASSWORD, allow_unencrypted=False
        ) as session,
    ):
        for _ in range(3):
            assert (await session.get(OS))["Caption"]
            await asyncio.sleep(0.1)


# -- SOAP correlation ------------------------------------------------------------------


def answering(body: Callable[[Exchange], str], status: int = 200) -> Callable[..., object]:
    async def answer(exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(body(exchange), status=status))

    return answer


async def test_an_answer_without_relates_to_is_refused() -> None:
    no_relates_to = answering(lambda e: get_response("X", None))
    async with serve(no_relates_to) as peer, AsyncSession(peer.url, auth="none") as session:
        with pytest.raises(ProtocolError, match="no RelatesTo") as info:
            await session.get(OS)
    assert (info.value.host, info.value.operation) == (session.host, "Get")


async def test_a_fault_without_relates_to_is_still_the_fault() -> None:
    fault = answering(lambda e: quota_fault(), status=500)
    async with serve(fault) as peer, AsyncSession(peer.url, auth="none") as session:
        with pytest.raises(QuotaExceededFault):
            await session.get(OS)


async def test_a_fault_naming_another_request_is_refused() -> None:
    other = answering(lambda e: quota_fault(relates_to="uuid:1-2-3-4-5"), status=500)
    async with serve(other) as peer, AsyncSession(peer.url, auth="none") as session:
        with pytest.raises(ProtocolError, match="answers another request"):
            await session.get(OS)


async def test_relates_to_matches_in_either_case() -> None:
    lower = answering(lambda e: get_response("ok", (e.message_id or "").lower()))
    async with serve(lower) as peer, AsyncSession(peer.url, auth="none") as session:
        assert (await session.get(OS))["Caption"] == "ok"


def test_the_corpus_faults_without_relates_to_are_accepted_as_faults() -> None:
    request = env.get_request(env.RequestOptions(to="http://h/wsman"), env.ResourceLocator(OS))
    for name in (
        "pywinrm-fault-invalid-body-no-relatesto.xml",
        "winrb-fault-quotalimit-msft-wmierror.xml",
    ):
        envelope = resp.parse_envelope((CORPUS / name).read_bytes())
        assert envelope.relates_to is None
        with pytest.raises(resp.WSManFault):
            resp.check_response(envelope, request, 500)


def test_message_ids_do_not_give_the_next_one_away() -> None:
    ids = [env.new_message_id() for _ in range(200)]
    assert len(set(ids)) == len(ids)
    # 32 fresh random bits in every ID: seeing one tells nothing of the next.
    assert len({i[len("uuid:") : len("uuid:") + 8] for i in ids}) == len(ids)
