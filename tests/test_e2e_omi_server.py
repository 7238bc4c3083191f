"""A whole session against a server that is not Windows: the test server's OMI flavour.

OMI (the WS-Man server of Linux management stacks) differs from Windows in
Identify, addressing (``__cimnamespace`` with a default of ``interop``, EPRs
that name no namespace), datetimes (bare text, wrappers refused), faults
(``OMI_Error``) and Basic authentication (per connection). A session's
ordinary use -- identify, get, enumerate and reuse what came back, change
things with datetimes in them, meet a fault -- must just work; the same
datetime code must keep working against the Windows flavour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from aiowsman import AsyncSession
from aiowsman.errors import WSManFault
from aiowsman.protocol import EndpointReference, Item, ResourceLocator
from aiowsman.testing import WSManTestServer

DMTF = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2"
SCHEDULE = ResourceLocator(f"{DMTF}/AIOWSMAN_Schedule", __cimnamespace="root/cimv2")
SERVICE = ResourceLocator(f"{DMTF}/Win32_Service", __cimnamespace="root/cimv2")
WINDOWS_SCHEDULE = ResourceLocator("wmicimv2/AIOWSMAN_Schedule")
PLUS_13_50 = dt.timezone(dt.timedelta(hours=13, minutes=50))
START = dt.datetime(2031, 1, 1, 1, 1, 1, 1, tzinfo=PLUS_13_50)


@pytest_asyncio.fixture
async def omi(make_server: Callable[..., WSManTestServer]) -> AsyncIterator[WSManTestServer]:
    async with make_server(flavour="omi") as server:
        yield server


@pytest_asyncio.fixture
async def windows(make_server: Callable[..., WSManTestServer]) -> AsyncIterator[WSManTestServer]:
    async with make_server() as server:
        yield server


def backup(locator: ResourceLocator) -> ResourceLocator:
    """``locator`` addressing the schedule called Backup."""
    named = locator.copy()
    named.add_selector("Name", "Backup")
    return named


def stored(server: WSManTestServer, name: str) -> dict[str, Any]:
    """What the server now holds for schedule ``name`` (its own view, not the client's)."""
    inst = server.host(0).store.find("AIOWSMAN_Schedule", {"Name": name})
    assert inst is not None
    return inst.values


async def test_identify_says_omi(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(omi) as session:
        identity = await session.identify()
    assert identity.is_omi
    assert identity.product_vendor == "Open Management Infrastructure"
    assert identity.protocol_version == "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"


async def test_get_reads_bare_datetimes_and_intervals(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(omi) as session:
        backup = await session.get(SCHEDULE, Name="Backup")
    assert backup["Every"] == dt.timedelta(days=1)
    assert backup["Start"] == stored(omi, "Backup")["Start"]
    assert backup["Until"] is None


@pytest.mark.parametrize("mode", ["epr", "object_and_epr"])
async def test_enumerated_references_can_be_used_again(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession], mode: str
) -> None:
    async with make_session(omi) as session:
        found = await session.enumerate(SCHEDULE, mode=mode).to_list()  # type: ignore[arg-type]
        assert len(found) == 2
        again = [await session.get(entry) for entry in found]
    assert sorted(item["Name"] for item in again) == ["Backup", "Cleanup"]
    for entry in found:
        epr = entry if isinstance(entry, EndpointReference) else entry.epr
        assert epr is not None and epr.cim_namespace == "root/cimv2"


async def test_create_put_invoke_send_datetimes_as_omi_reads_them(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(omi) as session:
        # No identify() first: the session learns the server's form itself.
        reference = await session.create(
            SCHEDULE,
            {
                "Name": "Patch",
                "Command": "apt-get upgrade",
                "Start": START,
                "Every": dt.timedelta(days=2000),
                "Until": None,
            },
        )
        assert stored(omi, "Patch")["Start"] == START
        assert stored(omi, "Patch")["Every"] == dt.timedelta(days=2000)
        updated = await session.put(
            reference, {"Name": "Patch", "Every": dt.timedelta(hours=6, microseconds=5)}
        )
        assert updated is not None and updated["Every"] == dt.timedelta(hours=6, microseconds=5)
        out = await session.invoke(
            "Postpone",
            reference,
            {"By": dt.timedelta(minutes=30), "Until": START.replace(year=2032)},
        )
    assert out["Start"] == START + dt.timedelta(minutes=30)
    assert stored(omi, "Patch")["Until"] == START.replace(year=2032)
    # One Identify (the datetime format), however many bodies followed.
    assert omi.host(0).stats.by_operation["Identify"] == 1


async def test_the_same_calls_send_wrappers_to_windows(
    windows: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(windows) as session:
        await session.create(
            WINDOWS_SCHEDULE,
            {"Name": "Patch", "Command": "c", "Start": START, "Every": dt.timedelta(days=1)},
        )
        reference = ResourceLocator("wmicimv2/AIOWSMAN_Schedule", Name="Patch")
        out = await session.invoke("Postpone", reference, {"By": dt.timedelta(minutes=1)})
    assert out["Start"] == START + dt.timedelta(minutes=1)
    assert stored(windows, "Patch")["Every"] == dt.timedelta(days=1)


@pytest.mark.parametrize(("flavour", "wrong"), [("omi", "cim"), ("windows", "bare")])
async def test_the_other_servers_form_is_refused(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    flavour: str,
    wrong: str,
) -> None:
    # What "auto" protects from: each server refuses the other's form.
    locator = SCHEDULE if flavour == "omi" else WINDOWS_SCHEDULE
    async with make_server(flavour=flavour) as server:
        async with make_session(server, datetime_format=wrong) as session:
            with pytest.raises(WSManFault) as info:
                await session.put(backup(locator), {"Name": "Backup", "Start": START})
            assert "Start" in str(info.value)  # refused for the datetime, nothing else
            # No Identify was needed: the format was given.
        assert server.host(0).stats.by_operation["Identify"] == 0


async def test_bodies_without_datetimes_cost_no_identify(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(omi) as session:
        await session.put(backup(SCHEDULE), {"Name": "Backup", "Command": "backup.exe"})
    assert omi.host(0).stats.by_operation["Identify"] == 0
    assert stored(omi, "Backup")["Command"] == "backup.exe"


async def test_an_omi_fault_reads_as_a_cim_error(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(omi) as session:
        with pytest.raises(WSManFault) as info:
            await session.get(SERVICE, Name="NoSuchService")
        assert session.error is info.value
    detail = info.value.fault
    assert info.value.subcode == "DestinationUnreachable"
    assert detail.cim_error_class == "OMI_Error"
    assert detail.cim_status_code == 6
    assert detail.message_id == "OMI:MI_Result:6"


async def test_a_reference_passed_back_without_its_namespace_would_miss(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    # What keeping the namespace protects from: OMI's default is interop.
    async with make_session(omi) as session:
        (first, *_) = await session.enumerate(SCHEDULE, mode="epr").to_list()
        assert isinstance(first, EndpointReference)
        bare = EndpointReference(
            first.address,
            first.resource_uri,
            {k: v for k, v in first.selectors.items() if k != "__cimnamespace"},
        )
        with pytest.raises(WSManFault) as info:
            await session.get(bare)
    assert info.value.fault.cim_status_code == 5


async def test_a_whole_session_against_omi(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(omi) as session:
        assert (await session.identify()).is_omi
        service = await session.get(SERVICE, Name="WinRM")
        assert service["Name"] == "WinRM"
        items = await session.enumerate(SCHEDULE, mode="object_and_epr").to_list()
        item = items[0]
        assert isinstance(item, Item)
        await session.put(item, {"Name": item["Name"], "Start": START})
        assert (await session.get(item))["Start"] == START
        with pytest.raises(WSManFault):
            await session.get(SERVICE, Name="Missing")
    # Basic over one kept-alive connection, served as the user throughout.
    stats = omi.host(0).stats
    assert set(stats.by_user) == {"user"}
