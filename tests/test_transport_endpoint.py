"""Endpoint strings as users write them (winrm.cmd -r:, Enter-PSSession)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiowsman._endpoint import Endpoint, _parse_general, parse_endpoint
from aiowsman.errors import ConfigurationError


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("server1", "http://server1:5985/wsman"),
        ("SERVER1", "http://server1:5985/wsman"),
        ("server1:8080", "http://server1:8080/wsman"),
        ("server1:5986", "https://server1:5986/wsman"),
        ("https://server1", "https://server1:5986/wsman"),
        ("http://server1", "http://server1:5985/wsman"),
        ("http://server1/", "http://server1:5985/wsman"),
        ("https://server1:443/wsman-anon", "https://server1:443/wsman-anon"),
        ("192.0.2.7", "http://192.0.2.7:5985/wsman"),
        ("::1", "http://[::1]:5985/wsman"),
        ("[::1]", "http://[::1]:5985/wsman"),
        ("[::1]:5986", "https://[::1]:5986/wsman"),
        ("http://[fe80::1]:1234/x", "http://[fe80::1]:1234/x"),
    ],
)
def test_endpoint_forms_expand_to_full_urls(text: str, url: str) -> None:
    assert parse_endpoint(text).url == url


def test_use_tls_switches_default_port_and_scheme() -> None:
    assert parse_endpoint("server1", use_tls=True).url == "https://server1:5986/wsman"


def test_authority_is_host_and_port_for_error_messages() -> None:
    assert parse_endpoint("server1").authority == "server1:5985"
    assert parse_endpoint("[::1]:5985").authority == "[::1]:5985"


def test_ipv6_host_is_kept_without_brackets() -> None:
    ep = parse_endpoint("[::1]:5985")
    assert ep == Endpoint("http", "::1", 5985, "/wsman")


@pytest.mark.parametrize(
    "bad", ["", "ftp://server1", "server1:notaport", "server1:70000", "[::1", "[::1]x", "::zz::"]
)
def test_malformed_endpoints_are_configuration_errors(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_endpoint(bad)


_URL_PARTS = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    st.text(alphabet="abcXYZ019.-_", min_size=1, max_size=12),
    st.one_of(st.none(), st.integers(min_value=0, max_value=99999).map(str), st.just("05985")),
    st.one_of(
        st.none(), st.sampled_from(["/", "/wsman", "/Custom/Path", "/a b", "/x?y=1", "/x#f"])
    ),
)


@given(_URL_PARTS)
def test_the_quick_url_reading_agrees_with_the_general_one(parts: tuple[str, ...]) -> None:
    # parse_endpoint reads the usual URL without urlsplit; for every URL it
    # takes that way, the general reading must give the same endpoint (or the
    # same error).
    scheme, host, port, path = parts
    text = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + (path or "")
    try:
        expected: Endpoint | str = _parse_general(text, text, None)
    except ConfigurationError as exc:
        expected = str(exc)
    try:
        got: Endpoint | str = parse_endpoint(text)
    except ConfigurationError as exc:
        got = str(exc)
    assert got == expected
