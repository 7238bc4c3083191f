"""The test server speaks WS-Management the way Windows does (raw HTTP + lxml)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from aiowsman.testing import HostBehaviour, WSManTestServer
from tests.testing_raw import (
    ASSOCIATION_FILTER,
    CIMV2,
    CREATE,
    DELETE,
    ENUMERATE,
    GET,
    IDENTIFY,
    NS,
    PULL,
    PUT,
    RELEASE,
    SELECTOR_FILTER,
    basic,
    call,
    children,
    enumerate_all,
    enumerate_body,
    envelope,
    post,
    pull_body,
    wql,
)

SERVICE = f"{CIMV2}/Win32_Service"
JAPANESE = "\u540c\u671f\u30b5\u30fc\u30d3\u30b9"  # a DisplayName of the data set


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=2, users={"user": "pass"}) as srv:
        yield srv


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def url(server: WSManTestServer) -> str:
    return server.endpoints[0]


# -- Identify and authentication ---------------------------------------------------


async def test_identify_reports_microsoft_stack_and_host_os_version(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await post(http, url, IDENTIFY)
    assert reply.status == 200
    ident = "s:Body/wsmid:IdentifyResponse/wsmid:"
    assert reply.text(ident + "ProductVendor") == "Microsoft Corporation"
    version = reply.text(ident + "ProductVersion") or ""
    assert version.startswith("OS: 10.0.") and version.endswith("SP: 0.0 Stack: 3.0")
    assert reply.text(
        ident + "SecurityProfiles/wsmid:SecurityProfileName",
    ).endswith("/secprofile/http/basic")


async def test_anonymous_identify_hides_os_version(http: aiohttp.ClientSession, url: str) -> None:
    anon = url.replace("/wsman", "/wsman-anon/identify")
    async with http.post(anon, data=IDENTIFY, headers={"WSMANIDENTIFY": "unauthenticated"}) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert b"OS: 0.0.0 SP: 0.0 Stack: 3.0" in body


async def test_anonymous_identify_requires_the_wsmanidentify_header(
    http: aiohttp.ClientSession, url: str
) -> None:
    async with http.post(url.replace("/wsman", "/wsman-anon/identify"), data=IDENTIFY) as resp:
        assert resp.status == 403


async def test_request_without_credentials_gets_401_offering_basic(
    http: aiohttp.ClientSession, url: str
) -> None:
    async with http.post(url, data=IDENTIFY) as resp:
        assert resp.status == 401
        assert resp.headers.getall("WWW-Authenticate") == ['Basic realm="WSMAN"']


async def test_wrong_password_gets_401_and_is_counted(
    http: aiohttp.ClientSession, server: WSManTestServer, url: str
) -> None:
    reply = await post(http, url, IDENTIFY, headers=basic("user", "wrong"))
    assert reply.status == 401
    assert server.host(0).stats.auth_failures == 1
    assert server.host(0).stats.requests == 0


async def test_basic_over_http_is_refused_when_unencrypted_is_not_allowed(
    http: aiohttp.ClientSession,
) -> None:
    async with WSManTestServer(allow_unencrypted=False) as srv:
        reply = await post(http, srv.endpoints[0], IDENTIFY)
    assert reply.status == 401
    assert "WWW-Authenticate" not in reply.headers


async def test_auth_none_serves_requests_without_authorization(
    http: aiohttp.ClientSession,
) -> None:
    async with (
        WSManTestServer(auth=("none",)) as srv,
        http.post(srv.endpoints[0], data=IDENTIFY) as resp,
    ):
        assert resp.status == 200


# -- Get ------------------------------------------------------------------------------


async def test_get_service_by_selector_returns_the_windows_instance_shape(
    http: aiohttp.ClientSession, url: str
) -> None:
    data_reply = await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"})
    assert data_reply.status == 200
    instance = data_reply.find("s:Body/*")
    assert instance is not None
    ns = f"{CIMV2}/Win32_Service"
    assert instance.tag == f"{{{ns}}}Win32_Service"
    assert instance.get(f"{{{NS['xsi']}}}type") == "p:Win32_Service_Type"
    assert instance.findtext(f"{{{ns}}}Name") == "WinRM"
    assert instance.findtext(f"{{{ns}}}State") == "Running"
    assert instance.findtext(f"{{{ns}}}PathName") == (
        r"C:\Windows\system32\svchost.exe -k NetworkService -p"
    )
    nil = instance.find(f"{{{ns}}}InstallDate")
    assert nil is not None and nil.get(f"{{{NS['xsi']}}}nil") == "true"


async def test_get_answer_relates_to_the_request_message_id(
    http: aiohttp.ClientSession, url: str
) -> None:
    data, mid = envelope(GET, SERVICE, selectors={"Name": "Spooler"})
    reply = await post(http, url, data)
    assert reply.text("s:Header/a:RelatesTo") == mid
    assert reply.text("s:Header/a:Action") == f"{GET}Response"


async def test_get_singleton_without_selectors_wraps_datetimes_in_cim_datetime(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, f"{CIMV2}/Win32_OperatingSystem")
    assert reply.status == 200
    ns = f"{{{CIMV2}/Win32_OperatingSystem}}"
    assert reply.text(f"s:Body/*/{ns}CSName") == "HOST0000"
    boot = reply.find(f"s:Body/*/{ns}LastBootUpTime/cim:Datetime")
    assert boot is not None and boot.text is not None and "T" in boot.text


async def test_get_with_a_non_key_selector_is_an_invalid_selectors_fault(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, SERVICE, selectors={"Colour": "blue"})
    assert reply.status == 500
    assert reply.subcode == "w:InvalidSelectors"
    assert reply.wsman_code == "2150858843"
    assert reply.text(
        "s:Body/s:Fault/s:Detail/w:FaultDetail",
    ).endswith("UnexpectedSelectors")
    assert reply.text("s:Body/s:Fault/s:Code/s:Value") == "s:Sender"


async def test_get_of_a_missing_instance_is_a_resource_not_found_fault(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, SERVICE, selectors={"Name": "NoSuchService"})
    assert reply.status == 500
    assert reply.wsman_code == "2150858752"


async def test_get_of_a_multi_instance_class_without_selectors_is_insufficient(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, SERVICE)
    assert reply.subcode == "w:InvalidSelectors"
    assert (reply.text("s:Body/s:Fault/s:Detail/w:FaultDetail") or "").endswith(
        "InsufficientSelectors"
    )


async def test_unknown_resource_uri_is_destination_unreachable(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, f"{CIMV2}/Win32_NoSuchClass")
    assert reply.status == 500
    assert reply.subcode == "w:DestinationUnreachable"


async def test_unknown_must_understand_header_is_refused_with_not_understood(
    http: aiohttp.ClientSession, url: str
) -> None:
    extra = '<z:Frobnicate xmlns:z="urn:example" s:mustUnderstand="true">1</z:Frobnicate>'
    reply = await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"}, extra_headers=extra)
    assert reply.status == 500
    assert reply.text("s:Body/s:Fault/s:Code/s:Value") == "s:MustUnderstand"
    assert reply.subcode is None
    not_understood = reply.find("s:Header/s:NotUnderstood")
    assert not_understood is not None
    prefix, _, local = (not_understood.get("qname") or "").partition(":")
    assert local == "Frobnicate" and not_understood.nsmap[prefix] == "urn:example"


async def test_invalid_operation_timeout_is_an_invalid_header_fault(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"}, timeout="PT-1S")
    assert reply.subcode == "a:InvalidMessageInformationHeader"
    assert reply.wsman_code == "2150858767"


async def test_get_winrm_config_returns_cfg_config(http: aiohttp.ClientSession, url: str) -> None:
    reply = await call(http, url, GET, "http://schemas.microsoft.com/wbem/wsman/1/config")
    assert reply.status == 200
    assert reply.text("s:Body/cfg:Config/cfg:MaxEnvelopeSizekb") == "500"
    assert reply.text("s:Body/cfg:Config/cfg:Service/cfg:MaxConcurrentOperationsPerUser") == (
        "1500"
    )


# -- Enumerate / Pull / Release ------------------------------------------------------------


async def test_enumerate_and_pull_in_batches_return_every_service_once(
    http: aiohttp.ClientSession, url: str, server: WSManTestServer
) -> None:
    items, trips = await enumerate_all(http, url, SERVICE, batch=30)
    names = [i.findtext(f"{{{SERVICE}}}Name") for i in items]
    assert len(names) == 200 and len(set(names)) == 200
    assert trips == 7  # 30 per batch: 1 Enumerate + 6 Pulls
    assert server.host(0).contexts == {}


async def test_optimized_enumerate_that_fits_returns_empty_context_and_end_of_sequence(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http, url, ENUMERATE, f"{CIMV2}/Win32_BIOS", body=enumerate_body(max_elements=10)
    )
    assert reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") is None or (
        reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") == ""
    )
    assert len(children(reply.find("s:Body/n:EnumerateResponse/w:Items"))) == 1
    assert reply.find("s:Body/n:EnumerateResponse/w:EndOfSequence") is not None


async def test_unoptimized_enumerate_returns_only_a_context_then_pull_returns_items(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http, url, ENUMERATE, f"{CIMV2}/Win32_LogicalDisk", body=enumerate_body(optimize=False)
    )
    response = reply.find("s:Body/n:EnumerateResponse")
    assert response is not None and [c.tag.split("}")[1] for c in response] == [
        "EnumerationContext"
    ]
    context = reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
    assert context.startswith("uuid:")
    pulled = await call(http, url, PULL, f"{CIMV2}/Win32_LogicalDisk", body=pull_body(context, 50))
    assert pulled.find("s:Body/n:PullResponse/n:EndOfSequence") is not None
    assert len(children(pulled.find("s:Body/n:PullResponse/n:Items"))) >= 1


async def test_release_is_recorded_and_invalidates_the_context(
    http: aiohttp.ClientSession, url: str, server: WSManTestServer
) -> None:
    reply = await call(http, url, ENUMERATE, SERVICE, body=enumerate_body(max_elements=5))
    context = reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
    body = f"<n:Release><n:EnumerationContext>{context}</n:EnumerationContext></n:Release>"
    released = await call(http, url, RELEASE, SERVICE, body=body)
    assert released.status == 200
    assert server.host(0).stats.releases == [context]
    again = await call(http, url, PULL, SERVICE, body=pull_body(context, 5))
    assert again.status == 500
    assert again.subcode == "n:InvalidEnumerationContext"
    assert again.text("s:Header/a:Action") == (
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault"
    )


async def test_expired_enumeration_context_is_invalid(http: aiohttp.ClientSession) -> None:
    behaviour = HostBehaviour(enumeration_timeout=0.0)
    async with WSManTestServer(behaviours={0: behaviour}) as srv:
        url = srv.endpoints[0]
        reply = await call(http, url, ENUMERATE, SERVICE, body=enumerate_body(max_elements=5))
        context = reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
        pulled = await call(http, url, PULL, SERVICE, body=pull_body(context, 5))
    assert pulled.subcode == "n:InvalidEnumerationContext"
    assert pulled.wsman_code == "2150858779"


async def test_wql_where_filter_selects_matching_instances_only(
    http: aiohttp.ClientSession, url: str
) -> None:
    query = "SELECT * FROM Win32_Service WHERE State = 'Running' AND StartMode = 'Auto'"
    items, _ = await enumerate_all(http, url, f"{CIMV2}/*", filter_xml=wql(query))
    assert items
    for item in items:
        assert item.findtext(f"{{{SERVICE}}}State") == "Running"
        assert item.findtext(f"{{{SERVICE}}}StartMode") == "Auto"


async def test_wql_property_list_returns_xml_fragments_in_no_namespace(
    http: aiohttp.ClientSession, url: str
) -> None:
    query = "SELECT Name, State FROM Win32_Service WHERE Name LIKE 'Win%'"
    items, _ = await enumerate_all(http, url, f"{CIMV2}/*", filter_xml=wql(query))
    assert {i.tag for i in items} == {f"{{{NS['w']}}}XmlFragment"}
    names = sorted(i.findtext("Name") or "" for i in items)
    assert names == ["WinDefend", "WinHttpAutoProxySvc", "WinRM", "Winmgmt"]
    assert [c.tag for c in items[0]] == ["Name", "State"]


async def test_wildcard_uri_without_filter_cannot_be_enumerated(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, ENUMERATE, f"{CIMV2}/*", body=enumerate_body())
    assert reply.subcode == "n:CannotProcessFilter"


async def test_wql_on_an_unknown_class_is_a_provider_fault(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http,
        url,
        ENUMERATE,
        f"{CIMV2}/*",
        body=enumerate_body(filter_xml=wql("select * from Win32_Processa")),
    )
    assert reply.subcode == "n:CannotProcessFilter"
    assert reply.wsman_code == "2150858778"
    inner = reply.find(
        "s:Body/s:Fault/s:Detail/f:WSManFault/f:Message/f:ProviderFault/f:WSManFault/f:Message"
    )
    assert inner is not None and "class does not exist" in (inner.text or "")


async def test_selector_filter_selects_by_property(http: aiohttp.ClientSession, url: str) -> None:
    filt = (
        f'<w:Filter Dialect="{SELECTOR_FILTER}"><w:SelectorSet>'
        '<w:Selector Name="Name">Spooler</w:Selector></w:SelectorSet></w:Filter>'
    )
    items, _ = await enumerate_all(http, url, SERVICE, filter_xml=filt)
    assert [i.findtext(f"{{{SERVICE}}}Name") for i in items] == ["Spooler"]


async def test_association_filter_returns_associated_instances(
    http: aiohttp.ClientSession, url: str
) -> None:
    filt = (
        f'<w:Filter Dialect="{ASSOCIATION_FILTER}"><b:AssociatedInstances><b:Object>'
        "<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>"
        f"<a:ReferenceParameters><w:ResourceURI>{SERVICE}</w:ResourceURI><w:SelectorSet>"
        '<w:Selector Name="Name">WinRM</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        "</b:Object><b:AssociationClassName>Win32_DependentService</b:AssociationClassName>"
        "<b:Role>Dependent</b:Role></b:AssociatedInstances></w:Filter>"
    )
    items, _ = await enumerate_all(http, url, f"{CIMV2}/*", filter_xml=filt)
    assert sorted(i.findtext(f"{{{SERVICE}}}Name") or "" for i in items) == ["HTTP", "RpcSs"]


async def test_association_instances_filter_returns_the_association_objects(
    http: aiohttp.ClientSession, url: str
) -> None:
    filt = (
        f'<w:Filter Dialect="{ASSOCIATION_FILTER}"><b:AssociationInstances><b:Object>'
        f"<a:ReferenceParameters><w:ResourceURI>{SERVICE}</w:ResourceURI><w:SelectorSet>"
        '<w:Selector Name="Name">WinRM</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        "</b:Object><b:ResultClassName>Win32_DependentService</b:ResultClassName>"
        "</b:AssociationInstances></w:Filter>"
    )
    items, _ = await enumerate_all(http, url, f"{CIMV2}/*", filter_xml=filt)
    dep = f"{{{CIMV2}/Win32_DependentService}}"
    antecedents = sorted(
        i.findtext(f"{dep}Antecedent/a:ReferenceParameters/w:SelectorSet/w:Selector", namespaces=NS)
        or ""
        for i in items
    )
    assert antecedents == ["HTTP", "RpcSs"]


async def test_enumerate_epr_mode_returns_endpoint_references(
    http: aiohttp.ClientSession, url: str
) -> None:
    items, _ = await enumerate_all(http, url, f"{CIMV2}/Win32_LogicalDisk", mode="EnumerateEPR")
    first = items[0]
    assert first.tag == f"{{{NS['a']}}}EndpointReference"
    assert first.findtext("a:ReferenceParameters/w:ResourceURI", namespaces=NS) == (
        f"{CIMV2}/Win32_LogicalDisk"
    )
    selector = first.find("a:ReferenceParameters/w:SelectorSet/w:Selector", NS)
    assert selector is not None and selector.get("Name") == "DeviceID"


async def test_enumerate_object_and_epr_mode_wraps_both_in_w_item(
    http: aiohttp.ClientSession, url: str
) -> None:
    items, _ = await enumerate_all(http, url, f"{CIMV2}/Win32_BIOS", mode="EnumerateObjectAndEPR")
    assert len(items) == 1 and items[0].tag == f"{{{NS['w']}}}Item"
    assert [c.tag for c in items[0]] == [
        f"{{{CIMV2}/Win32_BIOS}}Win32_BIOS",
        f"{{{NS['a']}}}EndpointReference",
    ]


async def test_base_class_enumeration_includes_subclass_instances(
    http: aiohttp.ClientSession, url: str
) -> None:
    items, _ = await enumerate_all(http, url, f"{CIMV2}/Win32_BaseService", batch=100)
    tags = {i.tag.rsplit("}", 1)[1] for i in items}
    assert tags == {"Win32_Service", "Win32_SystemDriver"}


async def test_shallow_polymorphism_excludes_subclass_instances(
    http: aiohttp.ClientSession, url: str
) -> None:
    extra = "<b:PolymorphismMode>None</b:PolymorphismMode>"
    items, _ = await enumerate_all(http, url, f"{CIMV2}/Win32_BaseService", extra=extra)
    assert items == []


async def test_response_over_max_envelope_size_is_an_encoding_limit_fault(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http,
        url,
        ENUMERATE,
        f"{CIMV2}/Win32_Process",
        body=enumerate_body(max_elements=5),
        max_envelope=2000,
    )
    assert reply.status == 500
    assert reply.subcode == "w:EncodingLimit"
    assert reply.wsman_code == "2150858824"


async def test_max_envelope_size_caps_the_batch_below_max_elements(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http, url, ENUMERATE, SERVICE, body=enumerate_body(max_elements=200), max_envelope=12000
    )
    assert reply.status == 200
    assert len(reply.body) <= 12000
    assert 1 <= len(children(reply.find("s:Body/n:EnumerateResponse/w:Items"))) < 200


# -- Invoke, Create, Put, Delete ----------------------------------------------------------


async def test_stop_service_changes_state_and_answers_stopservice_output(
    http: aiohttp.ClientSession, url: str
) -> None:
    body = f'<p:StopService_INPUT xmlns:p="{SERVICE}"/>'
    reply = await call(
        http, url, f"{SERVICE}/StopService", SERVICE, selectors={"Name": "Spooler"}, body=body
    )
    assert reply.status == 200
    assert reply.text("s:Header/a:Action") == f"{SERVICE}/StopServiceResponse"
    out = reply.find("s:Body/*")
    assert out is not None and out.tag == f"{{{SERVICE}}}StopService_OUTPUT"
    assert out.findtext(f"{{{SERVICE}}}ReturnValue") == "0"
    after = await call(http, url, GET, SERVICE, selectors={"Name": "Spooler"})
    assert after.text(f"s:Body/*/{{{SERVICE}}}State") == "Stopped"


async def test_stopping_a_stopped_service_returns_5(http: aiohttp.ClientSession, url: str) -> None:
    for expected in ("0", "5"):
        reply = await call(
            http, url, f"{SERVICE}/StopService", SERVICE, selectors={"Name": "Spooler"}
        )
        assert reply.text(f"s:Body/*/{{{SERVICE}}}ReturnValue") == expected


async def test_unknown_method_is_action_not_supported(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, f"{SERVICE}/Frobnicate", SERVICE, selectors={"Name": "WinRM"})
    assert reply.subcode == "a:ActionNotSupported"


async def test_create_put_get_delete_round_trip_on_win32_environment(
    http: aiohttp.ClientSession, url: str
) -> None:
    env = f"{CIMV2}/Win32_Environment"
    instance = (
        f'<p:Win32_Environment xmlns:p="{env}"><p:Name>AIOWSMAN</p:Name>'
        "<p:UserName>&lt;SYSTEM&gt;</p:UserName><p:VariableValue>1</p:VariableValue>"
        "</p:Win32_Environment>"
    )
    created = await call(http, url, CREATE, env, body=instance)
    assert created.status == 200
    selectors = created.findall(
        "s:Body/x:ResourceCreated/a:ReferenceParameters/w:SelectorSet/w:Selector"
    )
    assert {s.get("Name"): s.text for s in selectors} == {
        "Name": "AIOWSMAN",
        "UserName": "<SYSTEM>",
    }
    keys = {"Name": "AIOWSMAN", "UserName": "&lt;SYSTEM&gt;"}
    changed = instance.replace("<p:VariableValue>1<", "<p:VariableValue>2<")
    put = await call(http, url, PUT, env, selectors=keys, body=changed)
    assert put.text(f"s:Body/*/{{{env}}}VariableValue") == "2"
    got = await call(http, url, GET, env, selectors=keys)
    assert got.text(f"s:Body/*/{{{env}}}VariableValue") == "2"
    deleted = await call(http, url, DELETE, env, selectors=keys)
    assert deleted.status == 200
    gone = await call(http, url, GET, env, selectors=keys)
    assert gone.status == 500


async def test_creating_an_existing_instance_is_already_exists(
    http: aiohttp.ClientSession, url: str
) -> None:
    env = f"{CIMV2}/Win32_Environment"
    instance = (
        f'<p:Win32_Environment xmlns:p="{env}"><p:Name>OS</p:Name>'
        "<p:UserName>&lt;SYSTEM&gt;</p:UserName></p:Win32_Environment>"
    )
    reply = await call(http, url, CREATE, env, body=instance)
    assert reply.subcode == "w:AlreadyExists"


# -- hosts, latency, limits -------------------------------------------------------------


async def test_each_host_has_its_own_name_and_port(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    names = []
    for endpoint in server.endpoints:
        reply = await call(http, endpoint, GET, f"{CIMV2}/Win32_ComputerSystem")
        names.append(reply.text(f"s:Body/*/{{{CIMV2}/Win32_ComputerSystem}}Name"))
    assert names == ["HOST0000", "HOST0001"]
    assert len(set(server.endpoints)) == 2


async def test_same_seed_gives_the_same_data_and_another_seed_differs(
    http: aiohttp.ClientSession,
) -> None:
    serials = []
    for seed in (7, 7, 8):
        async with WSManTestServer(seed=seed) as srv:
            reply = await call(http, srv.endpoints[0], GET, f"{CIMV2}/Win32_BIOS")
            serials.append(reply.text(f"s:Body/*/{{{CIMV2}/Win32_BIOS}}SerialNumber"))
    assert serials[0] == serials[1] != serials[2]


async def test_addresses_mode_gives_each_host_its_own_loopback_address(
    http: aiohttp.ClientSession,
) -> None:
    async with WSManTestServer(hosts=3, address_mode="addresses") as srv:
        hosts = {e.split("//")[1].rsplit(":", 1)[0] for e in srv.endpoints}
        ports = {e.rsplit(":", 1)[1] for e in srv.endpoints}
        reply = await call(http, srv.endpoints[2], GET, f"{CIMV2}/Win32_ComputerSystem")
    assert len(hosts) == 3 and len(ports) == 1
    assert all(h.startswith("127.") for h in hosts)
    assert reply.text(f"s:Body/*/{{{CIMV2}/Win32_ComputerSystem}}Name") == "HOST0002"


async def test_latency_beyond_operation_timeout_answers_timed_out(
    http: aiohttp.ClientSession,
) -> None:
    async with WSManTestServer(latency=5.0) as srv:
        reply = await call(
            http, srv.endpoints[0], GET, SERVICE, selectors={"Name": "WinRM"}, timeout="PT0.05S"
        )
    assert reply.status == 500
    assert reply.subcode == "w:TimedOut"
    assert reply.text("s:Body/s:Fault/s:Code/s:Value") == "s:Receiver"
    assert reply.wsman_code == "2150858793"


async def test_concurrency_limit_answers_the_quota_fault(
    http: aiohttp.ClientSession,
) -> None:
    behaviour = HostBehaviour(latency=0.2, max_concurrent_operations=1)
    async with WSManTestServer(behaviours={0: behaviour}) as srv:
        url = srv.endpoints[0]
        replies = await asyncio.gather(
            *(call(http, url, GET, SERVICE, selectors={"Name": "WinRM"}) for _ in range(2))
        )
        assert srv.host(0).stats.max_in_flight == 2
    assert sorted(r.status for r in replies) == [200, 500]
    fault = next(r for r in replies if r.status == 500)
    assert fault.subcode == "w:QuotaLimit"
    code = fault.root.findtext(".//{*}error_Code")
    assert code == "2150859174"


async def test_stats_count_requests_by_action_and_connections(
    http: aiohttp.ClientSession, server: WSManTestServer, url: str
) -> None:
    for _ in range(3):
        await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"})
    stats = server.host(0).stats
    assert stats.requests == 3
    assert stats.by_action[GET] == 3
    assert stats.by_operation["Get"] == 3
    assert stats.connections == 1  # keep-alive: one connection for all three
    assert server.host(1).stats.requests == 0


async def test_non_ascii_descriptions_are_served_as_utf8(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, SERVICE, selectors={"Name": "JpSyncSvc"})
    assert reply.headers["Content-Type"] == "application/soap+xml;charset=UTF-8"
    assert reply.text(f"s:Body/*/{{{SERVICE}}}DisplayName") == JAPANESE


async def test_request_with_a_doctype_is_refused(http: aiohttp.ClientSession, url: str) -> None:
    data, _ = envelope(GET, SERVICE, selectors={"Name": "WinRM"})
    reply = await post(http, url, b"<!DOCTYPE s:Envelope>" + data)
    assert reply.status == 500
    assert reply.subcode == "w:SchemaValidationError"


async def test_changed_host_data_survives_the_memory_budget(
    http: aiohttp.ClientSession,
) -> None:
    async with WSManTestServer(hosts=3, cache_instances=50) as srv:
        first = await call(http, srv.endpoints[2], GET, f"{CIMV2}/Win32_BIOS")
        await call(
            http, srv.endpoints[0], f"{SERVICE}/StopService", SERVICE, selectors={"Name": "Spooler"}
        )
        # Enumerating 200 services on host 1 overflows the 50-instance budget.
        await enumerate_all(http, srv.endpoints[1], SERVICE, batch=100)
        stopped = await call(http, srv.endpoints[0], GET, SERVICE, selectors={"Name": "Spooler"})
        again = await call(http, srv.endpoints[2], GET, f"{CIMV2}/Win32_BIOS")
        assert srv.summary()["requests"] == 6
    assert stopped.text(f"s:Body/*/{{{SERVICE}}}State") == "Stopped"
    bios = f"s:Body/*/{{{CIMV2}/Win32_BIOS}}SerialNumber"
    assert first.text(bios) == again.text(bios)


FRAGMENT = (
    '<w:FragmentTransfer s:mustUnderstand="true" '
    'Dialect="http://www.w3.org/TR/1999/REC-xpath-19991116">{}</w:FragmentTransfer>'
)


async def test_fragment_get_returns_one_property_in_xml_fragment(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http, url, GET, SERVICE, selectors={"Name": "WinRM"}, extra_headers=FRAGMENT.format("State")
    )
    assert reply.status == 200
    fragment = reply.find("s:Body/w:XmlFragment")
    assert fragment is not None
    assert [(c.tag, c.text) for c in fragment] == [(f"{{{SERVICE}}}State", "Running")]


async def test_fragment_get_of_text_returns_the_bare_value(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http,
        url,
        GET,
        SERVICE,
        selectors={"Name": "WinRM"},
        extra_headers=FRAGMENT.format("StartMode/text()"),
    )
    assert reply.text("s:Body/w:XmlFragment") == "Auto"


async def test_fragment_path_naming_no_property_is_invalid(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(
        http, url, GET, SERVICE, selectors={"Name": "WinRM"}, extra_headers=FRAGMENT.format("state")
    )
    assert reply.status == 500
    assert reply.wsman_code == "2150858899"


async def test_fragment_put_changes_one_property(http: aiohttp.ClientSession, url: str) -> None:
    env = f"{CIMV2}/Win32_Environment"
    keys = {"Name": "OS", "UserName": "&lt;SYSTEM&gt;"}
    body = (
        f'<w:XmlFragment><p:VariableValue xmlns:p="{env}">Plan9</p:VariableValue></w:XmlFragment>'
    )
    put = await call(
        http,
        url,
        PUT,
        env,
        selectors=keys,
        body=body,
        extra_headers=FRAGMENT.format("VariableValue"),
    )
    assert put.status == 200
    got = await call(http, url, GET, env, selectors=keys)
    assert got.text(f"s:Body/*/{{{env}}}VariableValue") == "Plan9"


async def test_prewarm_generates_data_ahead_and_rejects_unknown_classes() -> None:
    async with WSManTestServer(hosts=2) as srv:
        srv.prewarm(["win32_bios", "Win32_LogicalDisk"])
        with pytest.raises(KeyError):
            srv.prewarm(["Win32_Nothing"])
        assert srv.host(1).stats.requests == 0
        assert srv._cache.total >= 4  # 2 hosts x (1 BIOS + at least 1 disk)


async def test_empty_authenticated_post_is_answered_200_without_soap(
    http: aiohttp.ClientSession, url: str, server: WSManTestServer
) -> None:
    reply = await post(http, url, b"")
    assert (reply.status, reply.body) == (200, b"")
    assert server.host(0).stats.requests == 0


async def test_utf16_request_gets_a_utf16_answer(http: aiohttp.ClientSession, url: str) -> None:
    data, mid = envelope(GET, SERVICE, selectors={"Name": "JpSyncSvc"})
    reply = await post(
        http,
        url,
        data.decode().encode("utf-16"),
        headers={"Content-Type": "application/soap+xml;charset=UTF-16"},
    )
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/soap+xml;charset=UTF-16"
    assert reply.body[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert reply.text("s:Header/a:RelatesTo") == mid
    assert reply.text(f"s:Body/*/{{{SERVICE}}}DisplayName") == JAPANESE


async def test_behaviour_can_force_utf16_answers(http: aiohttp.ClientSession) -> None:
    async with WSManTestServer(behaviours={0: HostBehaviour(response_encoding="utf-16")}) as srv:
        reply = await post(http, srv.endpoints[0], IDENTIFY)
    assert reply.body.decode("utf-16").startswith("<s:Envelope")


async def test_get_through_a_base_class_finds_the_subclass_instance(
    http: aiohttp.ClientSession, url: str
) -> None:
    reply = await call(http, url, GET, f"{CIMV2}/Win32_BaseService", selectors={"Name": "winrm"})
    assert reply.status == 200
    assert reply.text(f"s:Body/*/{{{SERVICE}}}Name") == "WinRM"


async def test_a_challenge_without_credentials_is_not_an_auth_failure(
    http: aiohttp.ClientSession, url: str, server: WSManTestServer
) -> None:
    async with http.post(url, data=IDENTIFY) as resp:
        assert resp.status == 401
    assert server.host(0).stats.auth_failures == 0


async def test_a_busy_port_fails_the_start_with_the_address_named() -> None:
    async with WSManTestServer() as first:
        port = int(first.endpoints[0].rsplit(":", 1)[1].split("/")[0])
        second = WSManTestServer(port=port)
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            await second.start()
