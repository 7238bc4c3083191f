"""What the client reads from an event source's answers, field by field.

SubscribeResponse (DSP0226 10.2: the ``wse:SubscriptionManager`` EPR, the
granted ``wse:Expires``, the ``wsen:EnumerationContext`` of pull mode), the
answers to an event Pull (events, heartbeats, end of sequence,
``wse:SubscriptionEnd``), RenewResponse, and the faults that mean "this source
does not renew" (MS-WSMV 3.1.4.1.30.4).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from lxml import etree

from aiowsman.errors import FaultDetail, ProtocolError, SubscriptionEndedError, WSManFault
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol import parse_envelope, parse_event_batch, parse_renew, parse_subscribe
from aiowsman.protocol.eventing import (
    EventBatch,
    SubscribeResult,
    SubscriptionManager,
    expires_in,
    is_unable_to_renew,
)
from aiowsman.protocol.response import Envelope

S, A, E, N, W = ns.NS_SOAP, ns.NS_ADDRESSING, ns.NS_EVENTING, ns.NS_ENUMERATION, ns.NS_WSMAN
P = "http://example.com/params"
EVENTLOG = ns.URI_EVENTLOG
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
EVENT = (
    '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
    "<EventID>7036</EventID><EventRecordID>{rid}</EventRecordID><Channel>System</Channel>"
    "</System></Event>"
)


def envelope(body: str, *, action: str = "", header: str = "") -> bytes:
    head = f"<a:Action>{action}</a:Action>" if action else ""
    return (
        f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:e="{E}" xmlns:n="{N}" xmlns:w="{W}">'
        f"<s:Header>{head}{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


# -- SubscribeResponse ---------------------------------------------------------------------


def manager_epr(params: str, container: str = "a:ReferenceParameters") -> str:
    return (
        "<e:SubscriptionManager><a:Address>http://server01:5985/wsman</a:Address>"
        f"<{container}>{params}</{container}></e:SubscriptionManager>"
    )


def subscribed(
    manager: str, rest: str = "<n:EnumerationContext>uuid:C</n:EnumerationContext>"
) -> SubscribeResult:
    body = f"<e:SubscribeResponse>{manager}{rest}</e:SubscribeResponse>"
    return parse_subscribe(parse_envelope(envelope(body)))


def test_the_managers_reference_parameters_are_kept_without_the_envelopes_namespaces() -> None:
    params = (
        f"<w:ResourceURI>{EVENTLOG}</w:ResourceURI>"
        '<w:SelectorSet><w:Selector Name="Log">System</w:Selector></w:SelectorSet>'
        "<e:Identifier>ID-1</e:Identifier>"
        f'<p:Shard xmlns:p="{P}">3</p:Shard>'
    )
    manager = subscribed(manager_epr(params)).manager
    # ResourceURI and SelectorSet become the locator; the others are headers.
    assert manager.reference_parameters == (
        f'<e:Identifier xmlns:e="{E}">ID-1</e:Identifier>',
        f'<p:Shard xmlns:p="{P}">3</p:Shard>',
    )
    assert dict(manager.selectors) == {"Log": "System"}
    assert manager.locator("urn:other").resource_uri == EVENTLOG


def test_reference_properties_are_sent_back_too() -> None:
    # WS-Addressing 2004/08 has both ReferenceProperties and ReferenceParameters.
    manager = subscribed(
        manager_epr("<e:Identifier>ID-2</e:Identifier>", "a:ReferenceProperties")
    ).manager
    assert manager.identifier == "ID-2"
    assert manager.headers == f'<e:Identifier xmlns:e="{E}">ID-2</e:Identifier>'


def test_a_comment_among_reference_parameters_of_a_hand_built_envelope_is_skipped() -> None:
    # Envelope() also takes a tree the caller built, where comments survive
    # (parse_xml drops them): a comment is passed over, not an end of the list.
    params = (
        "<!-- first -->"
        + "<e:Identifier>ID-3</e:Identifier>"
        + f'<p:Shard xmlns:p="{P}">4</p:Shard>'
    )
    context = "<n:EnumerationContext>uuid:C</n:EnumerationContext>"
    body = f"<e:SubscribeResponse>{manager_epr(params)}{context}</e:SubscribeResponse>"
    manager = parse_subscribe(Envelope(etree.fromstring(envelope(body)))).manager
    assert manager.identifier == "ID-3"
    assert manager.reference_parameters == (
        f'<e:Identifier xmlns:e="{E}">ID-3</e:Identifier>',
        f'<p:Shard xmlns:p="{P}">4</p:Shard>',
    )


def test_the_identifier_is_read_without_surrounding_whitespace() -> None:
    manager = subscribed(manager_epr("<e:Identifier>\n  ID-3\n</e:Identifier>")).manager
    assert manager.identifier == "ID-3"


def test_an_empty_identifier_is_no_identifier() -> None:
    assert subscribed(manager_epr("<e:Identifier/>")).manager.identifier is None


def test_a_manager_without_a_resource_uri_is_addressed_at_the_subscriptions_uri() -> None:
    manager = SubscriptionManager("http://server01:5985/wsman", None)
    assert (dict(manager.selectors), manager.reference_parameters, manager.identifier) == (
        {},
        (),
        None,
    )
    assert manager.locator(EVENTLOG).resource_uri == EVENTLOG


def test_the_answers_to_a_subscribe_are_immutable() -> None:
    result = subscribed(manager_epr("<e:Identifier>ID-4</e:Identifier>"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.context = "uuid:other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.manager.identifier = "other"  # type: ignore[misc]


def test_the_granted_lifetime_and_context_are_read_without_surrounding_whitespace() -> None:
    result = subscribed(
        manager_epr(""),
        "<e:Expires>\n PT60.000S </e:Expires>"
        "<n:EnumerationContext>\n uuid:C \n</n:EnumerationContext>",
    )
    assert (result.expires, result.context) == ("PT60.000S", "uuid:C")


def test_an_empty_granted_lifetime_is_no_expiry() -> None:
    assert (
        subscribed(
            manager_epr(""), "<e:Expires/><n:EnumerationContext>c</n:EnumerationContext>"
        ).expires
        is None
    )


def test_an_empty_context_is_not_pull_delivery() -> None:
    with pytest.raises(ProtocolError, match="pull delivery"):
        subscribed(manager_epr(""), "<n:EnumerationContext> </n:EnumerationContext>")


def test_a_subscribe_answered_with_an_empty_body_names_the_operation() -> None:
    with pytest.raises(ProtocolError, match=r"^Subscribe response has an empty Body"):
        parse_subscribe(parse_envelope(envelope("")))


# -- expires_in -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (" PT300S ", 300.0),
        ("-PT5S", -5.0),  # already over: the caller treats it as no lifetime left
        ("2026-01-01T12:05:00Z", 300.0),
        ("2026-01-01T12:05:00z", 300.0),
        (" 2026-01-01T12:05:00+01:00", -3300.0),
        ("2026-01-01T12:05:00", 300.0),  # no offset: UTC
    ],
)
def test_a_granted_lifetime_is_a_duration_or_a_date_time_from_now(
    text: str, seconds: float
) -> None:
    assert expires_in(text, NOW) == seconds


@pytest.mark.parametrize("text", [None, "PT", "next week", ""])
def test_an_absent_or_unreadable_lifetime_is_no_known_expiry(text: str | None) -> None:
    assert expires_in(text, NOW) is None


# -- answers to an event Pull -------------------------------------------------------------------


def pull(inner: str, *, action: str = ns.ACTION_PULL_RESPONSE) -> EventBatch:
    return parse_event_batch(
        parse_envelope(envelope(f"<n:PullResponse>{inner}</n:PullResponse>", action=action)),
        host="srv01",
    )


def test_an_event_batch_is_not_a_heartbeat_unless_told() -> None:
    assert EventBatch([]).heartbeat is False


def test_events_in_a_wsman_items_wrapper_are_read() -> None:
    batch = pull(f"<w:Items>{EVENT.replace('{rid}', '9')}</w:Items>")
    assert [e.record_id for e in batch.events] == [9]
    assert not batch.heartbeat


def test_a_comment_among_the_events_of_a_hand_built_envelope_is_skipped() -> None:
    events = (
        "<!-- batch -->" + EVENT.replace("{rid}", "3") + "<!-- x -->" + EVENT.replace("{rid}", "4")
    )
    body = f"<n:PullResponse><n:Items>{events}</n:Items></n:PullResponse>"
    batch = parse_event_batch(Envelope(etree.fromstring(envelope(body))), host="srv01")
    assert [e.record_id for e in batch.events] == [3, 4]


def test_every_event_carries_the_host_bare_wrapped_or_as_text() -> None:
    bare = EVENT.replace("{rid}", "1")
    text = f"<w:Event><![CDATA[\n {EVENT.replace('{rid}', '2')}]]></w:Event>"
    batch = pull(f"<n:Items>{bare}{text}</n:Items>")
    assert [(e.record_id, e.host) for e in batch.events] == [(1, "srv01"), (2, "srv01")]


def test_an_event_sent_as_text_may_start_with_whitespace_before_its_declaration() -> None:
    # XML allows its declaration only at the very start: the text is trimmed first.
    text = f"\n  <?xml version='1.0'?>{EVENT.replace('{rid}', '5')}"
    batch = pull(f"<n:Items><w:Event><![CDATA[{text}]]></w:Event></n:Items>")
    assert [e.record_id for e in batch.events] == [5]


def test_an_empty_event_wrapper_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        pull("<n:Items><w:Event/></n:Items>")


@pytest.mark.parametrize("end", ["<n:EndOfSequence/>", "<w:EndOfSequence/>"])
def test_end_of_sequence_in_either_namespace_ends_the_events(end: str) -> None:
    batch = pull(end)
    assert batch.end_of_sequence and not batch.heartbeat


def test_the_next_context_is_read_and_an_empty_one_keeps_the_current() -> None:
    assert pull("<n:EnumerationContext>\n uuid:C2 \n</n:EnumerationContext>").context == "uuid:C2"
    assert pull("<n:EnumerationContext/>").context is None


def test_a_pull_response_without_a_bookmark_has_none() -> None:
    batch = pull(
        "<n:EnumerationContext>uuid:C2</n:EnumerationContext>"
        f"<n:Items>{EVENT.replace('{rid}', '3')}</n:Items>"
    )
    assert batch.bookmark is None


def test_a_heartbeat_element_marks_a_batch_with_events_as_a_heartbeat_too() -> None:
    batch = pull(f"<n:Items>{EVENT.replace('{rid}', '4')}</n:Items><w:Heartbeat/>")
    assert batch.heartbeat and [e.record_id for e in batch.events] == [4]


def test_a_heartbeat_may_have_an_empty_body_or_any_body() -> None:
    for body in ("", "<w:Heartbeat/>"):
        env = parse_envelope(envelope(body, action=ns.ACTION_HEARTBEAT))
        batch = parse_event_batch(env)
        assert batch.heartbeat and batch.events == []


@pytest.mark.parametrize("body", ["", "<n:EnumerateResponse/>"])
def test_anything_but_a_pull_response_or_heartbeat_is_a_protocol_error(body: str) -> None:
    with pytest.raises(ProtocolError):
        parse_event_batch(parse_envelope(envelope(body, action=ns.ACTION_PULL_RESPONSE)))


def test_a_subscription_end_is_recognised_by_its_action_alone() -> None:
    with pytest.raises(SubscriptionEndedError) as info:
        parse_event_batch(parse_envelope(envelope("", action=ns.ACTION_SUBSCRIPTION_END)))
    assert (info.value.status, info.value.reason) == (None, None)


def test_a_subscription_end_is_recognised_by_its_body_alone() -> None:
    body = "<e:SubscriptionEnd><e:Status>\n e:DeliveryFailure </e:Status></e:SubscriptionEnd>"
    with pytest.raises(SubscriptionEndedError) as info:
        parse_event_batch(parse_envelope(envelope(body, action=ns.ACTION_PULL_RESPONSE)))
    assert (info.value.status, info.value.reason) == ("e:DeliveryFailure", None)


def test_a_subscription_end_without_a_status_has_none() -> None:
    body = "<e:SubscriptionEnd><e:Reason>  the log\n was cleared </e:Reason></e:SubscriptionEnd>"
    with pytest.raises(SubscriptionEndedError) as info:
        parse_event_batch(parse_envelope(envelope(body, action=ns.ACTION_SUBSCRIPTION_END)))
    assert (info.value.status, info.value.reason) == (None, "the log was cleared")


# -- Renew -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "granted"),
    [
        ("<e:RenewResponse><e:Expires>\n PT60.000S </e:Expires></e:RenewResponse>", "PT60.000S"),
        ("<e:RenewResponse><e:Expires/></e:RenewResponse>", None),
        ("<e:RenewResponse/>", None),
        ("", None),
    ],
)
def test_a_renew_response_gives_the_granted_lifetime_if_any(body: str, granted: str | None) -> None:
    assert parse_renew(parse_envelope(envelope(body))) == granted


@pytest.mark.parametrize(
    "fault",
    [
        FaultDetail(subcode=ns.FAULT_UNABLE_TO_RENEW),
        FaultDetail(subcode="ActionNotSupported"),
        FaultDetail(wsman_code=ns.CODE_EVENTING_UNABLE_TO_RENEW),
    ],
)
def test_a_source_that_will_not_renew_says_so_by_subcode_or_code(fault: FaultDetail) -> None:
    assert is_unable_to_renew(WSManFault(fault))


@pytest.mark.parametrize(
    "error",
    [
        WSManFault(FaultDetail(subcode="TimedOut", wsman_code=2150858793)),
        WSManFault(FaultDetail()),
        ProtocolError("no answer"),
    ],
)
def test_other_renew_failures_are_not_a_refusal_to_renew(error: Exception) -> None:
    assert not is_unable_to_renew(error)
