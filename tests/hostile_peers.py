"""Raw HTTP/1.1 peers on 127.0.0.1 that misbehave where the test server will not.

The project's test server (``aiowsman.testing``) emulates WS-Man servers by
documented rules. Some hostile behaviour is easier to show with a peer that
speaks bare HTTP/1.1 over ``asyncio.start_server``: it reads each request
(headers and a Content-Length body) on a kept-alive connection and lets a
callback write whatever bytes it likes, when it likes -- an extra response
nobody asked for, a web page, a fault with odd text.

It shares nothing with the client: envelopes are hand-written strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

__all__ = [
    "Exchange",
    "HostilePeer",
    "get_response",
    "http_response",
    "identify_response",
    "quota_fault",
    "serve",
]

NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"'
)
WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
OS_URI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem"
SOAP_TYPE = "application/soap+xml;charset=UTF-8"
_MESSAGE_ID = re.compile(rb"MessageID[^>]*>\s*([^<\s]+)\s*<")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)\s*$")


def http_response(
    body: bytes | str, *, status: int = 200, content_type: str | None = SOAP_TYPE
) -> bytes:
    """One complete HTTP/1.1 response (kept alive)."""
    data = body.encode() if isinstance(body, str) else body
    reason = {200: "OK", 500: "Internal Server Error"}.get(status, "Status")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(data)}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode("ascii") + data


def _relates(relates_to: str | None) -> str:
    return f"<a:RelatesTo>{relates_to}</a:RelatesTo>" if relates_to else ""


def identify_response(vendor: str) -> str:
    """An IdentifyResponse (DSP0226 11: no addressing headers) naming ``vendor``."""
    return (
        f'<s:Envelope {NS}><s:Header/><s:Body><wsmid:IdentifyResponse xmlns:wsmid="{WSMID}">'
        "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
        f"</wsmid:ProtocolVersion><wsmid:ProductVendor>{vendor}</wsmid:ProductVendor>"
        "</wsmid:IdentifyResponse></s:Body></s:Envelope>"
    )


def get_response(caption: str, relates_to: str | None) -> str:
    """A GetResponse with a Win32_OperatingSystem whose Caption is ``caption``."""
    return (
        f"<s:Envelope {NS}><s:Header>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action>"
        f"<a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID>"
        f"{_relates(relates_to)}</s:Header><s:Body>"
        f'<p:Win32_OperatingSystem xmlns:p="{OS_URI}"><p:Caption>{caption}</p:Caption>'
        "</p:Win32_OperatingSystem></s:Body></s:Envelope>"
    )


def quota_fault(reason: str = "quota exceeded", relates_to: str | None = None) -> str:
    """A w:QuotaLimit fault; no RelatesTo, as Windows sends it (corpus winrb-fault-quotalimit)."""
    return (
        f"<s:Envelope {NS}><s:Header>"
        "<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action>"
        f"{_relates(relates_to)}</s:Header><s:Body><s:Fault><s:Code>"
        "<s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:QuotaLimit</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>'
        "</s:Fault></s:Body></s:Envelope>"
    )


@dataclass
class Exchange:
    """One request the peer read: its number on the connection, body and MessageID."""

    connection: int
    number: int
    body: bytes
    message_id: str | None


#: ``answer(exchange, writer)``: write the response bytes (and anything else).
Answer = Callable[[Exchange, asyncio.StreamWriter], Awaitable[None]]


class HostilePeer:
    """The running peer: its URL, what it received, how many connections it saw."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self.exchanges: list[Exchange] = []
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        number = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = _CONTENT_LENGTH.search(head)
                body = await reader.readexactly(int(length.group(1))) if length else b""
                number += 1
                found = _MESSAGE_ID.search(body)
                exchange = Exchange(
                    connection, number, body, found.group(1).decode() if found else None
                )
                self.exchanges.append(exchange)
                await self._answer(exchange, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._track, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/wsman"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)


@contextlib.asynccontextmanager
async def serve(answer: Answer) -> AsyncIterator[HostilePeer]:
    """Run a :class:`HostilePeer` answering with ``answer`` for the block."""
    peer = HostilePeer(answer)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.close()
