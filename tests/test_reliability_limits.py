"""Hostile responses: too large, endless, or XML built to attack the parser.

A response over the cap (derived from MaxEnvelopeSize) is refused without
being read to its end; DOCTYPE, entities (internal, external file or network,
parameter), in any encoding, are refused without being resolved, and without
memory growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from aiowsman import (
    AsyncSession,
    ProtocolError,
    ResponseTooLargeError,
    UnsafeXMLError,
    WSManError,
)
from aiowsman.protocol.response import parse_envelope, parse_get
from aiowsman.protocol.xml import parse_xml
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from aiowsman.transport import response_size_cap
from tests.test_hygiene_probe import ResourceProbe

SERVICE = "wmicimv2/Win32_Service"
SMALL_ENVELOPE = 16384  # -> a cap of 2 * 16384 + 64 KiB = 98304 bytes


# -- a raw HTTP server that never stops sending --------------------------------------


class EndlessServer:
    """Loopback HTTP/1.1 server answering every request with a body that never ends.

    ``announce``: a Content-Length to announce (then only the headers are sent);
    None sends a chunked body until the client goes away (at most ``max_chunks``).
    """

    def __init__(self, *, announce: int | None = None, max_chunks: int = 100_000) -> None:
        self.announce = announce
        self.max_chunks = max_chunks
        self.sent = 0
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/wsman"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            if self.announce is not None:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                    b"Content-Length: %d\r\n\r\n<s:Envelope" % self.announce
                )
                await writer.drain()
                await reader.read()  # until the client hangs up
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"<!--" + b"x" * 65536 + b"-->"
            framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
            for _ in range(self.max_chunks):
                writer.write(framed)
                await writer.drain()
                self.sent += len(chunk)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.handlers.discard(task)

    async def __aenter__(self) -> EndlessServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        # Handlers end when the client hangs up; cancel only stragglers (bounded).
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=5)
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def small_session(url: str) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(
        url, auth="none", timeout=5.0, max_envelope_size=SMALL_ENVELOPE
    ) as session:
        yield session


async def test_an_endless_body_is_cut_at_the_cap_not_at_the_deadline() -> None:
    async with ResourceProbe(), EndlessServer() as server:
        async with small_session(server.url) as session:
            tracemalloc.start()
            try:
                async with asyncio.timeout(10) as bound:
                    with pytest.raises(ResponseTooLargeError) as info:
                        await session.identify()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert not bound.expired()
        assert (info.value.host, info.value.operation) == (session.host, "Identify")
        # An endless body ended in the size error, not at the deadline, and
        # memory (client and this in-process server together) stayed bounded.
        assert peak < 4_000_000
        assert server.sent < 1000 * 65536


async def test_an_announced_length_over_the_cap_is_refused_before_reading() -> None:
    async with (
        ResourceProbe(),
        EndlessServer(announce=10**12) as server,
        small_session(server.url) as session,
    ):
        # Nothing but headers ever arrives: reading would end in a TimeoutError.
        with pytest.raises(ResponseTooLargeError, match="1000000000000 bytes"):
            await session.identify()


def oversized(size: int) -> HostBehaviour:
    def inject(info: RequestInfo) -> Injection | None:
        return Injection(InjectionKind.OVERSIZED, size=size) if info.operation == "Get" else None

    return HostBehaviour(inject=inject)


async def test_the_size_cap_follows_max_envelope_size(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    body_size = 150_000  # over the small cap, under the default one
    assert response_size_cap(SMALL_ENVELOPE) < body_size < response_size_cap(512000)
    async with make_server(behaviours={0: oversized(body_size)}) as server:
        async with make_session(server, max_envelope_size=SMALL_ENVELOPE) as small:
            with pytest.raises(ResponseTooLargeError):
                await small.get(SERVICE, Name="WinRM")
        async with make_session(server) as default:
            assert (await default.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"


# -- hostile XML -----------------------------------------------------------------------

ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    "<s:Body><p:X xmlns:p='urn:x'>{}</p:X></s:Body></s:Envelope>"
)
LAUGHS = (
    '<!DOCTYPE s:Envelope [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT")
    return path


@pytest.fixture
def listener() -> socket.socket:
    """A loopback listener that must never see a connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock


