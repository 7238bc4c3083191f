"""The contract between a simulated host and its resource families.

A family is one handler module serving one kind of resource (CIM classes,
``winrm/config``, shells...). The host routes each request to one family
(see :class:`ResourceFamily` for the rules), the family answers with a
:class:`Reply` (or an awaitable of one, for operations that wait, like a
shell Receive), and the host wraps it in the envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import ClassVar, NamedTuple, Protocol, TypeVar

from lxml import etree

from aiowsman.protocol.namespaces import (
    ACTION_CREATE,
    ACTION_CREATE_RESPONSE,
    ACTION_DELETE,
    ACTION_DELETE_RESPONSE,
    ACTION_ENUMERATE,
    ACTION_ENUMERATE_RESPONSE,
    ACTION_GET,
    ACTION_GET_RESPONSE,
    ACTION_PULL_RESPONSE,
    ACTION_PUT,
    ACTION_PUT_RESPONSE,
    NS_ENUMERATION,
)
from aiowsman.testing._behaviour import HostBehaviour, HostStats
from aiowsman.testing._enumeration import (
    EnumerationState,
    Items,
    open_enumeration,
    pull_batch,
)
from aiowsman.testing._faults import Fault
from aiowsman.testing._flavour import Flavour
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing._xml import ENVELOPE_ENUMERATION, ENVELOPE_TRANSFER

__all__ = ["Host", "Reply", "ResourceFamily"]

_N = "{" + NS_ENUMERATION + "}"

F = TypeVar("F", bound="ResourceFamily")


class Host(Protocol):
    """What a family may use of the host it belongs to (``SimulatedHost``)."""

    index: int
    seed: int
    hostname: str
    url: str
    machine: str
    behaviour: HostBehaviour
    stats: HostStats
    contexts: dict[str, EnumerationState]
    flavour: Flavour

    def family(self, kind: type[F]) -> F:
        """The host's instance of another family (raises LookupError)."""
        ...


class Reply(NamedTuple):
    """A family's answer, before the host wraps it in an envelope.

    Attributes:
        action: the response's ``wsa:Action``.
        body: the ``s:Body`` content (may be empty).
        head: the opening ``s:Envelope`` tag with its namespace declarations
            (Windows declares a different set per response family).
        activity: whether the header carries ``p:ActivityId`` (Windows adds
            it to enumeration answers).
        headers: more header blocks, rendered (an event batch's ``w:Bookmark``).
    """

    action: str
    body: str = ""
    head: str = ENVELOPE_TRANSFER
    activity: bool = False
    headers: str = ""


class ResourceFamily:
    """One resource family on one simulated host; subclass it per family.

    Routing (done by the host, in registration order): a request whose
    action is in :attr:`actions` goes to that family; otherwise the first
    family whose :meth:`serves` accepts the resource URI; otherwise the
    family marked :attr:`default`. ``wsen:Pull`` and ``wsen:Release`` name
    only an enumeration context: they go to the family that opened it.

    State lives on the instance: the host makes one instance of each family
    (``factory(host)``), so every host has its own shells, contexts and data.

    Attributes:
        name: a short name (``"cim"``, ``"shell"``) for messages and lookups.
        resource_uris: resource URIs this family serves, each with everything
            below it (``uri`` and ``uri/...``).
        actions: actions this family serves whatever the resource URI
            (WS-Eventing's Subscribe, for instance).
        default: serves every request no other family claims.
    """

    name: ClassVar[str] = ""
    resource_uris: ClassVar[tuple[str, ...]] = ()
    actions: ClassVar[frozenset[str]] = frozenset()
    default: ClassVar[bool] = False

    def __init__(self, host: Host) -> None:
        self.host = host

    def serves(self, uri: str) -> bool:
        """Whether this family serves resource URI ``uri``."""
        return any(uri == p or uri.startswith(p + "/") for p in self.resource_uris)

    async def close(self) -> None:
        """The server is closing: stop whatever runs in the background."""
        return None

    # -- dispatch -----------------------------------------------------------------

    def handle(self, req: ParsedRequest, user: str | None) -> Reply | Awaitable[Reply]:
        """Answer one request (the host has routed it here).

        Args:
            req: the parsed request (shared with a parse cache: never change it).
            user: the authenticated user name (None without authentication);
                per-user quotas count by it.

        Raises:
            Fault: the operation failed.
        """
        action = req.action
        if action == ACTION_GET:
            return Reply(ACTION_GET_RESPONSE, self.get(req))
        if action == ACTION_PUT:
            return Reply(ACTION_PUT_RESPONSE, self.put(req))
        if action == ACTION_CREATE:
            return Reply(ACTION_CREATE_RESPONSE, self.create(req, user))
        if action == ACTION_DELETE:
            self.delete(req, user)
            return Reply(ACTION_DELETE_RESPONSE)
        if action == ACTION_ENUMERATE:
            return self.enumerate(req, user)
        # DSP0226 9: a custom action's response action is action + "Response".
        return Reply(action + "Response", self.invoke(req, user))

    def _unreachable(self, req: ParsedRequest) -> Fault:
        return Fault.destination_unreachable(req.resource_uri or "")

    def get(self, req: ParsedRequest) -> str:
        """The Get response body. Raises Fault (by default: not served here)."""
        raise self._unreachable(req)

    def put(self, req: ParsedRequest) -> str:
        """The Put response body. Raises Fault (by default: not served here)."""
        raise self._unreachable(req)

    def create(self, req: ParsedRequest, user: str | None) -> str:
        """The Create response body. Raises Fault (by default: not served here)."""
        raise self._unreachable(req)

    def delete(self, req: ParsedRequest, user: str | None) -> None:
        """Delete the resource. Raises Fault (by default: not served here)."""
        raise self._unreachable(req)

    def invoke(self, req: ParsedRequest, user: str | None) -> str:
        """A custom action's response body. Raises Fault (by default: not supported)."""
        raise Fault.action_not_supported(req.action)

    # -- WS-Enumeration ---------------------------------------------------------------

    def enumeration_items(
        self, req: ParsedRequest, enum: etree._Element, user: str | None
    ) -> Items:
        """The items an Enumerate selects. Raises Fault (by default: not served here)."""
        raise self._unreachable(req)

    def enumerate(self, req: ParsedRequest, user: str | None) -> Reply:
        """Answer an Enumerate with :meth:`enumeration_items` (DSP0226 8).

        Raises:
            Fault: no Enumerate body, or the items cannot be selected.
        """
        enum = req.body
        if enum is None or enum.tag != _N + "Enumerate":
            raise Fault.schema_validation("The Enumerate body is missing. ")
        items = self.enumeration_items(req, enum, user)
        body = open_enumeration(
            self.host.contexts, self, req, enum, items, self.host.behaviour.enumeration_timeout
        )
        return Reply(ACTION_ENUMERATE_RESPONSE, body, ENVELOPE_ENUMERATION, activity=True)

    def pull(
        self, req: ParsedRequest, context: str, state: EnumerationState
    ) -> Reply | Awaitable[Reply]:
        """Answer a Pull on one of this family's contexts (the next batch)."""
        body = pull_batch(
            self.host.contexts, req, context, state, self.host.behaviour.enumeration_timeout
        )
        return Reply(ACTION_PULL_RESPONSE, body, ENVELOPE_ENUMERATION, activity=True)
