"""Sans-IO WS-Management: envelopes, locators, faults, enumeration, items, eventing.

No asyncio, no aiohttp, no sockets: bytes in, bytes out, plain objects
(in the manner of h11 and psrpcore). A client builds a :class:`Request`
with one of the ``*_request`` builders, sends ``request.body`` however it
likes, then ``parse_envelope`` + ``check_response`` + the matching
``parse_*`` turn the answer into Python objects or a
:class:`~aiowsman.errors.WSManFault`.
"""

from __future__ import annotations

from .durations import format_duration, parse_duration, parse_timedelta
from .envelope import (
    AssociationFilter,
    EnumerationMode,
    Polymorphism,
    Request,
    RequestOptions,
    create_request,
    delete_request,
    enumerate_request,
    get_request,
    identify_request,
    invoke_request,
    new_message_id,
    pull_request,
    put_request,
    release_request,
)
from .eventing import (
    Bookmark,
    EventBatch,
    SubscribeResult,
    SubscriptionManager,
    event_pull_request,
    event_query,
    parse_event_batch,
    parse_renew,
    parse_subscribe,
    parse_unsubscribe,
    renew_request,
    subscribe_request,
    unsubscribe_request,
)
from .events import Event, parse_event
from .items import Item
from .locator import EndpointReference, Option, ResourceLocator, expand_resource_uri
from .response import (
    CreateResult,
    EnumerationBatch,
    Envelope,
    IdentifyResponse,
    check_response,
    fault_exception,
    parse_create,
    parse_delete,
    parse_enumeration,
    parse_envelope,
    parse_fault,
    parse_get,
    parse_identify,
    parse_invoke,
    parse_put,
)
from .xml import parse_xml

__all__ = [
    "AssociationFilter",
    "Bookmark",
    "CreateResult",
    "EndpointReference",
    "EnumerationBatch",
    "EnumerationMode",
    "Envelope",
    "Event",
    "EventBatch",
    "IdentifyResponse",
    "Item",
    "Option",
    "Polymorphism",
    "Request",
    "RequestOptions",
    "ResourceLocator",
    "SubscribeResult",
    "SubscriptionManager",
    "check_response",
    "create_request",
    "delete_request",
    "enumerate_request",
    "event_pull_request",
    "event_query",
    "expand_resource_uri",
    "fault_exception",
    "format_duration",
    "get_request",
    "identify_request",
    "invoke_request",
    "new_message_id",
    "parse_create",
    "parse_delete",
    "parse_duration",
    "parse_enumeration",
    "parse_envelope",
    "parse_event",
    "parse_event_batch",
    "parse_fault",
    "parse_get",
    "parse_identify",
    "parse_invoke",
    "parse_put",
    "parse_renew",
    "parse_subscribe",
    "parse_timedelta",
    "parse_unsubscribe",
    "parse_xml",
    "pull_request",
    "put_request",
    "release_request",
    "renew_request",
    "subscribe_request",
    "unsubscribe_request",
]
