"""The whole of each eventing request: nothing more, nothing less.

The shapes are those of DSP0226 10.2 (a pull-mode Subscribe: Delivery with
Heartbeats, ConnectionRetry and ContentEncoding; Expires; Filter; Bookmark;
SendBookmarks), 10.4 (Unsubscribe) and 10.5 (Renew), compared element by
element, text and attributes included, so that a stray character anywhere in
a body is seen. ``Request.operation`` names the operation in every error and
decides whether a request may be sent again: it is checked for each builder.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from aiowsman.errors import ConfigurationError
from aiowsman.protocol import (
    Bookmark,
    RequestOptions,
    ResourceLocator,
    event_pull_request,
    renew_request,
    subscribe_request,
    unsubscribe_request,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol.eventing import SubscriptionManager, event_log_options

S, E, W, XSI = ns.NS_SOAP, ns.NS_EVENTING, ns.NS_WSMAN, "http://www.w3.org/2001/XMLSchema-instance"
OPTS = RequestOptions("http://server01:5985/wsman")
EVENTLOG = ns.URI_EVENTLOG
QUERY = '<QueryList><Query Id="0"><Select Path="System">*</Select></Query></QueryList>'
MARK = '<BookmarkList><Bookmark Channel="System" RecordId="5" IsCurrent="true"/></BookmarkList>'
IDENTIFIER = f'<e:Identifier xmlns:e="{E}">6C3B7E3A</e:Identifier>'
MANAGER = SubscriptionManager("http://server01:5985/wsman", EVENTLOG, {}, (IDENTIFIER,), "6C3B7E3A")


def shape(el: etree._Element) -> tuple[Any, ...]:
    """Tag, attributes, text and children with their tails: everything but prefixes."""
    return (el.tag, dict(el.attrib), el.text, [(shape(c), c.tail) for c in el])


def body_of(body: bytes) -> etree._Element:
    root = etree.fromstring(body)
    found = root.find(f"{{{S}}}Body")
    assert found is not None
    assert found.text is None and len(found) == 1 and found[0].tail is None
    return found[0]


def expected(xml: str) -> tuple[Any, ...]:
    return shape(etree.fromstring(f'<e:X xmlns:e="{E}" xmlns:w="{W}">{xml}</e:X>')[0])


def test_a_full_subscribe_body_is_exactly_the_pull_mode_subscribe() -> None:
    request = subscribe_request(
        OPTS,
        ResourceLocator(EVENTLOG),
        query=QUERY,
        expires=600.0,
        heartbeat=30.0,
        connection_retry=(3, 10.0),
        bookmark=Bookmark(MARK),
    )
    assert request.operation == "Subscribe"
    assert shape(body_of(request.body)) == expected(
        f'<e:Subscribe><e:Delivery Mode="{ns.DELIVERY_MODE_PULL}">'
        "<w:Heartbeats>PT30.000S</w:Heartbeats>"
        '<w:ConnectionRetry Total="3">PT10.000S</w:ConnectionRetry>'
        "<w:ContentEncoding>UTF-8</w:ContentEncoding></e:Delivery>"
        "<e:Expires>PT600.000S</e:Expires>"
        f'<w:Filter Dialect="{ns.DIALECT_EVENT_QUERY}">{QUERY}</w:Filter>'
        f"<w:Bookmark>{MARK}</w:Bookmark><w:SendBookmarks/></e:Subscribe>"
    )


def test_a_minimal_subscribe_body_has_only_the_delivery_and_the_filter() -> None:
    request = subscribe_request(
        OPTS, ResourceLocator(EVENTLOG), query=QUERY, send_bookmarks=False, content_encoding=None
    )
    assert shape(body_of(request.body)) == expected(
        f'<e:Subscribe><e:Delivery Mode="{ns.DELIVERY_MODE_PULL}"/>'
        f'<w:Filter Dialect="{ns.DIALECT_EVENT_QUERY}">{QUERY}</w:Filter></e:Subscribe>'
    )


def test_a_query_starting_with_whitespace_is_still_sent_as_xml() -> None:
    request = subscribe_request(OPTS, ResourceLocator(EVENTLOG), query=f"\n  {QUERY}")
    filt = body_of(request.body).find(f"{{{W}}}Filter")
    assert filt is not None
    assert [child.tag for child in filt] == ["QueryList"]


def test_both_zero_connection_retry_is_sent_as_no_retries() -> None:
    # MS-WSMV 3.1.4.1.30.2: the count and the interval are both zero or both not.
    request = subscribe_request(
        OPTS, ResourceLocator(EVENTLOG), query=QUERY, connection_retry=(0, 0.0)
    )
    retry = body_of(request.body).find(f"{{{E}}}Delivery/{{{W}}}ConnectionRetry")
    assert retry is not None
    assert (retry.get("Total"), retry.text) == ("0", "PT0.000S")


@pytest.mark.parametrize(
    "bad", [{"heartbeat": 0.0}, {"expires": -5.0}, {"heartbeat": float("inf")}]
)
def test_subscribe_refuses_a_zero_or_unwritable_duration(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        subscribe_request(OPTS, ResourceLocator(EVENTLOG), query=QUERY, **bad)


def test_an_event_pull_must_let_the_source_wait_some_time() -> None:
    with pytest.raises(ConfigurationError):
        event_pull_request(OPTS, ResourceLocator(EVENTLOG), "uuid:C", max_elements=5, max_time=0.0)


def test_a_renew_body_is_exactly_the_new_lifetime() -> None:
    request = renew_request(OPTS, MANAGER, EVENTLOG, 120.0)
    assert request.operation == "Renew"
    assert shape(body_of(request.body)) == expected(
        "<e:Renew><e:Expires>PT120.000S</e:Expires></e:Renew>"
    )


def test_a_renew_must_ask_for_some_time() -> None:
    with pytest.raises(ConfigurationError):
        renew_request(OPTS, MANAGER, EVENTLOG, 0.0)


def test_an_unsubscribe_body_is_an_empty_unsubscribe() -> None:
    request = unsubscribe_request(OPTS, MANAGER, EVENTLOG)
    assert request.operation == "Unsubscribe"
    assert shape(body_of(request.body)) == expected("<e:Unsubscribe/>")


def test_each_reference_parameter_is_one_header_with_nothing_between() -> None:
    other = f'<w:Machine xmlns:w="{W}">server01</w:Machine>'
    manager = SubscriptionManager(None, EVENTLOG, reference_parameters=(IDENTIFIER, other))
    assert manager.headers == IDENTIFIER + other


# -- the option set ---------------------------------------------------------------------------


def test_no_subscription_options_unless_asked() -> None:
    assert event_log_options() == []


def test_the_cdata_option_is_present_with_xsi_nil() -> None:
    (option,) = event_log_options(cdata=True)
    assert (option.name, option.value) == ("CDATA", None)
    loc = ResourceLocator(EVENTLOG)
    loc.options.append(option)
    request = subscribe_request(OPTS, loc, query=QUERY)
    sent = etree.fromstring(request.body).find(f".//{{{W}}}OptionSet/{{{W}}}Option")
    assert sent is not None
    assert (sent.get("Name"), sent.get(f"{{{XSI}}}nil"), sent.text) == ("CDATA", "true", None)


@pytest.mark.parametrize("content_format", ["Raw", "RenderedText"])
def test_both_content_formats_are_accepted(content_format: str) -> None:
    (option,) = event_log_options(content_format=content_format)
    assert (option.name, option.value) == ("ContentFormat", content_format)
