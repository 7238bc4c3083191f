"""Performance knobs keep their promises (behaviour only: nothing here is timed)."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yarl
from hypothesis import given, settings
from hypothesis import strategies as st

from aiowsman import AsyncSession, fanout
from aiowsman._endpoint import parse_endpoint, request_url
from aiowsman.errors import ConfigurationError
from aiowsman.protocol import envelope as env
from aiowsman.protocol.locator import ResourceLocator


@contextlib.asynccontextmanager
async def _fake_session(host: str) -> AsyncIterator[str]:
    yield host


async def test_gc_threshold_applies_during_the_run_and_is_restored_after() -> None:
    before = gc.get_threshold()
    seen: list[int] = []

    async def op(session: str) -> str:
        seen.append(gc.get_threshold()[0])
        return session

    results = await fanout.run(
        ["a", "b"], op, session_factory=_fake_session, gc_threshold=before[0] + 12345
    ).collect()
    assert sorted(r.value for r in results) == ["a", "b"]
    assert seen == [before[0] + 12345] * 2
    assert gc.get_threshold() == before


async def test_gc_threshold_is_restored_when_the_run_is_left_early() -> None:
    before = gc.get_threshold()

    async def op(session: str) -> str:
        return session

    async with fanout.run(
        [str(i) for i in range(50)], op, session_factory=_fake_session, gc_threshold=50_000
    ) as results:
        async for _ in results:
            assert gc.get_threshold()[0] == 50_000
            break
    assert gc.get_threshold() == before


def test_gc_threshold_must_be_a_positive_integer() -> None:
    async def op(session: str) -> str:
        return session

    with pytest.raises(ConfigurationError):
        fanout.run(["a"], op, session_factory=_fake_session, gc_threshold=0)


def test_message_ids_are_unique_rfc4122_uuids() -> None:
    import uuid

    ids = [env.new_message_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    for mid in ids[:5]:
        assert mid.startswith("uuid:")
        parsed = uuid.UUID(mid[5:])
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert mid[5:] == str(parsed).upper()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_message_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ID and leave at once
        os.write(write, env.new_message_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_ids = {env.new_message_id() for _ in range(3)}
    assert child_id.startswith("uuid:")
    assert child_id[:-12] not in {p[:-12] for p in parent_ids}


def test_a_changed_locator_is_not_served_a_stale_header_template() -> None:
    opts = env.RequestOptions(to="http://h:5985/wsman")
    loc = ResourceLocator("wmicimv2/Win32_Service", {"Name": "WinRM"})
    first = env.get_request(opts, loc).body
    loc.add_selector("Name", "Spooler")
    second = env.get_request(opts, loc).body
    assert b">WinRM</w:Selector>" in first
    assert b">Spooler</w:Selector>" in second and b"WinRM" not in second


def test_changed_session_options_are_not_served_a_stale_header_template() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service")
    a = env.get_request(env.RequestOptions(to="http://a:5985/wsman"), loc).body
    b = env.get_request(env.RequestOptions(to="http://b:5985/wsman"), loc).body
    assert b"<a:To>http://a:5985/wsman</a:To>" in a
    assert b"<a:To>http://b:5985/wsman</a:To>" in b


async def test_a_sessions_endpoint_url_is_parsed_once_not_per_request(
    basic_server: Any, basic_session: Any, aiohttp_urls: list[object]
) -> None:
    # aiohttp parses a URL given as text on every request, and yarl's cache of
    # parsed URLs (128 entries) does not hold a fan-out's endpoints: the
    # session hands aiohttp the URL it made once, the same object each time.
    given = aiohttp_urls
    locator = ResourceLocator("wmicimv2/Win32_Service", {"Name": "Spooler"})
    await basic_session.identify()
    for _ in range(3):
        # Other endpoints' URLs in between, as a fan-out's are.
        for i in range(200):
            yarl.URL(f"http://192.0.2.{i}:5985/wsman")
        item = await basic_session.get(locator)
        assert item["Name"] == "Spooler"
    assert len(given) == 4
    assert all(isinstance(url, yarl.URL) for url in given)
    assert all(url is given[0] for url in given)
    assert str(given[0]) == basic_server.endpoints[0]


async def test_an_endpoint_aiohttp_cannot_parse_is_still_a_configuration_error() -> None:
    # A host name IDNA cannot encode (a label over 63 characters) passes the
    # endpoint parser; aiohttp's URL type refuses it when the first request is
    # made: the caller gets the library's error, naming host and operation.
    endpoint = "http://" + "\u00e9" * 70 + ".example:5985/wsman"
    async with AsyncSession(
        endpoint, auth="basic", username="u", password="p", allow_unencrypted=True, timeout=5
    ) as session:
        with pytest.raises(ConfigurationError, match="invalid endpoint URL") as caught:
            await session.identify()
    assert caught.value.operation == "Identify"
    assert caught.value.host == session.host


def _url_properties(url: Any) -> tuple[object, ...]:
    return (
        str(url),
        url.scheme,
        url.host,
        url.raw_host,
        url.port,
        url.explicit_port,
        url.path,
        url.raw_path,
        url.host_port_subcomponent,
        url.origin(),
        url.raw_query_string,
        url.raw_fragment,
        url.user,
        url.is_default_port(),
    )


_HOST_CHARS = "abcXYZ0189._-"
_PATH_CHARS = "/aZ09_-"


@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=st.text(_HOST_CHARS, min_size=1, max_size=20),
    port=st.one_of(st.integers(1, 65535), st.sampled_from([80, 443, 5985, 5986])),
    path=st.text(_PATH_CHARS, max_size=20),
)
@settings(max_examples=400, deadline=None)
def test_an_endpoint_assembled_for_aiohttp_is_the_url_its_parser_makes(
    scheme: str, host: str, port: int, path: str
) -> None:
    try:
        endpoint = parse_endpoint(f"{scheme}://{host}:{port}/{path}")
    except ConfigurationError:
        return
    made = request_url(endpoint)
    parsed = yarl.URL(endpoint.url)
    assert made == parsed
    assert _url_properties(made) == _url_properties(parsed)


@pytest.mark.parametrize(
    "text",
    [
        "http://127.0.0.1:5985/wsman",
        "https://Host.Example.COM/wsman",
        "http://HOST-2.corp:80/wsman",
        "https://h:443/wsman",
        "http://[::1]:5985/wsman",
        "http://[fe80::1%25eth0]:5985/wsman",
        "http://\u00e9t\u00e9.example:5985/wsman",
        "http://h:5985/ws%20man",
        "http://h:5985/a/../wsman",
        "http://h:5985/wsman/./x",
        "http://a..b./wsman",
        "http://01.02.03.04:5985/wsman",
        "http://1.2.3.4:8080/",
    ],
)
def test_every_endpoint_form_reaches_aiohttp_as_the_url_its_parser_makes(text: str) -> None:
    endpoint = parse_endpoint(text)
    made = request_url(endpoint)
    parsed = yarl.URL(endpoint.url)
    assert isinstance(made, yarl.URL)
    assert _url_properties(made) == _url_properties(parsed)
