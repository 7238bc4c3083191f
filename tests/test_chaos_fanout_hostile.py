"""Hostile fan-out: every host gets exactly one record within its bound.

Beside the chaos run of tests/test_chaos_fanout.py (transport failures and
classic XML attacks), this fleet mixes hosts that attack the parser, the
enumeration, memory and the event loop, each through the test server's
injections (aiowsman.testing.InjectionKind):

* a DOCTYPE with an external parameter entity in UTF-32, pointed at a FIFO
  tripwire that must never be opened;
* enumerations that never end, that answer empty batches forever, or that
  return more items than MaxElements;
* thousands of unused namespace declarations on every envelope;
* ~1 MB bodies of tiny elements (legal, slow to parse);
* an unsolicited response pushed on the kept-alive connection while it idles;
* a web server's default page at /wsman.

The operation reads a Get, idles (so pushed responses land), then
enumerates every service with ``to_list()`` (bounded by default). Each host
must yield one record, of the class its behaviour calls for, no later than
its deadline plus the close grace; no success may come after the deadline;
no enumeration context may be left open on any host; the tripwire must stay
untouched.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiowsman import (
    AsyncSession,
    EnumerationTooLargeError,
    Item,
    NotWSManEndpointError,
    ProtocolError,
    TimeoutError,
)
from aiowsman.fanout import HostResult, run
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from tests.conftest import PASSWORD, USER
from tests.tripwires import Tripwires

K = InjectionKind
PER_MODE = 4
DEADLINE, GRACE = 20.0, 1.0
#: Ordinary (not hostile) instance XML is a few KB; 2000 unused declarations
#: copied into each would make it ~80 KB.
ITEM_XML_BOUND = 8_000


def on_enumeration(kind: InjectionKind, **kwargs: Any) -> HostBehaviour:
    def inject(info: RequestInfo) -> Injection | None:
        if info.operation in ("Enumerate", "Pull"):
            return Injection(kind, **kwargs)
        return None

    return HostBehaviour(inject=inject)


def after_get(kind: InjectionKind, **kwargs: Any) -> HostBehaviour:
    def inject(info: RequestInfo) -> Injection | None:
        return Injection(kind, **kwargs) if info.operation == "Get" else None

    return HostBehaviour(inject=inject)


@dataclass(frozen=True)
class Mode:
    """How a host behaves, and the record it must produce.

    ``error``: the record's error type, or None for success; ``may_time_out``:
    a timeout is acceptable too (the work is legal, only slow).
    """

    behaviour: HostBehaviour | None
    error: type[BaseException] | None = None
    may_time_out: bool = False

    def accepts(self, result: HostResult[Any]) -> bool:
        if self.may_time_out and isinstance(result.error, TimeoutError):
            return True
        if self.error is None:
            return result.ok
        return isinstance(result.error, self.error)


def always(kind: InjectionKind, **kwargs: Any) -> HostBehaviour:
    return HostBehaviour(always=Injection(kind, **kwargs))


def modes(fifo_url: str) -> dict[str, Mode]:
    return {
        "healthy": Mode(None),
        "dtd_in_utf32": Mode(always(K.DTD_IN_UTF32, target=fifo_url), ProtocolError),
        "endless": Mode(on_enumeration(K.ENDLESS_ENUMERATION), EnumerationTooLargeError),
        "empty_batches": Mode(on_enumeration(K.EMPTY_BATCHES), ProtocolError),
        "oversize_batch": Mode(on_enumeration(K.OVERSIZE_BATCH, count=7), ProtocolError),
        "namespace_flood": Mode(always(K.NAMESPACE_FLOOD, count=2000)),
        "heavy_body": Mode(always(K.HEAVY_BODY, size=1_050_000), may_time_out=True),
        # Pushed after the Get, into the idle gap that follows it. (A push racing
        # a request already sent is indistinguishable at the HTTP level: a
        # RelatesTo-less fault then reads as the answer. Not what this checks.)
        "push_extra_response": Mode(after_get(K.PUSH_EXTRA_RESPONSE, delay=0.01)),
        "web_page": Mode(always(K.WEB_PAGE), NotWSManEndpointError),
    }


async def inventory(session: AsyncSession) -> dict[str, int]:
    caption = (await session.get("wmicimv2/Win32_OperatingSystem"))["Caption"]
    await asyncio.sleep(0.05)  # idle: an unsolicited response lands on the connection
    services = await session.enumerate("wmicimv2/Win32_Service").to_list()
    sizes = [len(s.xml) for s in services if isinstance(s, Item)]
    return {"caption": len(caption), "services": len(services), "largest_xml": max(sizes)}


async def test_every_hostile_host_gets_one_record_of_its_class_within_its_bound(
    wires: Tripwires,
) -> None:
    table = modes(wires.fifo.as_uri())
    layout = [mode for mode in table for _ in range(PER_MODE)]
    behaviours = {i: b for i, mode in enumerate(layout) if (b := table[mode].behaviour) is not None}
    async with WSManTestServer(
        hosts=len(layout), behaviours=behaviours, users={USER: PASSWORD}
    ) as server:
        mode_of = dict(zip(server.endpoints, layout))
        fan = run(
            server.endpoints,
            inventory,
            concurrency=len(layout),
            deadline=DEADLINE,
            close_grace=GRACE,
            retries=0,
            auth="basic",
            username=USER,
            password=PASSWORD,
            allow_unencrypted=True,
            timeout=DEADLINE,
            batch_items=100,
        )
        results: list[HostResult[dict[str, int]]] = []
        async with asyncio.timeout(600):  # a regression fails the test, never hangs it
            async with fan:
                results = [r async for r in fan]
        open_contexts = {
            url: server.host(i).contexts_open for i, url in enumerate(server.endpoints)
        }

    assert Counter(r.host for r in results) == Counter(server.endpoints)  # one each
    wrong = []
    for r in results:
        mode = mode_of[r.host]
        assert r.elapsed <= DEADLINE + GRACE + 1.0, (mode, r.elapsed, r.message)
        assert not (r.ok and r.elapsed > DEADLINE), (mode, r.elapsed)
        assert r.message is None or "\n" not in r.message
        if not table[mode].accepts(r):
            wrong.append(f"{mode}: {r.error_class}: {r.message}")
        if r.ok:
            assert r.value is not None and r.value["largest_xml"] < ITEM_XML_BOUND, mode
        if r.ok or mode in ("endless", "empty_batches", "oversize_batch"):
            assert open_contexts[r.host] == 0, (mode, "context left open on the server")
    assert wrong == [], "\n".join(wrong)
    assert not wires.tripped, f"opened {wires.opened}"
