"""Each operation of AsyncSession against the real test server (a simulated Windows host)."""

from __future__ import annotations

import pytest

from aiowsman import (
    AsyncSession,
    AuthenticationError,
    ConfigurationError,
    EndpointReference,
    Item,
    ResourceLocator,
    WSManFault,
)
from aiowsman.testing import WSManTestServer

SERVICE = "wmicimv2/Win32_Service"
ENVIRONMENT = "wmicimv2/Win32_Environment"


async def test_identify_reports_the_product(basic_session: AsyncSession) -> None:
    info = await basic_session.identify()
    assert info.product_vendor == "Microsoft Corporation"
    assert info.protocol_version == "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"


async def test_get_with_selector_keywords_returns_that_instance(
    basic_session: AsyncSession,
) -> None:
    item = await basic_session.get(SERVICE, Name="WinRM")
    assert item.name == "Win32_Service"
    assert item["Name"] == "WinRM"


async def test_get_accepts_a_resource_locator_and_a_query_string(
    basic_session: AsyncSession,
) -> None:
    by_locator = await basic_session.get(ResourceLocator(SERVICE, Name="WinRM"))
    by_query = await basic_session.get(f"{SERVICE}?Name=WinRM")
    assert by_locator["Name"] == by_query["Name"] == "WinRM"


async def test_get_selectors_do_not_change_the_callers_locator(
    basic_session: AsyncSession,
) -> None:
    locator = ResourceLocator(SERVICE)
    await basic_session.get(locator, Name="WinRM")
    assert locator.selectors == {}


async def test_put_updates_the_resource(basic_session: AsyncSession) -> None:
    locator = ResourceLocator(ENVIRONMENT, Name="OS", UserName="<SYSTEM>")
    await basic_session.put(locator, {"VariableValue": "Changed"})
    assert (await basic_session.get(locator))["VariableValue"] == "Changed"


async def test_create_returns_a_reference_that_get_and_delete_accept(
    basic_session: AsyncSession,
) -> None:
    created = await basic_session.create(
        ENVIRONMENT, {"Name": "AIOWSMAN_T", "UserName": "<SYSTEM>", "VariableValue": "1"}
    )
    assert isinstance(created, EndpointReference)
    assert created.selectors["Name"] == "AIOWSMAN_T"
    assert (await basic_session.get(created))["VariableValue"] == "1"
    await basic_session.delete(created)
    with pytest.raises(WSManFault):
        await basic_session.get(created)


async def test_invoke_returns_the_method_output_and_changes_state(
    basic_session: AsyncSession,
) -> None:
    spooler = ResourceLocator(SERVICE, Name="Spooler")
    assert (await basic_session.get(spooler))["State"] == "Running"
    out = await basic_session.invoke("StopService", spooler)
    assert out["ReturnValue"] == "0"
    assert (await basic_session.get(spooler))["State"] == "Stopped"


async def test_get_accepts_an_item_carrying_its_reference(basic_session: AsyncSession) -> None:
    async with basic_session.enumerate(SERVICE, mode="object_and_epr") as services:
        first = await services.read_item()
    assert isinstance(first, Item) and first.epr is not None
    again = await basic_session.get(first)
    assert again["Name"] == first["Name"]


async def test_an_item_without_a_reference_is_refused_as_a_locator(
    basic_session: AsyncSession,
) -> None:
    item = await basic_session.get(SERVICE, Name="WinRM")
    with pytest.raises(ConfigurationError):
        await basic_session.get(item)


async def test_a_fault_is_raised_and_kept_in_session_error_with_raw_xml(
    basic_session: AsyncSession,
) -> None:
    assert basic_session.error is None
    with pytest.raises(WSManFault) as info:
        await basic_session.get(SERVICE, Name="NoSuchService")
    assert basic_session.error is info.value
    assert b"Fault" in info.value.raw_xml


async def test_a_fault_names_host_and_operation(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    with pytest.raises(WSManFault) as info:
        await basic_session.get(SERVICE, Name="NoSuchService")
    host = basic_server.endpoints[0].split("//")[1].split("/")[0]
    assert info.value.host == host
    assert info.value.operation == "Get"
    assert host in str(info.value) and "Get" in str(info.value)


async def test_a_successful_call_clears_session_error(basic_session: AsyncSession) -> None:
    with pytest.raises(WSManFault):
        await basic_session.get(SERVICE, Name="NoSuchService")
    await basic_session.get(SERVICE, Name="WinRM")
    assert basic_session.error is None


async def test_operations_on_a_closed_session_are_refused(basic_session: AsyncSession) -> None:
    await basic_session.aclose()
    with pytest.raises(ConfigurationError) as info:
        await basic_session.identify()
    assert info.value.operation == "Identify"


async def test_unauthenticated_identify_needs_no_credentials(
    basic_server: WSManTestServer,
) -> None:
    async with AsyncSession(basic_server.endpoints[0], auth="none") as anonymous:
        info = await anonymous.identify(unauthenticated=True)
        assert info.product_vendor == "Microsoft Corporation"
        with pytest.raises(AuthenticationError):  # /wsman itself wants credentials
            await anonymous.identify()
