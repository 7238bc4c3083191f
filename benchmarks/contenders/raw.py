"""The floor: hand-written WS-Man over aiohttp + lxml, no WS-Man layer at all.

Envelopes are pre-built bytes written out by hand here (only the MessageID,
and for Pull the context, change per request); each operation is one aiohttp
POST and one lxml parse with the same hardened parser settings a real client
must use (no entities, no network). Nothing from aiowsman is imported: this is
what aiowsman's overhead is measured against.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
from lxml import etree

from benchmarks._common import Target
from benchmarks.contenders import AsyncWorkload, check_count, gather_hosts

SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDR = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
ENUM = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ENUMERATE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
PULL = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
RSP = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD_URI = f"{RSP}/cmd"
SHELL_DONE = f"{RSP}/CommandState/Done"
SHELL_ID = f"{{{WSMAN}}}SelectorSet/{{{WSMAN}}}Selector"

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


class _Shell:
    """A WinRS cmd shell by hand: Create, Command, Receive, Signal, Delete (MS-WSMV 3.1.4)."""

    def __init__(self, raw: _Raw, url: str) -> None:
        self.raw = raw
        self.url = url
        self.shell_id = ""

    def _envelope(self, action: str, body: str, *, timeout: str = "PT60S") -> bytes:
        sel = ""
        if self.shell_id:
            sel = (
                f'<w:SelectorSet><w:Selector Name="ShellId">{self.shell_id}</w:Selector>'
                "</w:SelectorSet>"
            )
        return (
            f'<s:Envelope xmlns:s="{SOAP}" xmlns:a="{ADDR}" xmlns:w="{WSMAN}" xmlns:rsp="{RSP}">'
            f"<s:Header><a:To>{escape(self.url)}</a:To>"
            f'<w:ResourceURI s:mustUnderstand="true">{CMD_URI}</w:ResourceURI>'
            f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ANON}</a:Address></a:ReplyTo>'
            f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
            '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
            f"<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>"
            f"<w:OperationTimeout>{timeout}</w:OperationTimeout>{sel}</s:Header>"
            f"<s:Body>{body}</s:Body></s:Envelope>"
        ).encode()

    async def create(self) -> None:
        body = (
            "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
            "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
        )
        payload = await self.raw.post(self.url, self._envelope(CREATE, body))
        found = payload.find(f".//{SHELL_ID}")
        if found is None or not found.text:
            raise RuntimeError(f"{self.url}: no ShellId")
        self.shell_id = found.text

    async def run(self, command: str, sink: Any = None) -> tuple[int, bytes]:
        """Command, Receive to the end, Signal terminate: (exit code, stdout)."""
        body = f"<rsp:CommandLine><rsp:Command>{escape(command)}</rsp:Command></rsp:CommandLine>"
        payload = await self.raw.post(self.url, self._envelope(f"{RSP}/Command", body))
        command_id = payload.findtext(f"{{{RSP}}}CommandId")
        receive = (
            f'<rsp:Receive><rsp:DesiredStream CommandId="{command_id}">stdout stderr'
            "</rsp:DesiredStream></rsp:Receive>"
        )
        out: list[bytes] = []
        code = -1
        while True:
            try:
                payload = await self.raw.post(
                    self.url, self._envelope(f"{RSP}/Receive", receive, timeout="PT20S")
                )
            except TimedOut:
                continue
            done = False
            for child in payload:
                if child.tag == f"{{{RSP}}}Stream":
                    if child.text and child.get("Name") == "stdout":
                        data = base64.b64decode(child.text)
                        if sink is None:
                            out.append(data)
                        else:
                            sink(data)
                elif child.tag == f"{{{RSP}}}CommandState" and child.get("State") == SHELL_DONE:
                    done = True
                    code = int(child.findtext(f"{{{RSP}}}ExitCode") or -1)
            if done:
                break
        signal = (
            f'<rsp:Signal CommandId="{command_id}"><rsp:Code>{RSP}/signal/terminate</rsp:Code>'
            "</rsp:Signal>"
        )
        await self.raw.post(self.url, self._envelope(f"{RSP}/Signal", signal))
        return code, b"".join(out)

    async def delete(self, *, close: bool = False) -> None:
        await self.raw.post(self.url, self._envelope(DELETE, ""), close=close, empty_ok=True)


class TimedOut(RuntimeError):
    """The w:TimedOut fault: a Receive found no output yet."""


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

    async def post(
        self, url: str, body: bytes, *, close: bool = False, empty_ok: bool = False
    ) -> etree._Element:
        """POST one envelope, parse the answer, return the Body's first child."""
        assert self.http is not None
        headers = self.close_headers if close else self.headers
        async with self.http.post(url, data=body, headers=headers) as resp:
            data = await resp.read()
            status = resp.status
        root = etree.fromstring(data, PARSER)
        found = root.find(BODY)
        if found is None or len(found) == 0:
            if empty_ok and status == 200:
                return root
            raise RuntimeError(f"{url}: HTTP {status}, empty Body")
        payload = found[0]
        if payload.tag == FAULT:
            if b"2150858793" in data:
                raise TimedOut(url)
            raise RuntimeError(f"{url}: SOAP fault (HTTP {status})")
        if status != 200:
            raise RuntimeError(f"{url}: HTTP {status}")
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
        if self.scenario.startswith("command"):
            await self._cycle(first.url)

    async def arun(self) -> dict[str, Any]:
        if self.scenario == "single":
            return await self._single()
        if self.scenario == "fanout":
            return await self._fanout()
        if self.scenario == "enumerate":
            return await self._enumerate()
        if self.scenario == "commands":
            return await self._commands()
        if self.scenario == "command_fanout":
            return await self._command_fanout()
        if self.scenario == "command_stream":
            return await self._command_stream()
        raise ValueError(f"raw: unknown scenario {self.scenario}")

    async def _cycle(self, url: str, *, close: bool = False) -> bytes:
        shell = _Shell(self, url)
        await shell.create()
        try:
            code, out = await shell.run("hostname")
        finally:
            await shell.delete(close=close)
        if code != 0 or not out.startswith(b"HOST"):
            raise RuntimeError(f"{url}: hostname gave {code} {out!r}")
        return out

    async def _commands(self) -> dict[str, Any]:
        url = self.target.endpoints[0]
        count = int(self.params["count"])
        if self.params["mode"] == "cycle":
            for _ in range(count):
                await self._cycle(url)
            return {"commands": count, "ops": 5 * count, "errors": 0}
        shell = _Shell(self, url)
        await shell.create()
        try:
            for _ in range(count):
                code, _out = await shell.run("hostname")
                if code != 0:
                    raise RuntimeError(f"hostname exited {code}")
        finally:
            await shell.delete()
        return {"commands": count, "ops": 3 * count, "errors": 0}

    async def _command_fanout(self) -> dict[str, Any]:
        hosts = self.target.endpoints[: int(self.params["hosts"])]

        async def one(url: str) -> None:
            await self._cycle(url, close=True)

        return await gather_hosts(hosts, int(self.params["concurrency"]), one, ops_per_host=5)

    async def _command_stream(self) -> dict[str, Any]:
        total = int(self.params["bytes"])
        received = 0

        def count(data: bytes) -> None:
            nonlocal received
            received += len(data)

        shell = _Shell(self, self.target.endpoints[0])
        await shell.create()
        try:
            await shell.run(f"aiowsman-bytes {total}", sink=count)
        finally:
            await shell.delete()
        check_count("raw stream", received, total)
        return {"bytes": received, "ops": 1, "errors": 0}

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

        async def one(url: str) -> None:
            client = _Client(url, self.target)
            await self.identify(url)
            # The host is done after its Get: let the connection go.
            await self.get(client, close=True)

        return await gather_hosts(hosts, int(self.params["concurrency"]), one, ops_per_host=2)

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
