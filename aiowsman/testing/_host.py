"""One simulated WS-Man host: its identity, its resource families, its routing.

The host answers Identify itself and hands every other request to one of
its resource families (:mod:`aiowsman.testing.families`): the family whose
``actions`` include the request's action, else the first whose ``serves``
accepts the resource URI, else the default family (CIM). ``wsen:Pull`` and
``wsen:Release`` name only an enumeration context, so the host looks the
context up in its one registry (:attr:`SimulatedHost.contexts`) and a Pull
goes to the family that opened it (DSP0226 8).
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Sequence
from typing import Final, TypeVar

from aiowsman.protocol.namespaces import (
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_ENUMERATE,
    ACTION_GET,
    ACTION_PULL,
    ACTION_PUT,
    ACTION_RELEASE,
    ACTION_RELEASE_RESPONSE,
    ACTION_RENEW,
    ACTION_SHELL_COMMAND,
    ACTION_SHELL_RECEIVE,
    ACTION_SHELL_SEND,
    ACTION_SHELL_SIGNAL,
    ACTION_SUBSCRIBE,
    ACTION_UNSUBSCRIBE,
    ADDRESS_ANONYMOUS,
    NS_ENUMERATION,
    NS_WSMAN_IDENTITY,
)
from aiowsman.testing._behaviour import HostBehaviour, HostStats
from aiowsman.testing._cim import HostStore, TableCache
from aiowsman.testing._data import os_facts
from aiowsman.testing._enumeration import EnumerationState
from aiowsman.testing._faults import Fault
from aiowsman.testing._flavour import FLAVOURS, Flavour
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing._xml import ENVELOPE_ENUMERATION, new_uuid, text
from aiowsman.testing.families import (
    CimFamily,
    FamilyFactory,
    Reply,
    ResourceFamily,
    default_families,
)

__all__ = ["OPERATIONS", "SimulatedHost", "operation_of"]

_N = "{" + NS_ENUMERATION + "}"
_IDENTIFY_TAG: Final = "{" + NS_WSMAN_IDENTITY + "}Identify"
#: Resource URIs whose family is remembered (a bound on the routing memo).
_ROUTE_MEMO: Final = 1024

OPERATIONS: Final = {
    ACTION_GET: "Get",
    ACTION_PUT: "Put",
    ACTION_CREATE: "Create",
    ACTION_DELETE: "Delete",
    ACTION_ENUMERATE: "Enumerate",
    ACTION_PULL: "Pull",
    ACTION_RELEASE: "Release",
    ACTION_SUBSCRIBE: "Subscribe",
    ACTION_RENEW: "Renew",
    ACTION_UNSUBSCRIBE: "Unsubscribe",
    # The remote shell actions (MS-WSMV 3.1.4.11-3.1.4.14), named for injections.
    ACTION_SHELL_COMMAND: "Command",
    ACTION_SHELL_SEND: "Send",
    ACTION_SHELL_RECEIVE: "Receive",
    ACTION_SHELL_SIGNAL: "Signal",
}

F = TypeVar("F", bound=ResourceFamily)


def operation_of(req: ParsedRequest) -> str:
    """The operation name of a parsed request (``Invoke`` for custom actions)."""
    if req.body is not None and req.body.tag == _IDENTIFY_TAG:
        return "Identify"
    return OPERATIONS.get(req.action, "Invoke")


class SimulatedHost:
    """A simulated host behind one endpoint.

    Args:
        index: the host number (0-based).
        seed: the data seed.
        behaviour: its :class:`HostBehaviour`.
        cache: the server-wide budget of generated CIM instances.
        bulk_instances: instances of the virtual class ``AIOWSMAN_BulkItem``.
        families: the resource families it serves, in routing order
            (default: :func:`~aiowsman.testing.families.default_families`).
        flavour: the server it imitates (:mod:`aiowsman.testing._flavour`;
            default Windows).

    Attributes:
        index: the host number (0-based).
        hostname: ``HOST0042``.
        url: its endpoint URL (set when the server starts).
        behaviour: the :class:`HostBehaviour` (mutable at run time).
        stats: the :class:`HostStats` counters.
        contexts: open enumeration contexts (all families), by context id.
    """

    def __init__(
        self,
        index: int,
        *,
        seed: int,
        behaviour: HostBehaviour,
        cache: TableCache | None = None,
        bulk_instances: int = 0,
        families: Sequence[FamilyFactory] | None = None,
        flavour: Flavour | None = None,
    ) -> None:
        self.index = index
        self.flavour = flavour if flavour is not None else FLAVOURS["windows"]
        self.seed = seed
        self.behaviour = behaviour
        self.stats = HostStats()
        self.url = ""
        self.machine = "127.0.0.1"
        self.contexts: dict[str, EnumerationState] = {}
        self.rng = random.Random(f"{seed}:{index}:latency")
        self.hostname = f"HOST{index:04d}"
        if families is None:
            families = default_families(cache=cache, bulk_instances=bulk_instances)
        self.families: tuple[ResourceFamily, ...] = tuple(make(self) for make in families)
        self._by_action: dict[str, ResourceFamily] = {}
        for family in self.families:
            for action in family.actions:
                self._by_action.setdefault(action, family)
        self._default = next((f for f in self.families if f.default), None)
        self._by_uri: dict[str, ResourceFamily | None] = {}

    # -- families -----------------------------------------------------------------------

    def family(self, kind: type[F]) -> F:
        """This host's instance of family ``kind`` (for tests to inspect its state).

        Raises:
            LookupError: the host does not serve that family.
        """
        for family in self.families:
            if isinstance(family, kind):
                return family
        raise LookupError(f"{self.hostname} has no {kind.__name__}")

    @property
    def store(self) -> HostStore:
        """The host's CIM store, pinned (see :attr:`CimFamily.store`)."""
        return self.family(CimFamily).store

    @property
    def contexts_open(self) -> int:
        """Enumeration contexts the host still holds (not finished, released or expired)."""
        return len(self.contexts)

    async def close(self) -> None:
        """Stop what the families run in the background (the server is closing)."""
        for family in self.families:
            await family.close()

    def latency(self) -> float:
        lat = self.behaviour.latency
        if isinstance(lat, tuple):
            return self.rng.uniform(*lat)
        return lat

    def _route(self, req: ParsedRequest) -> ResourceFamily:
        """The family that serves ``req`` (see the module docstring).

        Raises:
            Fault: no family serves the resource URI.
        """
        family = self._by_action.get(req.action)
        if family is not None:
            return family
        uri = req.resource_uri or ""
        try:
            found = self._by_uri[uri]
        except KeyError:
            found = next((f for f in self.families if f.serves(uri)), self._default)
            if len(self._by_uri) >= _ROUTE_MEMO:
                self._by_uri.clear()
            self._by_uri[uri] = found
        if found is None:
            raise Fault.destination_unreachable(uri)
        return found

    # -- envelopes --------------------------------------------------------------------

    @staticmethod
    def _envelope(
        head: str,
        action: str,
        relates_to: str | None,
        body: str,
        activity_id: str | None,
        headers: str = "",
    ) -> str:
        relates = f"<a:RelatesTo>{text(relates_to)}</a:RelatesTo>" if relates_to else ""
        # Windows adds p:ActivityId (never mustUnderstand) to enumeration
        # answers and faults (corpus pypsrp-enumerate-response-*.xml).
        activity = f"<p:ActivityId>{activity_id}</p:ActivityId>" if activity_id else ""
        return (
            f"{head}<s:Header><a:Action>{action}</a:Action>"
            f"<a:MessageID>uuid:{new_uuid()}</a:MessageID>{activity}"
            f"<a:To>{ADDRESS_ANONYMOUS}</a:To>{relates}{headers}</s:Header>"
            f"<s:Body>{body}</s:Body></s:Envelope>"
        )

    def identify(self, *, authenticated: bool, profiles: list[str]) -> str:
        """The IdentifyResponse (DSP0226 11), in the host's flavour's shape."""
        return self.flavour.identify(
            os_version=os_facts(self.seed, self.index)[1],
            authenticated=authenticated,
            profiles=profiles,
        )

    # -- dispatch ---------------------------------------------------------------------

    def execute(
        self,
        req: ParsedRequest,
        relates_to: str | None,
        activity_id: str | None = None,
        user: str | None = None,
    ) -> str | Awaitable[str]:
        """Run one request; return the response envelope, or an awaitable of it
        when the family has to wait (a shell Receive waits for output).

        Raises:
            Fault: the operation failed (rendered by the caller); an awaitable
                result raises it when awaited.
        """
        reply = self.dispatch(req, user)
        if isinstance(reply, Reply):
            return self._render(reply, relates_to, activity_id)
        return self._render_later(reply, relates_to, activity_id)

    def dispatch(self, req: ParsedRequest, user: str | None = None) -> Reply | Awaitable[Reply]:
        """The family's answer to ``req``, before it is wrapped in an envelope.

        Raises:
            Fault: the operation failed.
        """
        action = req.action
        if action == ACTION_PULL:
            context, state = self._context(req, "Pull")
            assert state.owner is not None
            return state.owner.pull(req, context, state)
        if action == ACTION_RELEASE:
            self._release(req)
            return Reply(ACTION_RELEASE_RESPONSE, "", ENVELOPE_ENUMERATION)
        return self._route(req).handle(req, user)

    def _render(self, reply: Reply, relates_to: str | None, activity_id: str | None) -> str:
        activity = activity_id if reply.activity else None
        return self._envelope(
            reply.head, reply.action, relates_to, reply.body, activity, reply.headers
        )

    async def _render_later(
        self, reply: Awaitable[Reply], relates_to: str | None, activity_id: str | None
    ) -> str:
        return self._render(await reply, relates_to, activity_id)

    # -- the enumeration context registry -----------------------------------------------

    def _context(self, req: ParsedRequest, element: str) -> tuple[str, EnumerationState]:
        body = req.body
        if body is None or body.tag != _N + element:
            raise Fault.schema_validation(f"The {element} body is missing. ")
        context = (body.findtext(_N + "EnumerationContext") or "").strip()
        state = self.contexts.get(context)
        if state is None or state.expires < time.monotonic():
            self.contexts.pop(context, None)
            raise Fault.invalid_enumeration_context()
        return context, state

    def _release(self, req: ParsedRequest) -> None:
        body = req.body
        context = (
            (body.findtext(_N + "EnumerationContext") or "").strip() if body is not None else ""
        )
        self.stats.releases.append(context)
        if self.contexts.pop(context, None) is None:
            raise Fault.invalid_enumeration_context()
