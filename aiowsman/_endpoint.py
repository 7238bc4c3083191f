"""Parsing of WS-Management endpoint addresses.

WinRM listens on ``/wsman`` at port 5985 (HTTP) and 5986 (HTTPS) by default
(MS-WSMV 2.1: "the default HTTP port is 5985 and the default HTTPS port is
5986"; ``winrm quickconfig``). Users write endpoints the way ``winrm.cmd -r:``
and ``Enter-PSSession`` accept them, so all of these are understood::

    host                       -> http://host:5985/wsman
    host:5986                  -> https://host:5986/wsman   (5986 implies TLS)
    https://host               -> https://host:5986/wsman
    http://host:8080/custom    -> http://host:8080/custom
    ::1 / [::1]:5985           -> http://[::1]:5985/wsman
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from yarl import URL

from aiowsman.errors import ConfigurationError

__all__ = [
    "DEFAULT_PATH",
    "HTTPS_PORT",
    "HTTP_PORT",
    "Endpoint",
    "parse_endpoint",
    "request_url",
]

HTTP_PORT = 5985
HTTPS_PORT = 5986
DEFAULT_PATH = "/wsman"


@dataclass(frozen=True)
class Endpoint:
    """A parsed WS-Man endpoint.

    Attributes:
        scheme: ``http`` or ``https``.
        host: host name or IP literal, without IPv6 brackets.
        port: TCP port.
        path: URL path, starting with ``/``.
    """

    scheme: str
    host: str
    port: int
    path: str = DEFAULT_PATH

    @property
    def is_tls(self) -> bool:
        """True for ``https``."""
        return self.scheme == "https"

    def __post_init__(self) -> None:
        # Both are read by every session made for the endpoint, and by every
        # error and log line naming it: made once.
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = f"{host}:{self.port}"
        object.__setattr__(self, "_authority", authority)
        object.__setattr__(self, "_url", f"{self.scheme}://{authority}{self.path}")

    @property
    def authority(self) -> str:
        """``host:port`` (IPv6 in brackets): how errors and logs name the host."""
        authority: str = self._authority  # type: ignore[attr-defined]
        return authority

    @property
    def url(self) -> str:
        """The full endpoint URL (the value of the ``wsa:To`` header)."""
        url: str = self._url  # type: ignore[attr-defined]
        return url

    def __str__(self) -> str:
        return self.url


#: The usual URL (``http(s)://`` + host name or IPv4 address, an optional
#: port and path; no userinfo, IPv6, query or fragment), read without
#: ``urlsplit``: a fan-out parses one endpoint per host. Anything else takes
#: the general path below, which gives the same answer for these.
_PLAIN_URL = re.compile(r"(https?)://([A-Za-z0-9._-]+)(?::([0-9]{1,5}))?(/[^?#\s]*)?", re.I)


def _parse_port(text: str, original: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigurationError(f"invalid port in endpoint {original!r}") from None
    if not 0 < port < 65536:
        raise ConfigurationError(f"port out of range in endpoint {original!r}")
    return port


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def parse_endpoint(value: str, *, use_tls: bool | None = None) -> Endpoint:
    """Parse an endpoint as written by a user.

    Args:
        value: ``host``, ``host:port``, ``[v6]:port``, a bare IPv6 literal, or a
            URL ``http(s)://host[:port][/path]``.
        use_tls: force ``https`` (True) or ``http`` (False) when ``value`` has
            no scheme; by default a bare host uses HTTP, and port 5986 HTTPS.

    Returns:
        The parsed :class:`Endpoint`.

    Raises:
        aiowsman.errors.ConfigurationError: empty value, unknown scheme, bad port.
    """
    text = value.strip()
    plain = _PLAIN_URL.fullmatch(text)
    if plain is not None:
        scheme, host, port_text, path = plain.groups()
        port = int(port_text) if port_text else None
        if port is None or 0 < port < 65536:
            scheme = scheme.lower()
            if port is None:
                port = HTTPS_PORT if scheme == "https" else HTTP_PORT
            return Endpoint(
                scheme, host.lower(), port, path if path and path != "/" else DEFAULT_PATH
            )
    return _parse_general(value, text, use_tls)


def _parse_general(value: str, text: str, use_tls: bool | None) -> Endpoint:
    """:func:`parse_endpoint` for every form (``text``: ``value`` stripped)."""
    if not text:
        raise ConfigurationError("empty endpoint")
    authority = text.split("://", 1)[-1].split("/", 1)[0]
    if "@" in authority:
        # user:password@host: credentials in the address would be dropped
        # (or, worse, echoed in error messages); they go in username/password.
        raise ConfigurationError(
            "credentials in the endpoint are not supported; pass username= and password="
        )
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError as exc:  # e.g. "Invalid IPv6 URL" (unbalanced '[')
            raise ConfigurationError(f"invalid endpoint {value!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ConfigurationError(f"unsupported scheme {scheme!r} in endpoint {value!r}")
        try:
            host = parts.hostname
            port = parts.port
        except ValueError:
            raise ConfigurationError(f"invalid port in endpoint {value!r}") from None
        if not host:
            raise ConfigurationError(f"no host in endpoint {value!r}")
        if port == 0:  # urlsplit takes 0..65535; no listener is on port 0
            raise ConfigurationError(f"port out of range in endpoint {value!r}")
        if port is None:
            port = HTTPS_PORT if scheme == "https" else HTTP_PORT
        path = parts.path if parts.path not in ("", "/") else DEFAULT_PATH
        if parts.query:
            path = f"{path}?{parts.query}"
        return Endpoint(scheme, host, port, path)

    port_given: int | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ConfigurationError(f"unbalanced '[' in endpoint {value!r}")
        host = text[1:close]
        rest = text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ConfigurationError(f"unexpected text after ']' in endpoint {value!r}")
            port_given = _parse_port(rest[1:], value)
    elif text.count(":") > 1:
        if not _is_ipv6(text):
            raise ConfigurationError(f"invalid IPv6 address in endpoint {value!r}")
        host = text  # a bare IPv6 literal carries no port
    elif ":" in text:
        host, _, port_text = text.partition(":")
        port_given = _parse_port(port_text, value)
    else:
        host = text
    if "/" in host or not host:
        raise ConfigurationError(f"invalid host in endpoint {value!r}")
    if use_tls is None:
        use_tls = port_given == HTTPS_PORT
    scheme = "https" if use_tls else "http"
    port = port_given if port_given is not None else (HTTPS_PORT if use_tls else HTTP_PORT)
    return Endpoint(scheme, host.lower(), port, DEFAULT_PATH)


#: Host names and paths that yarl's parser leaves as they are (apart from
#: lower-casing the host): no percent-escapes, dots in the path, IPv6 or
#: non-ASCII names, whose encoding and normalisation only the parser does.
_VERBATIM_HOST = re.compile(r"[A-Za-z0-9._-]+")
_VERBATIM_PATH = re.compile(r"/[A-Za-z0-9/_-]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def request_url(endpoint: Endpoint) -> URL | str:
    """``endpoint`` as the URL object aiohttp sends requests to (made once per session).

    aiohttp parses a URL given as text on every request, and yarl's cache of
    parsed URLs (128 entries) cannot hold a fan-out's thousands of endpoints:
    a parse is about 10 µs, most of it checking whether the host is an IP
    address. The usual endpoint is assembled from its parts instead (under
    1 µs; the same URL, property for property, as the parser's:
    ``tests/test_perf_tuning.py``); anything else is parsed. Returns the
    text itself when yarl refuses it (a host name IDNA cannot encode), for
    aiohttp to report as it always did.
    """
    host, path = endpoint.host, endpoint.path
    if (
        _VERBATIM_HOST.fullmatch(host)
        and _VERBATIM_PATH.fullmatch(path)
        and _DEFAULT_PORTS.get(endpoint.scheme) != endpoint.port  # the parser keeps it explicit
    ):
        return URL.build(
            scheme=endpoint.scheme, host=host.lower(), port=endpoint.port, path=path, encoded=True
        )
    try:
        return URL(endpoint.url)
    except ValueError:
        return endpoint.url
