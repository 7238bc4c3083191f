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


# -- edges found by mutation testing (benchmarks/results/mutation-core.md) -----


@pytest.mark.parametrize(
    "text",
    [
        "server1:0",
        "server1:65536",
        "[::1]:0",
        "[::1]:65536",
        "http://server1:0/wsman",
        "https://server1:0",
        "http://server1:65536/wsman",
        "http://[::1]:0/wsman",
    ],
)
def test_ports_outside_1_to_65535_are_refused_in_every_form(text: str) -> None:
    with pytest.raises(ConfigurationError, match="port"):
        parse_endpoint(text)


@pytest.mark.parametrize(
    ("text", "port"),
    [
        ("server1:1", 1),
        ("server1:65535", 65535),
        ("[::1]:65535", 65535),
        ("http://server1:1/wsman", 1),
        ("http://server1:65535/wsman", 65535),
        ("http://[::1]:65535/wsman", 65535),
    ],
)
def test_the_first_and_last_ports_are_accepted_in_every_form(text: str, port: int) -> None:
    assert parse_endpoint(text).port == port


@pytest.mark.parametrize(
    "text", ["  server1  ", "\tserver1:5985\n", "  http://server1:5985/wsman  ", " [::1] "]
)
def test_whitespace_around_an_endpoint_is_ignored(text: str) -> None:
    endpoint = parse_endpoint(text)
    assert endpoint.host in ("server1", "::1")
    assert endpoint.port == 5985
    assert endpoint.path == "/wsman"


@pytest.mark.parametrize(
    "text",
    [
        "admin:Secret123@server1",
        "http://admin:Secret123@server1:5985/wsman",
        "https://admin:Secret123@server1/wsman",
        "admin@server1",
        "http://admin:Secret123@server1/wsman://x",
    ],
)
def test_credentials_in_the_endpoint_are_refused_without_being_echoed(text: str) -> None:
    with pytest.raises(ConfigurationError, match="credentials in the endpoint") as caught:
        parse_endpoint(text)
    assert "Secret123" not in str(caught.value)


def test_a_query_in_the_endpoint_stays_part_of_the_request_path() -> None:
    # Exchange Online and JEA-style endpoints carry parameters in the query.
    endpoint = parse_endpoint("https://outlook.example/powershell-liveid?PSVersion=5.1")
    assert endpoint.path == "/powershell-liveid?PSVersion=5.1"
    assert endpoint.url == "https://outlook.example:5986/powershell-liveid?PSVersion=5.1"
    assert parse_endpoint("http://h/?a=1").path == "/wsman?a=1"


@pytest.mark.parametrize("text", ["server1/wsman", ":5985", "[]", "[::1]]:5985", "[::1]]"])
def test_hosts_that_are_empty_or_carry_a_path_or_extra_brackets_are_refused(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_endpoint(text)


def test_an_endpoint_is_immutable_and_hashable() -> None:
    # Sessions, pools and the fan-out runner share Endpoint objects (and key
    # by them): one must not change under the others.
    endpoint = parse_endpoint("server1")
    with pytest.raises(AttributeError):
        endpoint.port = 1  # type: ignore[misc]
    assert endpoint.port == 5985
    assert {endpoint: 1}[parse_endpoint("http://server1:5985/wsman")] == 1


@pytest.mark.parametrize(
    ("text", "path"), [("http://server1:5985/w@x", "/w@x"), ("http://server1/w@x?a=b", "/w@x?a=b")]
)
def test_an_at_sign_in_the_path_is_not_taken_for_credentials(text: str, path: str) -> None:
    endpoint = parse_endpoint(text)
    assert (endpoint.host, endpoint.path) == ("server1", path)


def test_an_endpoint_reads_as_its_url() -> None:
    # Errors and logs format endpoints with str().
    assert str(parse_endpoint("server1")) == "http://server1:5985/wsman"
    assert f"{parse_endpoint('[::1]:5986')}" == "https://[::1]:5986/wsman"
