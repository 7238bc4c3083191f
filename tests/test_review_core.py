"""Regressions found by reviewing the core (issue 2) as a user would use it.

Each test pins one behaviour that was missing or wrong: the test server on an
IPv6 literal, the seed's EnumerationFlagAssociationInstance, Release after a
``break`` out of a plain ``async for``, ``session.error`` surviving the
clean-up Release, configuration errors naming the host, credentials in an
endpoint, fragment-level Put (DSP0226 7.7, ``w:XmlFragment``), and the server
command accepting NTLM (the encrypted-vs-plain benchmark needs it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from aiowsman import (
    AssociationFilter,
    AsyncSession,
    ConfigurationError,
    Item,
    QuotaExceededFault,
    ResourceLocator,
    WSMan,
)
from aiowsman.facade import enumeration_arguments
from aiowsman.protocol import envelope as env
from aiowsman.protocol import namespaces as ns
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from tests.conftest import PASSWORD, USER

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "wmicimv2/Win32_Service"  # 200 instances
CIM_ALL = "http://schemas.dmtf.org/wbem/wscim/1/*"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
async def test_the_test_server_serves_a_session_on_an_ipv6_literal() -> None:
    async with WSManTestServer(users={USER: PASSWORD}, bind_host="::1") as server:
        assert server.endpoints[0].startswith("http://[::1]:")
        async with AsyncSession(
            server.endpoints[0],
            auth="basic",
            username=USER,
            password=PASSWORD,
            allow_unencrypted=True,
            timeout=10.0,
        ) as session:
            assert session.host.startswith("[::1]:")
            os_ = await session.get("wmicimv2/Win32_OperatingSystem")
    assert os_.name == "Win32_OperatingSystem"


def test_the_association_instance_flag_sets_the_filter_to_association_instances() -> None:
    association = AssociationFilter(ResourceLocator(SERVICE, Name="WinRM"))
    kwargs = enumeration_arguments(WSMan.EnumerationFlagAssociationInstance, association)
    assert kwargs["association"].instances is True
    assert kwargs["association"].object == association.object


def test_the_associated_instance_flag_sets_the_filter_to_associated_instances() -> None:
    association = AssociationFilter(ResourceLocator(SERVICE, Name="WinRM"), instances=True)
    kwargs = enumeration_arguments(WSMan.EnumerationFlagAssociatedInstance, association)
    assert kwargs["association"].instances is False


def test_the_association_instance_flag_without_a_filter_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="association filter"):
        enumeration_arguments(WSMan.EnumerationFlagAssociationInstance)


async def test_a_ported_association_enumeration_returns_the_association_objects(
    basic_session: AsyncSession,
) -> None:
    association = AssociationFilter(
        ResourceLocator(SERVICE, Name="WinRM"), result_class_name="Win32_DependentService"
    )
    flags = WSMan.EnumerationFlagAssociationInstance
    links = await basic_session.enumerate(
        CIM_ALL, **enumeration_arguments(flags, association)
    ).to_list()
    assert links
    assert {i.name for i in links if isinstance(i, Item)} == {"Win32_DependentService"}


async def test_breaking_out_of_a_plain_async_for_releases_the_context_before_close(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server() as server, make_session(server, batch_items=20) as session:
        async for _ in session.enumerate(SERVICE):
            break
        releases = server.host(0).stats.releases
        for _ in range(500):  # bounded: the Release is scheduled, not awaited
            if releases:
                break
            await asyncio.sleep(0.01)
        assert len(releases) == 1
        assert server.host(0).contexts_open == 0
        # The session is still open and usable.
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"
    assert len(server.host(0).stats.releases) == 1  # not released twice by aclose()


async def test_session_error_keeps_a_pull_fault_after_the_context_is_released(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    def quota_on_pull(info: RequestInfo) -> Injection | None:
        return Injection(InjectionKind.QUOTA) if info.operation == "Pull" else None

    behaviour = HostBehaviour(inject=quota_on_pull)
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20) as session,
    ):
        with pytest.raises(QuotaExceededFault) as info:
            await session.enumerate(SERVICE).to_list()
        # to_list() released the context after the fault ...
        assert len(server.host(0).stats.releases) == 1
        # ... and that Release did not wipe the fault the caller got.
        assert session.error is info.value


def test_a_bad_timeout_names_the_host() -> None:
    session = AsyncSession("http://127.0.0.1:9/wsman", auth="none")
    with pytest.raises(ConfigurationError) as info:
        session.timeout = 0
    assert info.value.host == "127.0.0.1:9"


def test_a_bad_enumeration_mode_names_host_and_operation() -> None:
    session = AsyncSession("http://127.0.0.1:9/wsman", auth="none")
    with pytest.raises(ConfigurationError) as info:
        session.enumerate(SERVICE, mode="everything")  # type: ignore[arg-type]
    assert (info.value.host, info.value.operation) == ("127.0.0.1:9", "Enumerate")


async def test_an_item_without_a_reference_passed_as_a_locator_names_the_host(
    basic_session: AsyncSession,
) -> None:
    item = await basic_session.get(SERVICE, Name="WinRM")
    with pytest.raises(ConfigurationError, match="endpoint reference") as info:
        await basic_session.get(item)
    assert info.value.host == basic_session.host


async def test_the_debug_line_of_identify_shows_a_placeholder_for_the_missing_action(
    basic_session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiowsman"):
        await basic_session.identify()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiowsman"]
    assert any(" Identify action=- " in line for line in lines)


async def test_the_server_command_accepts_ntlm_for_the_encryption_benchmark() -> None:
    environ = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiowsman.testing",
        *("--users", f"{USER}:{PASSWORD}", "--auth", "ntlm"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=environ,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert info["auth"] == ["basic", "ntlm"]
        # NTLM with MS-WSMV message encryption over plain HTTP.
        async with AsyncSession(
            info["endpoints"][0], auth="ntlm", username=USER, password=PASSWORD, timeout=10.0
        ) as session:
            assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0


@pytest.mark.parametrize(
    "endpoint", ["http://admin:Hunter2-pw@127.0.0.1/wsman", "admin:Hunter2-pw@127.0.0.1"]
)
def test_credentials_in_the_endpoint_are_refused_without_echoing_them(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="username= and password=") as info:
        AsyncSession(endpoint, auth="none")
    assert "Hunter2-pw" not in str(info.value)
    assert info.value.operation == "CreateSession"


def test_an_unbalanced_ipv6_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid endpoint"):
        AsyncSession("http://[::1/wsman", auth="none")


ENVIRONMENT = "wmicimv2/Win32_Environment"


def _fragment_body(resource: object) -> etree._Element:
    locator = ResourceLocator(ENVIRONMENT, Name="F", UserName="<SYSTEM>", fragment="VariableValue")
    session = AsyncSession("http://127.0.0.1:9/wsman", auth="none")
    request = env.put_request(session.options, locator, resource)
    body = etree.fromstring(request.body).find(f"{{{ns.NS_SOAP}}}Body")
    assert body is not None
    return body


def test_a_fragment_put_of_a_mapping_sends_the_value_inside_xml_fragment() -> None:
    [fragment] = _fragment_body({"VariableValue": "2"})
    assert fragment.tag == f"{{{ns.NS_WSMAN}}}XmlFragment"
    [value] = fragment
    assert (value.tag, value.text) == ("VariableValue", "2")


def test_a_fragment_put_of_raw_xml_is_wrapped_once() -> None:
    [fragment] = _fragment_body("<VariableValue>3</VariableValue>")
    assert fragment.tag == f"{{{ns.NS_WSMAN}}}XmlFragment"
    [inner] = _fragment_body('<w:XmlFragment xmlns:w="' + ns.NS_WSMAN + '">3</w:XmlFragment>')
    assert inner.tag == f"{{{ns.NS_WSMAN}}}XmlFragment" and inner.text == "3"


async def test_a_fragment_put_round_trips_against_the_server(basic_session: AsyncSession) -> None:
    ref = await basic_session.create(
        ENVIRONMENT, {"Name": "REVIEW_FRAGMENT", "UserName": "<SYSTEM>", "VariableValue": "1"}
    )
    locator = ref.to_locator()
    locator.fragment_path = "VariableValue"
    updated = await basic_session.put(locator, {"VariableValue": "2"})
    assert updated is not None and updated["VariableValue"] == "2"
    assert (await basic_session.get(ref))["VariableValue"] == "2"


async def test_the_seed_loop_over_an_awaited_empty_enumeration_reads_nothing(
    basic_session: AsyncSession,
) -> None:
    query = "SELECT * FROM Win32_Service WHERE Name='NoSuchService'"
    e = await basic_session.enumerate("wmicimv2/*", filter=query, dialect="WQL")
    read = [await e.read_item() for _ in range(3) if not e.at_end_of_stream]
    assert read == [] and e.at_end_of_stream
