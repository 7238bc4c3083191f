"""The exact HTTP request the transport sends (aioresponses: no server needed)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from aiowsman._endpoint import parse_endpoint
from aiowsman.auth import BasicAuth, NoAuth
from aiowsman.errors import InsecureTransportError
from aiowsman.transport import CONTENT_TYPE, Transport, TransportSettings

if TYPE_CHECKING:
    from tests.conftest import MockedHTTP

URL_HTTP = "http://127.0.0.1:5985/wsman"
URL_HTTPS = "https://127.0.0.1:5986/wsman"
SOAP_OK = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'


def _sent(m: MockedHTTP, url: str) -> list[dict[str, Any]]:
    return m.sent(url)


async def _exchange(transport: Transport, body: bytes = b"<x/>") -> None:
    try:
        await transport.exchange(body, operation="Get")
    finally:
        await transport.close()


async def test_basic_credentials_are_sent_preemptively_on_the_first_request(
    mocked_http: MockedHTTP,
) -> None:
    mocked_http.post(URL_HTTPS, status=200, body=SOAP_OK, content_type="application/soap+xml")
    transport = Transport(parse_endpoint(URL_HTTPS), auth=BasicAuth("alice", "s3cret"))
    await _exchange(transport)
    (sent,) = _sent(mocked_http, URL_HTTPS)
    headers = sent["headers"]
    assert isinstance(headers, dict)
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert headers["Authorization"] == expected


async def test_request_declares_soap_utf8_identity_encoding_and_user_agent(
    mocked_http: MockedHTTP,
) -> None:
    mocked_http.post(URL_HTTPS, status=200, body=SOAP_OK)
    transport = Transport(parse_endpoint(URL_HTTPS), auth=BasicAuth("alice", "pw"))
    await _exchange(transport)
    (sent,) = _sent(mocked_http, URL_HTTPS)
    headers = sent["headers"]
    assert isinstance(headers, dict)
    assert headers["Content-Type"] == CONTENT_TYPE == "application/soap+xml;charset=UTF-8"
    assert headers["Accept-Encoding"] == "identity"
    assert str(headers["User-Agent"]).startswith("aiowsman/")


async def test_request_body_is_sent_unchanged_as_a_post(mocked_http: MockedHTTP) -> None:
    mocked_http.post(URL_HTTP, status=200, body=SOAP_OK)
    body = "<s:Envelope>caf\u00e9</s:Envelope>".encode()
    transport = Transport(parse_endpoint("127.0.0.1"), auth=NoAuth())
    await _exchange(transport, body)
    (sent,) = _sent(mocked_http, URL_HTTP)
    assert sent["data"] == body


async def test_no_auth_sends_no_authorization_header(mocked_http: MockedHTTP) -> None:
    mocked_http.post(URL_HTTP, status=200, body=SOAP_OK)
    transport = Transport(parse_endpoint("127.0.0.1"), auth=NoAuth())
    await _exchange(transport)
    (sent,) = _sent(mocked_http, URL_HTTP)
    headers = sent["headers"]
    assert isinstance(headers, dict)
    assert "Authorization" not in headers


async def test_redirects_are_not_followed(mocked_http: MockedHTTP) -> None:
    # A redirect would replay the credentials to another URL.
    mocked_http.post(URL_HTTP, status=200, body=SOAP_OK)
    transport = Transport(parse_endpoint("127.0.0.1"), auth=NoAuth())
    await _exchange(transport)
    (sent,) = _sent(mocked_http, URL_HTTP)
    assert sent["allow_redirects"] is False


def test_basic_over_plain_http_is_refused() -> None:
    with pytest.raises(InsecureTransportError) as info:
        Transport(parse_endpoint("127.0.0.1"), auth=BasicAuth("alice", "s3cret"))
    assert "127.0.0.1:5985" in str(info.value)
    assert "s3cret" not in str(info.value)


async def test_basic_over_plain_http_is_sent_when_explicitly_allowed(
    mocked_http: MockedHTTP,
) -> None:
    mocked_http.post(URL_HTTP, status=200, body=SOAP_OK)
    transport = Transport(
        parse_endpoint("127.0.0.1"),
        auth=BasicAuth("alice", "pw"),
        settings=TransportSettings(allow_unencrypted=True),
    )
    await _exchange(transport)
    (sent,) = _sent(mocked_http, URL_HTTP)
    headers = sent["headers"]
    assert isinstance(headers, dict)
    assert headers["Authorization"].startswith("Basic ")


async def test_proxy_setting_is_passed_to_aiohttp(mocked_http: MockedHTTP) -> None:
    mocked_http.post(URL_HTTP, status=200, body=SOAP_OK)
    transport = Transport(
        parse_endpoint("127.0.0.1"),
        auth=NoAuth(),
        settings=TransportSettings(proxy="http://127.0.0.1:3128"),
    )
    await _exchange(transport)
    (sent,) = _sent(mocked_http, URL_HTTP)
    assert sent["proxy"] == "http://127.0.0.1:3128"


async def test_caller_supplied_client_session_is_used_and_left_open(
    mocked_http: MockedHTTP,
) -> None:
    mocked_http.post(URL_HTTP, status=200, body=SOAP_OK)
    async with aiohttp.ClientSession() as shared:
        transport = Transport(parse_endpoint("127.0.0.1"), auth=NoAuth(), client_session=shared)
        await _exchange(transport)
        assert transport.closed
        assert not shared.closed
    assert len(_sent(mocked_http, URL_HTTP)) == 1


async def test_caller_supplied_connector_is_left_open(mocked_http: MockedHTTP) -> None:
    mocked_http.post(URL_HTTP, status=200, body=SOAP_OK)
    connector = aiohttp.TCPConnector()
    try:
        transport = Transport(parse_endpoint("127.0.0.1"), auth=NoAuth(), connector=connector)
        await _exchange(transport)
        assert not connector.closed
    finally:
        await connector.close()


def test_auth_repr_never_shows_the_password() -> None:
    auth = BasicAuth("alice", "s3cret")
    assert "s3cret" not in repr(auth)
    assert "s3cret" not in repr(auth.new_context(url=URL_HTTPS, host="h"))
