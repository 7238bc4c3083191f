"""The floor: hand-written WS-Man over aiohttp + lxml, no WS-Man layer at all.

Envelopes are pre-built bytes written out by hand here (only the MessageID,
and for Pull the context, change per request); each operation is one aiohttp
POST and one lxml parse with the same hardened parser settings a real client
must use (no entities, no network). Nothing from aiowsman is imported: this is
what aiowsman's overhead is measured against.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import uuid
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
from lxml import etree

from benchmarks._common import Target
from benchmarks.contenders import AsyncWorkload, check_count

SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDR = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
ENUM = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ENUMERATE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
PULL = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"

BODY = f"{{{SOAP}}}Body"
FAULT = f"{{{SOAP}}}Fault"
IDENTIFY_RESPONSE = f"{{{WSMID}}}IdentifyResponse"
CONTEXT = f"{{{ENUM}}}EnumerationContext"
ITEMS = (f"{{{WSMAN}}}Items", f"{{{ENUM}}}Items")
EOS = (f"{{{WSMAN}}}EndOfSequence", f"{{{ENUM}}}EndOfSequence")

IDENTIFY_BODY = (
    f'<s:Envelope xmlns:s="{SOAP}" xmlns:wsmid="{WSMID}">'
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
).encode()

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


def _head(to: str, uri: str, action: str, selectors: dict[str, str]) -> tuple[bytes, bytes]:
    """The envelope up to the MessageID's GUID, and from after it to the start of Body."""
    sel = ""
    if selectors:
        sel = (
            "<w:SelectorSet>"
            + "".join(
                f'<w:Selector Name="{escape(k)}">{escape(v)}</w:Selector>'
                for k, v in selectors.items()
            )
            + "</w:SelectorSet>"
        )
    before = (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:a="{ADDR}" xmlns:w="{WSMAN}" xmlns:n="{ENUM}">'
        f"<s:Header><a:To>{escape(to)}</a:To>"
        f'<w:ResourceURI s:mustUnderstand="true">{escape(uri)}</w:ResourceURI>'
        f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ANON}</a:Address></a:ReplyTo>'
        f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        "<a:MessageID>uuid:"
    )
    after = (
        "</a:MessageID>"
        '<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
        "<w:OperationTimeout>PT60.000S</w:OperationTimeout>"
        f"{sel}</s:Header>"
    )
    return before.encode(), after.encode()


class _Client:
    """Pre-built envelopes for one endpoint."""

    def __init__(self, endpoint: str, target: Target) -> None:
        self.url = endpoint
        g0, g1 = _head(endpoint, target.get_uri, GET, target.get_selectors)
        self.get_before = g0
        self.get_after = g1 + b"<s:Body/></s:Envelope>"
        self.enum_uri = target.enum_uri
        if target.enum_uri:
            e0, e1 = _head(endpoint, target.enum_uri, ENUMERATE, {})
            p0, p1 = _head(endpoint, target.enum_uri, PULL, {})
            self.enum_before, self.enum_after = e0, e1
            self.pull_before, self.pull_after = p0, p1

    def get_body(self) -> bytes:
        return self.get_before + str(uuid.uuid4()).encode() + self.get_after

    def enumerate_body(self, batch: int) -> bytes:
        return (
            self.enum_before
            + str(uuid.uuid4()).encode()
            + self.enum_after
            + (
                "<s:Body><n:Enumerate><w:OptimizeEnumeration/>"
                f"<w:MaxElements>{batch}</w:MaxElements></n:Enumerate></s:Body></s:Envelope>"
            ).encode()
        )

    def pull_body(self, context: str, batch: int) -> bytes:
        return (
            self.pull_before
            + str(uuid.uuid4()).encode()
            + self.pull_after
            + (
                f"<s:Body><n:Pull><n:EnumerationContext>{escape(context)}</n:EnumerationContext>"
                f"<n:MaxElements>{batch}</n:MaxElements></n:Pull></s:Body></s:Envelope>"
            ).encode()
        )


