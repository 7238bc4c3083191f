"""The aiohttp clients aiowsman creates: no cookies, and connections keyed by credentials.

Every ``aiohttp.ClientSession`` the library makes (a session's own pool, its
connection-bound channels, the fan-out runner's shared client, the wrapper
around a caller's ``client_session``) comes from :func:`new_client`, so two
rules hold everywhere:

No cookies
    WS-Management uses none: DSP0226 and MS-WSMV define no cookie, and the
    WinRM service sets none. A cookie jar would only let one host's
    ``Set-Cookie`` travel to the next host sharing the client (the fan-out
    runner shares one client across thousands of hosts), so the jar is
    aiohttp's ``DummyCookieJar``, which keeps nothing.

Connections keyed by the credentials they carried
    Some servers authenticate the TCP connection, not the request: OMI with
    Basic serves a request *without* ``Authorization`` on a connection that
    once carried valid credentials as that user. A pool shared by sessions
    with other credentials (or none: ``auth="none"``, an unauthenticated
    Identify) must therefore never hand them such a connection. aiohttp pools
    connections by a ``ConnectionKey`` (host, port, TLS, proxy); the request
    class here adds a *credential tag* to it: a keyed BLAKE2b digest of the
    request's ``Authorization`` header (64 bits, keyed with 16 random bytes
    drawn once per process), never the header itself. A connection is then
    only reused by requests carrying exactly the credentials it carried, and
    a request without ``Authorization`` only gets connections that never
    carried any. One set of credentials across many hosts -- the common
    fan-out -- is one tag, so it shares the pool exactly as before; each
    other identity gets its own connections from the same connector (and
    aiohttp's ``limit_per_host`` counts per host *and* identity).

    The tag is taken from the header, not from the session, so it follows
    what a connection actually carried. Certificate authentication carries
    its credential in the TLS layer instead: its ``ssl`` context is already
    part of the key (and the unauthenticated Identify of such a session uses
    a context without the certificate, see :mod:`aiowsman.transport`).
    Connection-bound schemes (NTLM, Negotiate, Kerberos, CredSSP) keep a
    connector per channel and do not need the tag -- they must not have it
    either, since their ``Authorization`` header changes with every leg of
    the handshake and disappears once the context is established.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Sequence

import aiohttp
from aiohttp import hdrs
from aiohttp.client_reqrep import ConnectionKey

__all__ = ["CredentialHeader", "credential_tag", "is_library_client", "new_client"]

#: Key of the credential tag: drawn once per process, never stored elsewhere,
#: so a tag seen in a log or a ConnectionKey cannot be tested offline against
#: guessed passwords.
_TAG_KEY = os.urandom(16)

#: Clients made by new_client(keyed=True): a caller may hand one back as
#: ``client_session`` (the fan-out runner does), and it is then used as is.
_KEYED_CLIENTS: weakref.WeakSet[aiohttp.ClientSession] = weakref.WeakSet()


def credential_tag(authorization: str) -> int:
    """The credential tag of an ``Authorization`` header value (64 bits, keyed per process)."""
    digest = hashlib.blake2b(
        authorization.encode("utf-8", "surrogatepass"), key=_TAG_KEY, digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


class CredentialHeader(str):
    """An ``Authorization`` header value that carries its credential tag.

    A session sends the same header with every request; made once with its
    tag, it spares each request the digest (the tag travels with the value
    into aiohttp's header dict). Values of any other type are tagged on the
    fly, so nothing depends on it but speed.
    """

    __slots__ = ("tag",)

    tag: int

    def __new__(cls, value: str) -> CredentialHeader:
        header = super().__new__(cls, value)
        header.tag = credential_tag(value)
        return header


#: Where aiohttp's ConnectionKey keeps the proxy headers' hash (the slot the
#: credential tag is folded into): found by name, so field order may change.
_TAG_SLOT = ConnectionKey._fields.index("proxy_headers_hash")


class _CredentialKeyedRequest(aiohttp.ClientRequest):
    """A ``ClientRequest`` whose connection key includes its credential tag.

    ``connection_key`` is the documented hook aiohttp's connectors pool by
    (read once per request in ``BaseConnector.connect``). The tag goes in the
    key's ``proxy_headers_hash`` slot, combined with what aiohttp put there:
    the slot only keys the pool (a CONNECT tunnel resets it for its own
    short-lived key), so no behaviour but pooling changes.
    """

    _keyed: ConnectionKey | None = None

    @property
    def connection_key(self) -> ConnectionKey:
        key = self._keyed  # asked again when the pool hands the connection out
        if key is not None:
            return key
        key = super().connection_key
        authorization = self.headers.get(hdrs.AUTHORIZATION)
        if authorization is not None:
            tag = authorization.tag if type(authorization) is CredentialHeader else None
            if tag is None:
                tag = credential_tag(authorization)
            fields = list(key)
            fields[_TAG_SLOT] = hash((fields[_TAG_SLOT], tag))
            key = tuple.__new__(ConnectionKey, fields)
        self._keyed = key
        return key


def new_client(
    connector: aiohttp.BaseConnector,
    *,
    connector_owner: bool,
    keyed: bool = True,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` with the library's settings.

    Args:
        connector: the connection pool.
        connector_owner: close ``connector`` with the client.
        keyed: key pooled connections by credentials (module docstring);
            False for a connection-bound channel, which owns its connector.
        trace_configs: aiohttp tracing to keep (a caller's, when wrapping
            the caller's ``client_session``).

    Returns:
        A client without cookies, aiohttp timeouts (every operation has its
        own asyncio deadline) or transparent decompression (WinRM does not
        compress, and the response size cap must count the bytes received).
    """
    global _ALLOCATOR_SETTLED
    if not _ALLOCATOR_SETTLED:
        _raise_mmap_threshold()
        _ALLOCATOR_SETTLED = True
    client = aiohttp.ClientSession(
        connector=connector,
        connector_owner=connector_owner,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
        request_class=_CredentialKeyedRequest if keyed else aiohttp.ClientRequest,
        trace_configs=list(trace_configs) or None,
    )
    if keyed:
        _KEYED_CLIENTS.add(client)
    return client


#: Set once :func:`_raise_mmap_threshold` has run (it acts on the whole process).
_ALLOCATOR_SETTLED = False


def _raise_mmap_threshold() -> None:
    """Let glibc serve asyncio's 256 KiB receive buffers from its heap, not from new mappings.

    asyncio's selector transport reads a socket with ``recv(256 KiB)``:
    CPython allocates a 256 KiB bytes object and shrinks it to what arrived.
    glibc's malloc serves a block that large with ``mmap`` until the process
    frees a mapped block above its threshold (128 KiB at start); it then
    raises the threshold to that block's size (malloc's *dynamic mmap
    threshold*). A receive buffer never raises it -- it is freed after being
    shrunk -- so in a process whose other code never happened to free a
    large block, *every* response received costs ``mmap`` + ``mremap`` +
    ``munmap`` and fresh page faults: about a fifth of a sequential
    Identify's client CPU (strace and timings in the h12b note,
    ``benchmarks/results/profiles/README.md``). One 512 KiB block allocated
    and freed raises the threshold once for the process, as any large
    temporary object would have; elsewhere than glibc it is one short-lived
    allocation and nothing more.
    """
    block = bytes(512 * 1024)
    del block


def is_library_client(client: aiohttp.ClientSession) -> bool:
    """True for a client made by :func:`new_client` with credential-keyed connections."""
    return client in _KEYED_CLIENTS
