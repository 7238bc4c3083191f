"""A deliberately dumb WS-Man client for the test server's own tests.

Hand-written envelope strings and lxml: it must not use the aiowsman client
(DESIGN.md: client and server are tested against each other, never against
themselves).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
from lxml import etree

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "b": "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd",
    "cim": "http://schemas.dmtf.org/wbem/wscim/1/common",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "wsmid": "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "ev": "http://schemas.microsoft.com/win/2004/08/events/event",
}
CIMV2 = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2"
T = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
E = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
GET = f"{T}/Get"
PUT = f"{T}/Put"
CREATE = f"{T}/Create"
DELETE = f"{T}/Delete"
ENUMERATE = f"{E}/Enumerate"
PULL = f"{E}/Pull"
RELEASE = f"{E}/Release"
WSE = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
SUBSCRIBE = f"{WSE}/Subscribe"
RENEW = f"{WSE}/Renew"
UNSUBSCRIBE = f"{WSE}/Unsubscribe"
EVENTLOG = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
EVENT_QUERY = "http://schemas.microsoft.com/win/2004/08/events/eventquery"
PULL_MODE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"
WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
SELECTOR_FILTER = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
ASSOCIATION_FILTER = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"

IDENTIFY = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    b"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)

# A parser as careful as any client's: no entities, no DTD, no network.
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def envelope(
    action: str,
    resource_uri: str | None = None,
    *,
    selectors: dict[str, str] | None = None,
    body: str = "",
    timeout: str | None = "PT60S",
    max_envelope: int | None = 512000,
    extra_headers: str = "",
    message_id: str | None = None,
) -> tuple[bytes, str]:
    """A request envelope and its MessageID."""
    mid = message_id or f"uuid:{uuid.uuid4()}"
    parts = [
        '<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:n="{n}" xmlns:b="{b}">'.format(
            **NS
        ),
        "<s:Header>",
        "<a:To>http://127.0.0.1/wsman</a:To>",
        f'<a:Action s:mustUnderstand="true">{action}</a:Action>',
        f"<a:MessageID>{mid}</a:MessageID>",
        '<a:ReplyTo><a:Address s:mustUnderstand="true">'
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
        "</a:Address></a:ReplyTo>",
    ]
    if resource_uri is not None:
        parts.append(f'<w:ResourceURI s:mustUnderstand="true">{resource_uri}</w:ResourceURI>')
    if selectors:
        parts.append("<w:SelectorSet>")
        parts.extend(f'<w:Selector Name="{k}">{v}</w:Selector>' for k, v in selectors.items())
        parts.append("</w:SelectorSet>")
    if timeout is not None:
        parts.append(f"<w:OperationTimeout>{timeout}</w:OperationTimeout>")
    if max_envelope is not None:
        parts.append(
            f'<w:MaxEnvelopeSize s:mustUnderstand="true">{max_envelope}</w:MaxEnvelopeSize>'
        )
    parts.append(extra_headers)
    parts.append(f"</s:Header><s:Body>{body}</s:Body></s:Envelope>")
    return "".join(parts).encode(), mid


def enumerate_body(
    *,
    optimize: bool = True,
    max_elements: int | None = None,
    filter_xml: str = "",
    mode: str | None = None,
    extra: str = "",
) -> str:
    parts = ["<n:Enumerate>"]
    if optimize:
        parts.append("<w:OptimizeEnumeration/>")
    if max_elements is not None:
        parts.append(f"<w:MaxElements>{max_elements}</w:MaxElements>")
    if mode:
        parts.append(f"<w:EnumerationMode>{mode}</w:EnumerationMode>")
    parts.append(filter_xml)
    parts.append(extra)
    parts.append("</n:Enumerate>")
    return "".join(parts)


def wql(query: str) -> str:
    return f'<w:Filter Dialect="{WQL}">{query}</w:Filter>'


def pull_body(context: str, max_elements: int = 1) -> str:
    return (
        f"<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>"
        f"<n:MaxElements>{max_elements}</n:MaxElements></n:Pull>"
    )


def subscribe_body(
    select: str = "*",
    channel: str = "System",
    *,
    mode: str = PULL_MODE,
    dialect: str = EVENT_QUERY,
    delivery_extra: str = "",
    extra: str = "",
    query: str | None = None,
) -> str:
    """A pull-mode Subscribe body (DSP0226 10.2) with one QueryList Select."""
    if query is None:
        query = (
            f'<QueryList><Query Id="0"><Select Path="{channel}">{select}</Select>'
            "</Query></QueryList>"
        )
    return (
        f'<e:Subscribe xmlns:e="{WSE}"><e:Delivery Mode="{mode}">{delivery_extra}</e:Delivery>'
        f'{extra}<w:Filter Dialect="{dialect}">{query}</w:Filter></e:Subscribe>'
    )


def event_pull_body(context: str, max_elements: int = 10, max_time: str = "PT1S") -> str:
    return (
        f"<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>"
        f"<n:MaxTime>{max_time}</n:MaxTime><n:MaxElements>{max_elements}</n:MaxElements></n:Pull>"
    )


def identifier_header(identifier: str) -> str:
    return f'<e:Identifier xmlns:e="{WSE}">{identifier}</e:Identifier>'


def options_header(**options: str | None) -> str:
    """An OptionSet; a None value is an ``xsi:nil`` option."""
    items = "".join(
        f'<w:Option Name="{k}" xmlns:xsi="{NS["xsi"]}" xsi:nil="true"/>'
        if v is None
        else f'<w:Option Name="{k}">{v}</w:Option>'
        for k, v in options.items()
    )
    return f"<w:OptionSet>{items}</w:OptionSet>"


def basic(user: str = "user", password: str = "pass") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def root(self) -> etree._Element:
        return etree.fromstring(self.body, SAFE)

    def find(self, path: str) -> etree._Element | None:
        return self.root.find(path, NS)

    def findall(self, path: str) -> list[etree._Element]:
        return self.root.findall(path, NS)

    def text(self, path: str) -> str | None:
        return self.root.findtext(path, namespaces=NS)

    @property
    def subcode(self) -> str | None:
        return self.text("s:Body/s:Fault/s:Code/s:Subcode/s:Value")

    @property
    def wsman_code(self) -> str | None:
        el = self.find("s:Body/s:Fault/s:Detail/f:WSManFault")
        return None if el is None else el.get("Code")


async def post(
    http: aiohttp.ClientSession,
    url: str,
    data: bytes,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Reply:
    hdrs = {"Content-Type": "application/soap+xml;charset=UTF-8", **basic()}
    if headers is not None:
        hdrs.update(headers)
    async with http.post(url, data=data, headers=hdrs, **kwargs) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


async def call(
    http: aiohttp.ClientSession, url: str, action: str, resource_uri: str | None = None, **kw: Any
) -> Reply:
    data, _ = envelope(action, resource_uri, **kw)
    return await post(http, url, data)


def children(element: etree._Element | None) -> list[etree._Element]:
    return [] if element is None else list(element)


async def enumerate_all(
    http: aiohttp.ClientSession, url: str, resource_uri: str, *, batch: int = 20, **kw: Any
) -> tuple[list[etree._Element], int]:
    """Enumerate and Pull to the end; return the items and the number of round trips."""
    reply = await call(
        http, url, ENUMERATE, resource_uri, body=enumerate_body(max_elements=batch, **kw)
    )
    assert reply.status == 200, reply.body
    items = children(reply.find("s:Body/n:EnumerateResponse/w:Items"))
    context = reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
    done = reply.find("s:Body/n:EnumerateResponse/w:EndOfSequence") is not None
    trips = 1
    while not done and trips < 1000:
        reply = await call(http, url, PULL, resource_uri, body=pull_body(context, batch))
        assert reply.status == 200, reply.body
        items.extend(children(reply.find("s:Body/n:PullResponse/n:Items")))
        context = reply.text("s:Body/n:PullResponse/n:EnumerationContext") or ""
        done = reply.find("s:Body/n:PullResponse/n:EndOfSequence") is not None
        trips += 1
    return items, trips
