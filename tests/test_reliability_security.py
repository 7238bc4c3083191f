"""Security defaults under test: TLS verified, no clear-text Basic, no credential
in any log line, repr or error, and no value able to change an envelope's shape.
"""

from __future__ import annotations

import base64
import logging
import pickle
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from aiowsman import (
    AsyncSession,
    ConfigurationError,
    InsecureTransportError,
    ResourceLocator,
    TLSError,
    WSManError,
)
from aiowsman.fanout import run
from aiowsman.protocol.envelope import (
    AssociationFilter,
    RequestOptions,
    enumerate_request,
    get_request,
    invoke_request,
)
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer
from tests.conftest import PASSWORD, USER
from tests.test_hygiene_probe import ResourceProbe

SERVICE = "wmicimv2/Win32_Service"
K = InjectionKind


# -- TLS and clear text ------------------------------------------------------------------


async def test_tls_is_verified_by_default_and_an_untrusted_server_gets_nothing(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
) -> None:
    async with (
        ResourceProbe(),
        make_server(tls=make_tls("127.0.0.1")) as server,
        make_session(server, allow_unencrypted=False) as session,
    ):
        with pytest.raises(TLSError) as info:
            await session.identify()
        assert (info.value.host, info.value.operation) == (session.host, "Identify")
        # The handshake failed before any request (or credential) was sent.
        assert server.host(0).stats.requests == 0


async def test_basic_over_plain_http_is_refused_before_any_connection(
    make_server: Callable[..., WSManTestServer],
) -> None:
    async with make_server() as server:
        with pytest.raises(InsecureTransportError) as info:
            AsyncSession(server.endpoints[0], auth="basic", username=USER, password=PASSWORD)
        assert PASSWORD not in str(info.value)
        assert server.host(0).stats.connections == 0
        # ... and is allowed only on explicit request.
        async with AsyncSession(
            server.endpoints[0],
            auth="basic",
            username=USER,
            password=PASSWORD,
            allow_unencrypted=True,
        ) as session:
            assert (await session.identify()).product_vendor


# -- credentials never leak ---------------------------------------------------------------

SECRETS = (
    PASSWORD,
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    PASSWORD.encode().hex(),
)


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"credential in {where}: {text[:200]!r}"


def error_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    texts.append(repr(pickle.loads(pickle.dumps(exc)).__dict__))
    if exc.__cause__ is not None:
        texts += [str(exc.__cause__), repr(exc.__cause__)]
    return texts


async def _every_operation(session: AsyncSession) -> object:
    await session.identify()
    await session.get(SERVICE, Name="WinRM")
    await session.enumerate(SERVICE, batch_items=50).to_list()
    await session.invoke("StopService", f"{SERVICE}?Name=WinRM")
    return await session.get(SERVICE, Name="NoSuchService")  # a fault


async def test_credentials_appear_in_no_log_line_repr_or_error_of_a_full_run(
    make_server: Callable[..., WSManTestServer],
    make_tls: Callable[..., ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kinds = [
        None,
        K.UNAUTHORIZED,
        K.RESET_MID_RESPONSE,
        K.HTTP_500,
        K.HTTP_503,
        K.GARBAGE,
        K.XXE,
        K.QUOTA,
        K.TIMED_OUT,
        K.WRONG_RELATES_TO,
        K.BLACK_HOLE,
    ]
    behaviours = {i: HostBehaviour(always=Injection(k)) for i, k in enumerate(kinds) if k}
    caplog.set_level(logging.DEBUG)
    results = []
    async with (
        make_server(hosts=len(kinds), behaviours=behaviours) as server,
        make_server(tls=make_tls("127.0.0.1")) as tls_server,
    ):
        async for result in run(
            server.endpoints + tls_server.endpoints,
            _every_operation,
            deadline=10,
            retries=1,
            backoff=0.01,
            timeout=2.0,
            auth="basic",
            username=USER,
            password=PASSWORD,
            allow_unencrypted=True,
        ):
            results.append(result)
        async with AsyncSession(
            server.endpoints[0],
            auth="basic",
            username=USER,
            password=PASSWORD,
            allow_unencrypted=True,
        ) as session:
            for text in (repr(session), repr(session.auth), repr(session._transport)):
                assert_no_secret(text, "a repr")
    assert len(results) == len(kinds) + 1
    assert sum(r.ok for r in results) == 0  # every host ends in the NoSuchService fault
    assert {r.error_class for r in results} >= {"auth", "connect", "fault", "protocol", "tls"}
    for r in results:
        assert_no_secret(repr(r), "a HostResult repr")
        assert_no_secret(str(r.to_dict()), "a record")
        assert r.error is not None
        for text in error_texts(r.error):
            assert_no_secret(text, "an error")
    debug_lines = [rec for rec in caplog.records if rec.name.startswith("aiowsman")]
    assert len(debug_lines) > len(kinds)  # the run really was logged at DEBUG
    for rec in caplog.records:
        assert_no_secret(rec.getMessage(), f"log record {rec.name}")
        if rec.exc_info:
            assert_no_secret(logging.Formatter().formatException(rec.exc_info), "a traceback")


def test_a_session_that_cannot_be_created_names_no_credential() -> None:
    with pytest.raises(WSManError) as info:
        AsyncSession("http://127.0.0.1:1/wsman", auth="nonsense", username=USER, password=PASSWORD)
    for text in error_texts(info.value):
        assert_no_secret(text, "an error")


# -- values cannot change an envelope's structure ------------------------------------------

OPTS = RequestOptions(to="http://h:5985/wsman")
xml_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\ufffe\uffff").filter(
        lambda c: c in "\t\n\r" or ord(c) >= 0x20
    ),
    max_size=30,
)
hostile = st.one_of(
    xml_text,
    st.sampled_from(
        [
            "]]>",
            "</w:Filter><w:Filter>",
            '"/><w:Selector Name="x">y</w:Selector><x a="',
            "<![CDATA[x]]>",
            "&lt;&amp;",
            "<!DOCTYPE x>",
            "<?pi?>",
            "'\"",
            "\r\n\t",
            "x' or '1'='1",
        ]
    ),
)


