"""A web page is "not a WS-Management endpoint", not an attack; records are one line.

A web server's default page at ``/wsman`` carries a DOCTYPE, and used to be
reported as :class:`UnsafeXMLError`, which reads like an attack. It is
reported as :class:`NotWSManEndpointError` (a ProtocolError) naming the
status, the Content-Type and the first bytes. A SOAP response with a
DOCTYPE is still refused as unsafe.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable

import pytest

from aiowsman import AsyncSession, NotWSManEndpointError, ProtocolError, UnsafeXMLError
from aiowsman.errors import SNIPPET_LENGTH, body_snippet
from aiowsman.fanout import HostResult, run
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer
from tests.hostile_peers import Exchange, http_response, serve

IIS_PAGE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n'
    '<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n'
    "<title>IIS Windows Server</title>\r\n</head>\r\n<body>\r\n"
    '<img src="iisstart.png" alt="IIS" />\r\n</body>\r\n</html>'
)


async def test_a_web_servers_default_page_is_not_a_wsman_endpoint(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    page = HostBehaviour(always=Injection(InjectionKind.WEB_PAGE))
    async with make_server(behaviours={0: page}) as server, make_session(server) as session:
        with pytest.raises(NotWSManEndpointError) as info:
            await session.get("wmicimv2/Win32_OperatingSystem")
    err = info.value
    assert not isinstance(err, UnsafeXMLError)
    assert isinstance(err, ProtocolError) and err.category == "protocol"
    assert (err.status, err.host, err.operation) == (200, session.host, "Get")
    assert err.content_type is not None and err.content_type.startswith("text/html")
    assert err.snippet.startswith("<!DOCTYPE html> <html> <head> <title>Welcome to nginx!")
    assert "not a WS-Management endpoint: HTTP 200, Content-Type text/html" in str(err)
    assert "\n" not in str(err)


async def test_an_iis_page_with_crlf_lines_is_named_with_its_first_bytes() -> None:
    async def answer(exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(IIS_PAGE, content_type="text/html; charset=utf-8"))

    async with serve(answer) as peer, AsyncSession(peer.url, auth="none") as session:
        with pytest.raises(NotWSManEndpointError) as info:
            await session.identify()
    assert info.value.snippet.startswith('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"')
    assert "\r" not in str(info.value) and "\n" not in str(info.value)


async def test_a_soap_response_with_a_doctype_is_still_unsafe(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    hostile = HostBehaviour(always=Injection(InjectionKind.XXE))
    async with make_server(behaviours={0: hostile}) as server, make_session(server) as session:
        with pytest.raises(UnsafeXMLError):
            await session.get("wmicimv2/Win32_OperatingSystem")


async def test_a_doctype_naming_the_envelope_under_text_xml_is_still_unsafe() -> None:
    body = (
        '<!DOCTYPE s:Envelope [<!ENTITY x "y">]>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
    )

    async def answer(exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(body, content_type="text/xml"))

    async with serve(answer) as peer, AsyncSession(peer.url, auth="none") as session:
        with pytest.raises(UnsafeXMLError):
            await session.identify()


async def test_well_formed_xml_that_is_no_envelope_is_not_a_wsman_endpoint() -> None:
    async def xml_page(exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response("<html><body>Envelope</body></html>", content_type="text/xml"))

    async with serve(xml_page) as peer, AsyncSession(peer.url, auth="none") as session:
        with pytest.raises(NotWSManEndpointError, match="root element 'html'"):
            await session.identify()


def test_the_snippet_is_bounded_and_printable() -> None:
    body = b"<html>\x00\x01\x1b[31m\r\n\t" + "\u00e9".encode() * 5000 + b"\xff\xfe"
    snippet = body_snippet(body)
    assert len(snippet) <= SNIPPET_LENGTH
    assert snippet.isprintable() and snippet.startswith("<html> [31m \u00e9")
    assert body_snippet(b"") == ""


def test_the_error_pickles_with_its_details() -> None:
    err = NotWSManEndpointError(
        "not a WS-Management endpoint", status=200, content_type="text/html", snippet="<html>"
    )
    again = pickle.loads(pickle.dumps(err))
    assert (again.status, again.content_type, again.snippet) == (200, "text/html", "<html>")


# -- HostResult.message: one line -----------------------------------------------------

MULTILINE_FAULT = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header/><s:Body><s:Fault>'
    "<s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value>"
    "</s:Subcode></s:Code><s:Reason><s:Text>The provider failed:\r\n  line two\n\n"
    "\tline three</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"
)


async def test_fan_out_records_of_multi_line_fault_reasons_are_one_line() -> None:
    async def answer(exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(MULTILINE_FAULT, status=500))

    async def identify(session: AsyncSession) -> object:
        return await session.identify()

    async with serve(answer) as peer:
        results = await run([peer.url], identify, auth="none", deadline=10).collect()
    (result,) = results
    assert result.error_class == "fault"
    assert result.message is not None and "line two line three" in result.message
    assert "\n" not in result.message and "\r" not in result.message
    assert "\n" not in str(result.to_dict())


def test_a_host_result_message_is_one_line_whatever_the_exception_says() -> None:
    result = HostResult.failure("h", ValueError("first\r\n  second\n\tthird"))
    assert result.message == "first second third"
    assert HostResult("h", False, message="a\nb").message == "a b"