class _Raw(AsyncWorkload):
    def __init__(self, scenario: str, target: Target, params: dict[str, Any]) -> None:
        super().__init__()
        self.scenario = scenario
        self.target = target
        self.params = params
        token = base64.b64encode(f"{target.username}:{target.password}".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/soap+xml;charset=UTF-8",
        }
        self.close_headers = {**self.headers, "Connection": "close"}
        self.http: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, *, close: bool = False) -> etree._Element:
        """POST one envelope, parse the answer, return the Body's first child."""
        assert self.http is not None
        headers = self.close_headers if close else self.headers
        async with self.http.post(url, data=body, headers=headers) as resp:
            data = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: HTTP {resp.status}")
        root = etree.fromstring(data, PARSER)
        payload = root.find(BODY)[0]  # type: ignore[index]
        if payload.tag == FAULT:
            raise RuntimeError(f"{url}: SOAP fault")
        return payload

    async def identify(self, url: str, *, close: bool = False) -> None:
        payload = await self.post(url, IDENTIFY_BODY, close=close)
        if payload.tag != IDENTIFY_RESPONSE:
            raise RuntimeError(f"{url}: not an IdentifyResponse")

    async def get(self, client: _Client, *, close: bool = False) -> None:
        payload = await self.post(client.url, client.get_body(), close=close)
        if len(payload) == 0:  # the instance element must carry properties
            raise RuntimeError(f"{client.url}: empty Get response")

    async def enumerate(self, client: _Client, batch: int) -> int:
        payload = await self.post(client.url, client.enumerate_body(batch))
        count = 0
        while True:
            context: str | None = None
            done = False
            for child in payload:
                if child.tag == CONTEXT:
                    context = child.text or None
                elif child.tag in ITEMS:
                    count += len(child)
                elif child.tag in EOS:
                    done = True
            if done or context is None:
                return count
            payload = await self.post(client.url, client.pull_body(context, batch))

    async def asetup(self) -> None:
        limit = int(self.params.get("concurrency", 1))
        tls: ssl.SSLContext | bool = True
        if self.target.ca_file:
            tls = ssl.create_default_context(cafile=self.target.ca_file)
        connector = aiohttp.TCPConnector(limit=max(limit, 1), limit_per_host=0, ssl=tls)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=120)
        )
        first = _Client(self.target.endpoints[0], self.target)
        # Warm up: imports, lxml, aiohttp internals, the first connection.
        for _ in range(20 if self.scenario == "single" else 2):
            await self.identify(first.url)
            await self.get(first)

    async def arun(self) -> dict[str, Any]:
        if self.scenario == "single":
            return await self._single()
        if self.scenario == "fanout":
            return await self._fanout()
        if self.scenario == "enumerate":
            return await self._enumerate()
        raise ValueError(f"raw: unknown scenario {self.scenario}")

    async def _single(self) -> dict[str, Any]:
        client = _Client(self.target.endpoints[0], self.target)
        count = int(self.params["count"])
        if self.params["op"] == "identify":
            for _ in range(count):
                await self.identify(client.url)
        else:
            for _ in range(count):
                await self.get(client)
        return {"ops": count, "errors": 0}

    async def _fanout(self) -> dict[str, Any]:
        hosts = self.target.endpoints[: int(self.params["hosts"])]
        sem = asyncio.Semaphore(int(self.params["concurrency"]))
        errors: list[str] = []
        ok = 0

        async def one(url: str) -> None:
            nonlocal ok
            async with sem:
                try:
                    client = _Client(url, self.target)
                    await self.identify(url)
                    # The host is done after its Get: let the connection go.
                    await self.get(client, close=True)
                    ok += 1
                except Exception as exc:
                    errors.append(f"{url}: {exc!r}")

        await asyncio.gather(*(one(url) for url in hosts))
        return {
            "hosts": ok,
            "ops": 2 * ok,
            "errors": len(errors),
            "error_sample": errors[0] if errors else "",
        }

    async def _enumerate(self) -> dict[str, Any]:
        client = _Client(self.target.endpoints[0], self.target)
        repeat = int(self.params.get("repeat", 1))
        count = 0
        for _ in range(repeat):
            count += await self.enumerate(client, int(self.params["batch"]))
        check_count("raw enumerate", count, self.target.enum_items * repeat)
        return {"items": count, "ops": 1, "errors": 0}

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.close()


def create(scenario: str, target: Target, params: dict[str, Any]) -> _Raw:
    return _Raw(scenario, target, params)