def structure(data: bytes) -> list[tuple[str, tuple[str, ...]]]:
    root = etree.fromstring(data)
    return [
        (el.tag, tuple(sorted(str(k) for k in el.attrib)))
        for el in root.iter()
        if isinstance(el.tag, str)
    ]


def same_structure(build: Callable[[str], bytes], value: str) -> None:
    try:
        built = build(value)
    except ConfigurationError:
        return  # refused outright is also safe
    assert structure(built) == structure(build("v"))


@settings(max_examples=60, deadline=None)
@given(value=hostile)
def test_selector_filter_values_and_names_cannot_change_structure(value: str) -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service")

    def by_value(v: str) -> bytes:
        return enumerate_request(OPTS, loc, filter={"Name": v}, dialect="selector").body

    def by_name(v: str) -> bytes:
        return enumerate_request(OPTS, loc, filter={v or "n": "x"}, dialect="selector").body

    same_structure(by_value, value)
    same_structure(by_name, value)


@settings(max_examples=60, deadline=None)
@given(value=hostile)
def test_association_filter_fields_cannot_change_structure(value: str) -> None:
    def build(v: str) -> bytes:
        assoc = AssociationFilter(
            object=ResourceLocator(SERVICE, Name=v),
            association_class_name=v,
            result_class_name=v,
            role=v,
            result_role=v,
            include_result_property=(v,),
        )
        return enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), association=assoc).body

    same_structure(build, value)


@settings(max_examples=60, deadline=None)
@given(value=hostile)
def test_dialect_fragment_and_option_names_cannot_change_structure(value: str) -> None:
    def dialect(v: str) -> bytes:
        loc = ResourceLocator("wmicimv2/*")
        return enumerate_request(OPTS, loc, filter="x", dialect=f"http://d/{v}").body

    def fragment(v: str) -> bytes:
        return get_request(OPTS, ResourceLocator(SERVICE, Name="a"), fragment=v or "f").body

    def option(v: str) -> bytes:
        loc = ResourceLocator(SERVICE, Name="a")
        loc.add_option(v or "o", "x")
        return get_request(OPTS, loc).body

    for build in (dialect, fragment, option):
        same_structure(build, value)


@settings(max_examples=60, deadline=None)
@given(value=hostile)
def test_invoke_parameter_values_cannot_change_structure(value: str) -> None:
    def build(v: str) -> bytes:
        params: dict[str, Any] = {"StartMode": v, "List": [v, v]}
        return invoke_request(OPTS, ResourceLocator(SERVICE, Name="a"), "Change", params).body

    same_structure(build, value)


@settings(max_examples=30, deadline=None)
@given(value=hostile)
def test_request_option_values_cannot_change_structure(value: str) -> None:
    def build(v: str) -> bytes:
        opts = RequestOptions(to=f"http://h:5985/wsman?{v}", locale=v or "x", data_locale=v or "x")
        return get_request(opts, ResourceLocator(SERVICE, Name="a")).body

    same_structure(build, value)
