"""WS-Eventing pull mode, sans-IO: the messages built and the answers read.

Shapes checked by hand against DSP0226 10 (Subscribe with ``wsman:Filter``,
``wsman:Heartbeats``, ``wsman:SendBookmarks``/``wsman:Bookmark``,
``wsman:ConnectionRetry``; Pull delivery mode), MS-WSMV 3.1.4.1.30.1 (the
option set) and example 4.4 (a Windows Subscribe request), and the Windows
messages seen by peers (txwinrm's subscribe/unsubscribe templates; openwec's
capture of a Windows 10 event delivery: a ``BookmarkList`` in ``w:Bookmark``,
``w:Event`` wrappers, CDATA events). Every assertion reads by namespace URI.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from lxml import etree

from aiowsman.errors import (
    ConfigurationError,
    OperationTimedOutFault,
    ProtocolError,
    SubscriptionEndedError,
    WSManFault,
)
from aiowsman.protocol import (
    Bookmark,
    RequestOptions,
    ResourceLocator,
    event_pull_request,
    event_query,
    parse_envelope,
    parse_event_batch,
    parse_renew,
    parse_subscribe,
    parse_unsubscribe,
    renew_request,
    subscribe_request,
    unsubscribe_request,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol.eventing import (
    SubscriptionManager,
    event_log_options,
    expires_in,
    is_unable_to_renew,
)

S, A, W, N, E = ns.NS_SOAP, ns.NS_ADDRESSING, ns.NS_WSMAN, ns.NS_ENUMERATION, ns.NS_EVENTING
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
OPTS = RequestOptions("http://server01:5985/wsman")
QUERY = (
    '<QueryList><Query Id="0"><Select Path="System">*[System[(Level&lt;=3)]]</Select>'
    "</Query></QueryList>"
)
EVENTLOG = ns.URI_EVENTLOG


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def parsed(body: bytes) -> etree._Element:
    return etree.fromstring(body)


def local_children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el if isinstance(c.tag, str)]


def subscribe_xml(**kwargs: object) -> etree._Element:
    loc = ResourceLocator(EVENTLOG)
    for option in event_log_options(
        subscription_name="aiowsman",
        content_format="RenderedText",
        read_existing=True,
        ignore_channel_error=True,
    ):
        loc.options.append(option)
    args: dict[str, object] = {"query": QUERY, "heartbeat": 30.0}
    args.update(kwargs)
    return parsed(subscribe_request(OPTS, loc, **args).body)  # type: ignore[arg-type]


# -- Subscribe --------------------------------------------------------------------------


def test_subscribe_is_addressed_to_the_event_log_with_the_subscribe_action() -> None:
    root = subscribe_xml()
    header = root.find(q(S, "Header"))
    assert header is not None
    assert header.findtext(q(A, "Action")) == ns.ACTION_SUBSCRIBE
    assert header.findtext(q(W, "ResourceURI")) == EVENTLOG


def test_subscribe_asks_for_pull_delivery_with_heartbeats_and_encoding() -> None:
    delivery = subscribe_xml().find(f".//{q(E, 'Subscribe')}/{q(E, 'Delivery')}")
    assert delivery is not None
    assert delivery.get("Mode") == "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"
    assert delivery.findtext(q(W, "Heartbeats")) == "PT30.000S"
    assert delivery.findtext(q(W, "ContentEncoding")) == "UTF-8"


def test_subscribe_children_follow_the_schema_order() -> None:
    sub = subscribe_xml(expires=600.0, bookmark=ns.BOOKMARK_EARLIEST)
    body = sub.find(f".//{q(E, 'Subscribe')}")
    assert body is not None
    assert local_children(body) == ["Delivery", "Expires", "Filter", "Bookmark", "SendBookmarks"]


def test_subscribe_filter_holds_the_query_list_as_xml_in_the_eventquery_dialect() -> None:
    filt = subscribe_xml().find(f".//{q(W, 'Filter')}")
    assert filt is not None
    assert filt.get("Dialect") == "http://schemas.microsoft.com/win/2004/08/events/eventquery"
    select = filt.find("QueryList/Query/Select")
    assert select is not None
    assert select.get("Path") == "System"
    assert select.text == "*[System[(Level<=3)]]"


def test_subscribe_without_expires_asks_for_a_subscription_that_does_not_expire() -> None:
    assert subscribe_xml().find(f".//{q(E, 'Expires')}") is None


def test_subscribe_expires_is_an_xs_duration() -> None:
    assert subscribe_xml(expires=90.5).findtext(f".//{q(E, 'Expires')}") == "PT90.500S"


def test_subscribe_options_are_the_windows_option_set() -> None:
    options = {
        o.get("Name"): o
        for o in subscribe_xml().iterfind(f".//{q(W, 'OptionSet')}/{q(W, 'Option')}")
    }
    assert options["SubscriptionName"].text == "aiowsman"
    assert options["ContentFormat"].text == "RenderedText"
    assert options["ReadExistingEvents"].text == "true"
    # MS-WSMV 3.1.4.1.30.1 / example 4.4: IgnoreChannelError is an xsi:nil option.
    assert options["IgnoreChannelError"].get(XSI_NIL) == "true"


def test_subscribe_send_bookmarks_is_an_empty_element() -> None:
    assert subscribe_xml().find(f".//{q(W, 'SendBookmarks')}") is not None
    assert subscribe_xml(send_bookmarks=False).find(f".//{q(W, 'SendBookmarks')}") is None


def test_subscribe_bookmark_carries_a_bookmark_list_as_xml() -> None:
    mark = Bookmark('<BookmarkList><Bookmark Channel="System" RecordId="42"/></BookmarkList>')
    el = subscribe_xml(bookmark=mark).find(f".//{q(W, 'Bookmark')}/BookmarkList/Bookmark")
    assert el is not None
    assert (el.get("Channel"), el.get("RecordId")) == ("System", "42")


def test_subscribe_earliest_bookmark_is_the_reserved_uri_as_text() -> None:
    text = subscribe_xml(bookmark=ns.BOOKMARK_EARLIEST).findtext(f".//{q(W, 'Bookmark')}")
    assert text == "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"


def test_subscribe_connection_retry_has_a_total_and_an_interval() -> None:
    retry = subscribe_xml(connection_retry=(3, 10.0)).find(f".//{q(W, 'ConnectionRetry')}")
    assert retry is not None
    assert (retry.get("Total"), retry.text) == ("3", "PT10.000S")


@pytest.mark.parametrize("retry", [(0, 5.0), (3, 0.0), (-1, 5.0)])
def test_subscribe_connection_retry_must_be_both_zero_or_both_positive(
    retry: tuple[int, float],
) -> None:
    with pytest.raises(ConfigurationError):
        subscribe_xml(connection_retry=retry)


@pytest.mark.parametrize("bad", [{"expires": 0.0}, {"heartbeat": -1.0}, {"query": "  "}])
def test_subscribe_refuses_values_the_source_would_fault_on(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        subscribe_xml(**bad)


def test_subscribe_refuses_a_query_that_is_not_xml() -> None:
    with pytest.raises(ConfigurationError):
        subscribe_xml(query="<QueryList><Query>")


def test_event_query_escapes_the_xpath_into_a_query_list() -> None:
    root = etree.fromstring(event_query("*[System[(Level<=3)]]", "Security").encode())
    select = root.find("Query/Select")
    assert select is not None
    assert (select.get("Path"), select.text) == ("Security", "*[System[(Level<=3)]]")


def test_event_log_options_refuse_an_unknown_content_format() -> None:
    with pytest.raises(ConfigurationError):
        event_log_options(content_format="Html")


# -- SubscribeResponse --------------------------------------------------------------------


def subscribe_response(expires: str = "", context: str = "uuid:CTX-1") -> bytes:
    granted = f"<e:Expires>{expires}</e:Expires>" if expires else ""
    return (
        f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:e="{E}" xmlns:n="{N}" xmlns:w="{W}">'
        "<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse"
        "</a:Action><a:RelatesTo>uuid:1</a:RelatesTo></s:Header><s:Body>"
        "<e:SubscribeResponse><e:SubscriptionManager>"
        "<a:Address>http://server01:5985/wsman</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{EVENTLOG}</w:ResourceURI>"
        "<e:Identifier>6C3B7E3A-96E2-4C2C-8AD6-9C6E8F1D2B11</e:Identifier>"
        f"</a:ReferenceParameters></e:SubscriptionManager>{granted}"
        f"<n:EnumerationContext>{context}</n:EnumerationContext>"
        "</e:SubscribeResponse></s:Body></s:Envelope>"
    ).encode()


def test_subscribe_response_gives_the_manager_and_the_pull_context() -> None:
    result = parse_subscribe(parse_envelope(subscribe_response()))
    assert result.context == "uuid:CTX-1"
    assert result.manager.resource_uri == EVENTLOG
    assert result.manager.identifier == "6C3B7E3A-96E2-4C2C-8AD6-9C6E8F1D2B11"
    assert result.manager.address == "http://server01:5985/wsman"
    assert result.expires is None


def test_subscribe_response_expires_as_a_duration() -> None:
    result = parse_subscribe(parse_envelope(subscribe_response("PT600.000S")))
    assert result.expires_in() == 600.0


def test_subscribe_response_expires_as_a_date_time_counts_from_now() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert expires_in("2026-01-01T12:05:00Z", now) == 300.0


def test_subscribe_response_without_a_context_is_not_pull_delivery() -> None:
    body = subscribe_response().replace(
        b"<n:EnumerationContext>uuid:CTX-1</n:EnumerationContext>", b""
    )
    with pytest.raises(ProtocolError, match="pull delivery"):
        parse_subscribe(parse_envelope(body))


# -- requests to the subscription manager ---------------------------------------------------


def manager() -> SubscriptionManager:
    return parse_subscribe(parse_envelope(subscribe_response())).manager


def test_unsubscribe_sends_the_managers_reference_parameters_as_headers() -> None:
    root = parsed(unsubscribe_request(OPTS, manager(), EVENTLOG).body)
    header = root.find(q(S, "Header"))
    assert header is not None
    assert header.findtext(q(A, "Action")) == ns.ACTION_UNSUBSCRIBE
    assert header.findtext(q(W, "ResourceURI")) == EVENTLOG
    assert header.findtext(q(E, "Identifier")) == "6C3B7E3A-96E2-4C2C-8AD6-9C6E8F1D2B11"
    assert root.find(f".//{q(E, 'Unsubscribe')}") is not None


def test_renew_asks_for_a_new_lifetime_of_the_same_subscription() -> None:
    root = parsed(renew_request(OPTS, manager(), EVENTLOG, 120.0).body)
    assert root.findtext(f".//{q(A, 'Action')}") == ns.ACTION_RENEW
    assert root.findtext(f".//{q(E, 'Identifier')}") == "6C3B7E3A-96E2-4C2C-8AD6-9C6E8F1D2B11"
    assert root.findtext(f".//{q(E, 'Renew')}/{q(E, 'Expires')}") == "PT120.000S"


def test_renew_response_gives_the_granted_lifetime() -> None:
    body = (
        f'<s:Envelope xmlns:s="{S}" xmlns:e="{E}"><s:Body><e:RenewResponse>'
        "<e:Expires>PT60.000S</e:Expires></e:RenewResponse></s:Body></s:Envelope>"
    ).encode()
    assert parse_renew(parse_envelope(body)) == "PT60.000S"


def test_unable_to_renew_is_recognised_by_subcode_or_code() -> None:
    env = parse_envelope(fault(f"e:{ns.FAULT_UNABLE_TO_RENEW}", code=2150858788))
    with pytest.raises(WSManFault) as info:
        parse_renew(env)
    assert is_unable_to_renew(info.value)


def test_unsubscribe_response_is_an_empty_body() -> None:
    parse_unsubscribe(parse_envelope(f'<s:Envelope xmlns:s="{S}"><s:Body/></s:Envelope>'.encode()))


# -- Pull of events --------------------------------------------------------------------------


def test_event_pull_carries_max_time_before_max_elements() -> None:
    root = parsed(
        event_pull_request(
            OPTS, ResourceLocator(EVENTLOG), "uuid:CTX-1", max_elements=20, max_time=15.0
        ).body
    )
    pull = root.find(f".//{q(N, 'Pull')}")
    assert pull is not None
    assert local_children(pull) == ["EnumerationContext", "MaxTime", "MaxElements"]
    assert pull.findtext(q(N, "MaxTime")) == "PT15.000S"
    assert pull.findtext(q(N, "MaxElements")) == "20"


EVENT = (
    '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
    '<Provider Name="Service Control Manager" Guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}"/>'
    "<EventID>7036</EventID><Level>4</Level><Keywords>0x8080000000000000</Keywords>"
    '<TimeCreated SystemTime="2026-03-02T09:30:00.1234567Z"/>'
    "<EventRecordID>{rid}</EventRecordID><Channel>System</Channel><Computer>srv01</Computer>"
    '</System><EventData><Data Name="param1">WinRM</Data></EventData></Event>'
)


def pull_response(items: str, *, header: str = "", action: str = ns.ACTION_PULL_RESPONSE) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:n="{N}" xmlns:w="{W}">'
        f"<s:Header><a:Action>{action}</a:Action>{header}</s:Header><s:Body>"
        f"<n:PullResponse><n:EnumerationContext>uuid:CTX-2</n:EnumerationContext>{items}"
        "</n:PullResponse></s:Body></s:Envelope>"
    ).encode()


def wrapped(rid: int) -> str:
    return f'<w:Event Action="{ns.ACTION_EVENT}">{EVENT.replace("{rid}", str(rid))}</w:Event>'


BOOKMARK_HEADER = (
    '<w:Bookmark><BookmarkList><Bookmark Channel="System" RecordId="12" IsCurrent="true"/>'
    "</BookmarkList></w:Bookmark>"
)


def test_event_batch_reads_wrapped_events_in_order() -> None:
    batch = parse_event_batch(
        parse_envelope(pull_response(f"<n:Items>{wrapped(11)}{wrapped(12)}</n:Items>")),
        host="srv01",
    )
    assert [e.record_id for e in batch.events] == [11, 12]
    assert {e.host for e in batch.events} == {"srv01"}
    assert batch.context == "uuid:CTX-2"
    assert not batch.heartbeat


def test_an_event_from_a_batch_keeps_its_own_xml_without_the_envelopes_namespaces() -> None:
    batch = parse_event_batch(parse_envelope(pull_response(f"<n:Items>{wrapped(11)}</n:Items>")))
    xml = batch.events[0].xml
    assert xml.startswith('<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">')
    assert "xmlns:s=" not in xml and "xmlns:w=" not in xml
    assert etree.fromstring(xml.encode()).findtext("{*}System/{*}EventRecordID") == "11"


def test_event_batch_reads_the_bookmark_header() -> None:
    batch = parse_event_batch(
        parse_envelope(pull_response(f"<n:Items>{wrapped(12)}</n:Items>", header=BOOKMARK_HEADER))
    )
    assert batch.bookmark is not None
    assert batch.bookmark.positions == {"System": 12}


def test_event_batch_reads_cdata_events() -> None:
    # MS-WSMV 3.1.4.1.30.1 "CDATA": the event is passed as text.
    item = (
        f'<w:Event Action="{ns.ACTION_EVENT}"><![CDATA[{EVENT.replace("{rid}", "7")}]]></w:Event>'
    )
    batch = parse_event_batch(parse_envelope(pull_response(f"<n:Items>{item}</n:Items>")))
    assert batch.events[0].record_id == 7
    assert batch.events[0].xml.startswith("<Event")


def test_event_batch_reads_bare_events_and_events_wrappers() -> None:
    bare = EVENT.replace("{rid}", "3")
    batched = f"<w:Events>{wrapped(4)}</w:Events>"
    batch = parse_event_batch(parse_envelope(pull_response(f"<n:Items>{bare}{batched}</n:Items>")))
    assert [e.record_id for e in batch.events] == [3, 4]


def test_a_heartbeat_action_is_a_heartbeat() -> None:
    batch = parse_event_batch(parse_envelope(pull_response("", action=ns.ACTION_HEARTBEAT)))
    assert batch.heartbeat and batch.events == []


def test_an_empty_pull_response_counts_as_a_heartbeat() -> None:
    batch = parse_event_batch(parse_envelope(pull_response("<n:Items/>")))
    assert batch.heartbeat


def test_a_bookmark_inside_the_pull_response_is_read_too() -> None:
    body = pull_response(f"<n:Items>{wrapped(12)}</n:Items>{BOOKMARK_HEADER}")
    batch = parse_event_batch(parse_envelope(body))
    assert batch.bookmark is not None and batch.bookmark.positions == {"System": 12}


def test_an_unexpected_item_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_event_batch(parse_envelope(pull_response("<n:Items><w:Other/></n:Items>")))


def test_subscription_end_raises_with_status_and_reason() -> None:
    body = (
        f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:e="{E}"><s:Header>'
        f"<a:Action>{ns.ACTION_SUBSCRIPTION_END}</a:Action></s:Header><s:Body>"
        "<e:SubscriptionEnd><e:Status>e:SourceShuttingDown</e:Status>"
        '<e:Reason xml:lang="en-US">The service is stopping.</e:Reason>'
        "</e:SubscriptionEnd></s:Body></s:Envelope>"
    ).encode()
    with pytest.raises(SubscriptionEndedError) as info:
        parse_event_batch(parse_envelope(body))
    assert info.value.status == "e:SourceShuttingDown"
    assert info.value.reason == "The service is stopping."


def fault(subcode: str, *, code: int) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:w="{W}" xmlns:e="{E}">'
        "<s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action>"
        "</s:Header><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>"
        f'<s:Value>{subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">'
        "reason</s:Text></s:Reason><s:Detail>"
        f'<f:WSManFault xmlns:f="{ns.NS_WSMAN_FAULT}" Code="{code}" Machine="srv01">'
        "<f:Message>message</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>"
    ).encode()


def test_no_events_within_max_time_is_the_timed_out_fault() -> None:
    with pytest.raises(OperationTimedOutFault):
        parse_event_batch(parse_envelope(fault("w:TimedOut", code=2150858793)))


# -- bookmarks ---------------------------------------------------------------------------------


LIST = (
    '<BookmarkList><Bookmark Channel="System" RecordId="40"/>'
    '<Bookmark Channel="Application" RecordId="7" IsCurrent="true"/></BookmarkList>'
)


def test_a_bookmark_list_is_read_as_positions_per_channel() -> None:
    mark = Bookmark(LIST)
    assert mark.positions == {"System": 40, "Application": 7}
    assert mark.current == "Application"


def test_advancing_a_bookmark_moves_one_channel_and_marks_it_current() -> None:
    mark = Bookmark(LIST).advanced("System", 41)
    assert mark is not None
    assert mark.positions == {"System": 41, "Application": 7}
    assert mark.current == "System"
    again = Bookmark(mark.xml)
    assert again == mark


def test_advancing_adds_a_channel_the_bookmark_did_not_have() -> None:
    mark = Bookmark(LIST).advanced("Security", 3)
    assert mark is not None and mark.positions == {"System": 40, "Application": 7, "Security": 3}


def test_an_opaque_bookmark_is_kept_as_is_and_cannot_be_advanced() -> None:
    mark = Bookmark("<Cursor at='x'/>")
    assert mark.positions is None
    assert mark.advanced("System", 1) is None
    assert str(mark) == "<Cursor at='x'/>"


def test_bookmarks_are_hashable_and_picklable() -> None:
    mark = Bookmark.from_positions({"System": 5}, "System")
    assert pickle.loads(pickle.dumps(mark)) == mark
    assert len({mark, Bookmark(mark.xml)}) == 1


@pytest.mark.parametrize("text", ["", "   ", "<BookmarkList>"])
def test_a_bookmark_must_be_text_or_well_formed_xml(text: str) -> None:
    with pytest.raises(ConfigurationError):
        Bookmark(text)