def hostile_documents(secret: Path, port: int) -> dict[str, bytes]:
    file_xxe = f'<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file://{secret}">]>'
    net_xxe = f'<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>'
    param = f'<!DOCTYPE s:Envelope [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>'
    external_dtd = f'<!DOCTYPE s:Envelope SYSTEM "file://{secret}">'
    docs = {
        "xxe-file": file_xxe + ENVELOPE.format("&x;"),
        "xxe-network": net_xxe + ENVELOPE.format("&x;"),
        "parameter-entity": param + ENVELOPE.format(""),
        "external-dtd": external_dtd + ENVELOPE.format(""),
        "billion-laughs": LAUGHS + ENVELOPE.format("&l9;"),
        "after-prolog-noise": '<?xml version="1.0"?><!-- hi --><?pi x?>\n'
        + LAUGHS
        + ENVELOPE.format("&l9;"),
    }
    out = {name: doc.encode() for name, doc in docs.items()}
    out["utf-16-bom"] = (LAUGHS + ENVELOPE.format("&l9;")).encode("utf-16")
    out["utf-16le-no-bom"] = (file_xxe + ENVELOPE.format("&x;")).encode("utf-16-le")
    out["utf-8-bom"] = b"\xef\xbb\xbf" + out["xxe-file"]
    out["utf-32"] = (LAUGHS + ENVELOPE.format("&l9;")).encode("utf-32")
    # An encoding only the parser decodes, hiding the DOCTYPE from a byte scan.
    utf7 = (net_xxe + LAUGHS[len("<!DOCTYPE s:Envelope [") :]).replace("]>]>", "]>")
    out["utf-7-smuggled"] = (
        b'<?xml version="1.0" encoding="UTF-7"?>'
        + utf7.encode("utf-7").replace(b"<", b"+ADw-")
        + ENVELOPE.format("&x;&l9;").encode()
    )
    return out


DOC_NAMES = list(hostile_documents(Path("/x"), 1))


@pytest.mark.parametrize("name", DOC_NAMES)
def test_hostile_xml_is_refused_without_resolving_anything(
    name: str, secret_file: Path, listener: socket.socket
) -> None:
    data = hostile_documents(secret_file, listener.getsockname()[1])[name]
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as info:
            parse_get(parse_envelope(data, "application/soap+xml"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Refused as unsafe, as undecodable, or for an encoding WS-Man does not
    # allow: never parsed into a tree.
    message = str(info.value)
    assert (
        isinstance(info.value, UnsafeXMLError)
        or "malformed" in message
        or "UTF-8 or UTF-16" in message
    )
    assert "TOP-SECRET" not in str(info.value)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected: no network fetch
    assert peak < 2_000_000  # no entity expansion (a billion laughs is ~3 GB)


def test_xinclude_is_not_processed(secret_file: Path) -> None:
    body = (
        f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret_file}" '
        'parse="text"/>'
    )
    item = parse_get(parse_envelope(ENVELOPE.format(body).encode()))
    assert "TOP-SECRET" not in str(item.to_dict())
    assert b"TOP-SECRET" not in item.xml


def test_excessive_nesting_is_a_protocol_error_not_a_crash() -> None:
    depth = 50_000
    with pytest.raises(ProtocolError):
        parse_xml(b"<a>" * depth + b"</a>" * depth)


def test_utf16_without_a_bom_is_recognised() -> None:
    doc = ENVELOPE.format("h\u00e9llo").encode("utf-16-le")
    first = parse_envelope(doc).first_body_element()
    assert first is not None and first.text == "h\u00e9llo"


@pytest.mark.parametrize(
    "kind", [InjectionKind.XXE, InjectionKind.BILLION_LAUGHS, InjectionKind.DOCTYPE]
)
async def test_hostile_xml_from_a_server_is_refused_naming_host_and_operation(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    kind: InjectionKind,
) -> None:
    async with (
        make_server(behaviours={0: HostBehaviour(always=Injection(kind))}) as server,
        make_session(server) as session,
    ):
        with pytest.raises(WSManError) as info:
            await session.identify()
    assert type(info.value) is UnsafeXMLError
    assert (info.value.host, info.value.operation) == (session.host, "Identify")
    assert "root:" not in str(info.value)  # nothing of /etc/passwd
