"""Every response of the real-server corpus parses into the right content.

The corpus (tests/corpus, see its README) holds messages from Windows WinRM,
OMI, iDRAC and AMT. Each response is parsed with the parser for its
operation (MANIFEST.tsv ``operation``/``direction``) and checked against
facts read from the XML by hand; each of the 18 faults becomes the right
WSManFault subclass with the fields its shape carries.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aiowsman.errors import (
    OperationTimedOutFault,
    ProtocolError,
    ShellQuotaExceededFault,
    WSManFault,
)
from aiowsman.protocol import (
    CreateResult,
    EndpointReference,
    EnumerationBatch,
    Envelope,
    IdentifyResponse,
    Item,
    Request,
    check_response,
    parse_create,
    parse_delete,
    parse_enumeration,
    parse_envelope,
    parse_get,
    parse_identify,
    parse_invoke,
    parse_put,
    parse_xml,
)

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
RESPONSES = [row for row in MANIFEST if row["direction"] == "response"]
FAULTS = [row for row in RESPONSES if "fault" in row["operation"]]
RESULTS = [row for row in RESPONSES if "fault" not in row["operation"]]
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
SHELL_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
PS_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
CMD_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"


def _load(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _parse_for(operation: str, env: Envelope) -> Any:
    verb = operation.split(" ", 1)[0]
    if verb == "Identify":
        return parse_identify(env)
    if verb in ("Enumerate", "Pull"):
        return parse_enumeration(env)
    if verb == "Get":
        return parse_get(env)
    if verb == "Put":
        return parse_put(env)
    if verb == "Create":
        return parse_create(env)
    if verb in ("Delete", "Disconnect", "Reconnect"):
        assert env.first_body_element() is None  # DSP0226 7.6: empty body
        return parse_delete(env)
    # Invoke, and WinRS custom actions (Command, Receive, Send, Signal, Connect).
    return parse_invoke(env)


# -- expectations for successful responses ------------------------------------


def _shell_created(
    shell_id: str, uri: str = SHELL_CMD, with_item: bool = True
) -> Callable[..., None]:
    def check(result: CreateResult) -> None:
        assert result.reference.resource_uri == uri
        assert result.reference.selectors["ShellId"] == shell_id
        assert (result.item is not None) is with_item
        if result.item is not None:
            assert result.item.name == "Shell"
            assert result.item["ShellId"] == shell_id

    return check


def _receive(exit_code: str | None, streams: int, state: str = CMD_DONE) -> Callable[..., None]:
    def check(item: Item) -> None:
        assert item.name == "ReceiveResponse"
        stream_els = item.element.findall("{*}Stream")
        assert len(stream_els) == streams
        state_el = item.element.find("{*}CommandState")
        assert state_el is not None and state_el.get("State") == state
        if exit_code is None:
            assert "ExitCode" not in (item.get("CommandState") or {})
        else:
            assert item["CommandState"] == {"ExitCode": exit_code}

    return check


def _named(name: str, **props: Any) -> Callable[..., None]:
    def check(item: Item | None) -> None:
        assert item is not None
        assert item.name == name
        for key, value in props.items():
            assert item[key] == value, key

    return check


def _empty(result: None) -> None:
    assert result is None


def _batch(
    count: int, context: str | None, eos: bool, first: dict[str, Any] | None = None
) -> Callable[..., None]:
    def check(batch: EnumerationBatch) -> None:
        assert len(batch.items) == count
        assert batch.context == context
        assert batch.end_of_sequence is eos
        if first:
            item = batch.items[0]
            assert isinstance(item, Item)
            for key, value in first.items():
                assert item[key] == value, key

    return check


def _identify(version: str) -> Callable[..., None]:
    def check(result: IdentifyResponse) -> None:
        assert result.protocol_version == "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
        assert result.product_vendor == "Microsoft Corporation"
        assert result.product_version == version

    return check


def _check_object_and_epr(batch: EnumerationBatch) -> None:
    assert batch.context == "NNNN" and batch.end_of_sequence
    (item,) = batch.items
    assert isinstance(item, Item) and item.name == "OMI_Identify"
    assert item["ProductName"] == "OMI"
    assert len(item["ConfigNameSpaces"]) == 12
    assert item.epr == EndpointReference(
        ANONYMOUS,
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Identify",
        {"InstanceID": "2FDB5542-5896-45D5-9BE9-DC04430AAABE"},
    )


def _check_omi_datetimes(batch: EnumerationBatch) -> None:
    (item,) = batch.items
    assert isinstance(item, Item)
    # OMI sends CIM datetimes and intervals as plain text (no cim:Datetime
    # wrapper): an xs:duration is an interval; "2001-25-00" (the test
    # provider's placeholder) is no datetime and stays text.
    interval = timedelta(days=365, hours=24, minutes=60)
    assert item["Key"] is None
    assert item["interval"] == interval
    assert item["timestamps"] == ["2001-25-00", "2001-25-00"]
    assert item["mixed"] == ["2001-25-00", interval]


def _check_pull_datetime(batch: EnumerationBatch) -> None:
    assert batch.end_of_sequence and batch.context is None
    (item,) = batch.items
    assert isinstance(item, Item)
    tz = timezone(-timedelta(hours=7))
    assert item["CreationDate"] == datetime(2013, 4, 29, 13, 9, 6, 102138, tzinfo=tz)
    assert item["ExecutionState"] is None
    assert item["Name"] == "conhost.exe"


def _check_drac_cpu(batch: EnumerationBatch) -> None:
    (item,) = batch.items
    assert isinstance(item, Item)
    assert item["CPUFamily"] == "B3"
    # iDRAC's raw DMTF datetimes become datetimes.
    assert item["LastUpdateTime"] == datetime(2015, 11, 12, 17, 26, 1, tzinfo=UTC)


def _check_job_epr(item: Item) -> None:
    assert item["ReturnValue"] == "4096"
    job = item["Job"]
    assert isinstance(job, EndpointReference)
    assert job.resource_uri == "http://schemas.dell.com/wbem/wscim/1/cim-schema/2/DCIM_LifecycleJob"
    assert dict(job.selectors) == {"InstanceID": "JID_442507917525", "__cimnamespace": "root/dcim"}


def _check_amt_cert_epr(item: Item) -> None:
    cert = item["CreatedCertificate"]
    assert isinstance(cert, EndpointReference)
    assert cert.selectors["InstanceID"] == "Intel(r) AMT Certificate: Handle: 1"
    assert item["ReturnValue"] == "0"


def _check_bios_datetime(item: Item) -> None:
    assert item["ReleaseDate"] == datetime(2020, 8, 10, tzinfo=UTC)
    assert item["PrimaryBIOS"] == "true"


def _check_enumkey(item: Item) -> None:
    assert item.name == "EnumKey_OUTPUT"
    assert item["sNames"][:2] == ["AddressBook", "Branding"]
    assert len(item["sNames"]) == 26
    assert item["ReturnValue"] == "0"


def _check_shells_enumerated(batch: EnumerationBatch) -> None:
    assert batch.end_of_sequence and batch.context is None
    ids = [i["ShellId"] for i in batch.items if isinstance(i, Item)]
    assert ids == ["B6631D8E-65A0-49F2-9053-A1B156C95777", "01AA3E43-9E21-424B-A7FC-BC16AA34F4CE"]


EXPECT: dict[str, Callable[..., None]] = {
    "pypsrp-shell-create-response-cmd.xml": _shell_created("4283CBDC-3706-415B-88BD-B385F3E51A53"),
    "pypsrp-shell-create-response-environment.xml": _shell_created(
        "58B89A37-84F9-4874-8999-AA7578B34ABE"
    ),
    "pypsrp-shell-create-response-extra-opts.xml": _shell_created(
        "CBA3E536-A3A2-4B88-9ED3-4919930E15C2"
    ),
    "pypsrp-psrp-create-response-full-shell.xml": _shell_created(
        "76056A84-51DC-4F24-9262-CA2A55464B2B", PS_URI
    ),
    "pypsrp-psrp-create-response-resourcecreated-only.xml": _shell_created(
        "C8CD7685-F0A0-4B79-8F82-B8B37462667A", PS_URI, with_item=False
    ),
    "pywinrm-shell-create-response-activityid.xml": _shell_created(
        "4C7F3BB5-B508-4F20-9B6E-C8980CFCADCA"
    ),
    "gowinrm-shell-create-response-reindented.xml": _shell_created(
        "67A74734-DD32-4F10-89DE-49A060483810"
    ),
    "winrb-shell-create-response-winrm-v1.xml": _shell_created(
        "uuid:739990FF-1492-4CDD-80BB-6E07ADB06D85", with_item=False
    ),
    "winrb-shell-create-response-winrm-v2.xml": _shell_created(
        "62DE33F0-8674-43D9-B6A5-3298012CC4CD", with_item=False
    ),
    "winrb-omi-shell-create-response.xml": _shell_created(
        "74142DC5-E14D-4FCC-86ED-63DA3EE8407E", PS_URI, with_item=False
    ),
    "pypsrp-shell-command-response.xml": _named(
        "CommandResponse", CommandId="CF84C20A-0A35-43FA-AF78-0B4711DA5F30"
    ),
    "pypsrp-shell-receive-response-done.xml": _receive("0", 3),
    "pypsrp-shell-receive-response-stderr-exitcode1.xml": _receive("1", 4),
    "pypsrp-shell-receive-response-unicode.xml": _receive("0", 4),
    "pypsrp-shell-receive-response-running.xml": _receive(
        None, 2, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
    ),
    "pypsrp-psrp-signal-response.xml": _named("SignalResponse"),
    "pypsrp-shell-signal-response.xml": _named("SignalResponse"),
    "pypsrp-shell-send-response.xml": _named("SendResponse"),
    "pypsrp-psrp-receive-response-runspace.xml": _named("ReceiveResponse"),
    "pypsrp-psrp-receive-response-pipeline-done.xml": _named(
        "ReceiveResponse", CommandState={"ExitCode": "0"}
    ),
    "pypsrp-psrp-receive-response-empty.xml": _named("ReceiveResponse"),
    "pypsrp-psrp-receive-response-large.xml": _named("ReceiveResponse"),
    "winrb-omi-shell-receive-response-done.xml": _named("ReceiveResponse"),
    "pypsrp-shell-connect-response-connectxml.xml": _named(
        "ConnectResponse", InputStreams="stdin pr", OutputStreams="stdout"
    ),
    "pypsrp-shell-connect-response-command.xml": _named("ConnectResponse"),
    "pypsrp-shell-delete-response.xml": _empty,
    "pypsrp-shell-disconnect-response.xml": _empty,
    "pypsrp-shell-reconnect-response.xml": _empty,
    "amt-delete-response-certificate.xml": _empty,
    "pypsrp-get-response-shell-connected.xml": _named(
        "Shell", ShellId="12FC74F8-639A-45D8-88FF-3E494804563A", State="Connected"
    ),
    "pypsrp-get-response-shell-disconnected.xml": _named(
        "Shell", ShellId="12FC74F8-639A-45D8-88FF-3E494804563A", State="Disconnected"
    ),
    "pypsrp-get-response-config.xml": _named("Config", MaxEnvelopeSizekb="150"),
    "amt-get-response-general-settings.xml": _named(
        "AMT_GeneralSettings", HostName="Test Host Name", DDNSTTL="900"
    ),
    "amt-get-response-cim-bios-datetime.xml": _check_bios_datetime,
    "amt-put-response-ethernet-port.xml": _named(
        "AMT_EthernetPortSettings", LinkPolicy=["1", "14", "16"], DHCPEnabled="true"
    ),
    "pypsrp-enumerate-response-shells-optimized.xml": _check_shells_enumerated,
    "pypsrp-enumerate-response-empty-endofsequence.xml": _batch(0, None, True),
    "winrb-enumerate-response-win32-process.xml": _batch(
        2,
        "uuid:12AE5286-91FE-48F3-937E-0C22FF1AD7A1",
        False,
        {"Name": "System Idle Process", "CommandLine": None},
    ),
    "winrb-pull-response-win32-process-datetime.xml": _check_pull_datetime,
    "omi-enumerate-response-object-and-epr.xml": _check_object_and_epr,
    "omi-enumerate-response-datetime-arrays.xml": _check_omi_datetimes,
    "dracclient-enumerate-response-bios-enumeration.xml": _batch(
        66, None, True, {"AttributeName": "MemTest"}
    ),
    "dracclient-enumerate-response-cpu-view-datetime.xml": _check_drac_cpu,
    "dracclient-enumerate-response-empty.xml": _batch(0, None, True),
    "amt-enumerate-response-context-only.xml": _batch(
        0, "E2020000-0000-0000-0000-000000000000", False
    ),
    "amt-pull-response-software-identity.xml": _batch(
        11, None, True, {"InstanceID": "Flash", "VersionString": "12.0.67"}
    ),
    "winrb-invoke-response-cim-datafile-delete.xml": _named("Delete_OUTPUT", ReturnValue="0"),
    "openwsman-invoke-response-stdregprov-enumkey.xml": _check_enumkey,
    "omi-invoke-response-action-without-response-suffix.xml": _named(
        "GetBoolValue_OUTPUT", ReturnValue="0", boolVal="FALSE"
    ),
    "dracclient-invoke-response-job-epr.xml": _check_job_epr,
    "dracclient-invoke-response-method-error.xml": _named(
        "SetAttributes_OUTPUT", ReturnValue="2", MessageID="BIOS014"
    ),
    "dracclient-invoke-response-padded-headers.xml": _named(
        "iDRACReset_OUTPUT", ReturnValue="2", MessageID="RAC004"
    ),
    "amt-invoke-response-request-power-state-change.xml": _named(
        "RequestPowerStateChange_OUTPUT", ReturnValue="0"
    ),
    "amt-invoke-response-add-certificate-epr.xml": _check_amt_cert_epr,
    "amt-invoke-response-auditlog-readrecords.xml": _named(
        "ReadRecords_OUTPUT", TotalRecordCount="2", RecordsReturned="2"
    ),
    "knifewin-identify-response-stack2.xml": _identify("OS: 0.0.0 SP: 0.0 Stack: 2.0"),
    "knifewin-identify-response-stack3.xml": _identify("OS: 0.0.0 SP: 0.0 Stack: 3.0"),
}

#: A bare IdentifyResponse element, not an envelope (corpus README).
FRAGMENT = "omi-identify-response-fragment-win2008.xml"


def test_corpus_has_the_files_the_readme_counts() -> None:
    assert len(MANIFEST) == 105
    assert len(RESPONSES) == 76
    assert len(FAULTS) == 18


def test_every_response_has_an_expectation() -> None:
    covered = set(EXPECT) | set(FAULT_EXPECT) | {FRAGMENT}
    assert covered == {row["file"] for row in RESPONSES}


@pytest.mark.parametrize(
    "row", [r for r in RESULTS if r["file"] != FRAGMENT], ids=lambda r: r["file"]
)
def test_response_parses_to_its_content(row: dict[str, str]) -> None:
    env = parse_envelope(_load(row["file"]))
    # Identify has no RelatesTo (DSP0226 11); others answer our MessageID.
    check_response(env, Request("x", "", env.relates_to or "", b""), 200)
    EXPECT[row["file"]](_parse_for(row["operation"], env))


def test_bare_identify_fragment_is_not_an_envelope_but_its_element_parses() -> None:
    data = _load(FRAGMENT)
    with pytest.raises(ProtocolError, match="not a SOAP"):
        parse_envelope(data)
    result = IdentifyResponse.from_element(parse_xml(data))
    assert result.product_version == "OS: 6.0.6002 SP: 2.0 Stack: 2.0"
    assert result.product_vendor == "Microsoft Corporation"


# -- faults -------------------------------------------------------------------

WSMAN_FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ADDRESSING_FAULT_ACTION = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
ENUM_FAULT_ACTION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault"
TIMEOUT_TEXT = (
    "The WS-Management service cannot complete the operation within the time specified in "
    "OperationTimeout."
)
SHELL_PLUGIN = "%systemroot%\\system32\\winrscmd.dll"

FAULT_EXPECT: dict[str, tuple[type[WSManFault], dict[str, Any]]] = {
    # w:FaultDetail-less WSManFault with text Message
    "pypsrp-fault-timedout-receive.xml": (
        OperationTimedOutFault,
        dict(
            code="Receiver",
            subcode="TimedOut",
            wsman_code=2150858793,
            machine="192.168.56.11",
            wsman_message=TIMEOUT_TEXT,
            reason=TIMEOUT_TEXT,
            action=WSMAN_FAULT_ACTION,
        ),
    ),
    "pypsrp-fault-timedout-activityid.xml": (
        OperationTimedOutFault,
        dict(subcode="TimedOut", wsman_code=2150858793, machine="127.0.0.1"),
    ),
    # w:FaultDetail + WSManFault
    "pypsrp-fault-invalidselectors-bad-commandid.xml": (
        WSManFault,
        dict(
            code="Sender",
            subcode="InvalidSelectors",
            detail_text="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
            wsman_code=2150858843,
            machine="192.168.56.15",
        ),
    ),
    # FaultDetail + ProviderFault text
    "pypsrp-fault-invalidparameter-providerfault.xml": (
        WSManFault,
        dict(
            subcode="InvalidParameter",
            detail_text="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue",
            wsman_code=87,
            provider="Shell cmd plugin",
            provider_path=SHELL_PLUGIN,
            provider_message="The parameter is incorrect.",
        ),
    ),
    "pypsrp-fault-internalerror-file-not-found.xml": (
        WSManFault,
        dict(
            code="Receiver",
            subcode="InternalError",
            wsman_code=2147942402,
            machine="server2008r2.domain.local",
            provider="Shell cmd plugin",
            provider_message="The system cannot find the file specified.",
        ),
    ),
    "gowinrm-fault-internalerror-filename-too-long.xml": (
        WSManFault,
        dict(
            subcode="InternalError",
            wsman_code=2147942606,
            machine="52.12.219.136",
            provider_path=SHELL_PLUGIN,
            provider_message="The filename or extension is too long.",
            reason="The filename or extension is too long.",
        ),
    ),
    # ProviderFault with a nested WSManFault
    "pypsrp-fault-invalidselectors-nested-providerfault.xml": (
        WSManFault,
        dict(
            subcode="InvalidSelectors",
            provider="Shell provider",
            provider_message=(
                "The WS-Management service cannot process the request because the request "
                "contained invalid selectors for the resource."
            ),
        ),
    ),
    "pypsrp-fault-config-provider-nested.xml": (
        WSManFault,
        dict(
            subcode="SchemaValidationError",
            wsman_code=2150859113,
            machine="localhost",
            provider="Config provider",
        ),
    ),
    "pypsrp-fault-schemavalidation.xml": (
        WSManFault,
        dict(code="Sender", subcode="SchemaValidationError", wsman_code=2150858817),
    ),
    # addressing faults (a: subcode), one without RelatesTo
    "pypsrp-fault-invalidmessageinformationheader.xml": (
        WSManFault,
        dict(
            subcode="InvalidMessageInformationHeader",
            subcode_namespace="http://schemas.xmlsoap.org/ws/2004/08/addressing",
            wsman_code=2150858767,
            action=ADDRESSING_FAULT_ACTION,
        ),
    ),
    "pywinrm-fault-invalid-body-no-relatesto.xml": (
        WSManFault,
        dict(
            subcode="InvalidMessageInformationHeader",
            machine="windows-host",
            relates_to=None,
        ),
    ),
    # s:MustUnderstand without Subcode; and a fault with no Reason
    "pypsrp-fault-mustunderstand-notunderstood.xml": (
        WSManFault,
        dict(code="MustUnderstand", subcode=None, wsman_code=None, detail_text=None),
    ),
    "pypsrp-fault-no-reason.xml": (
        WSManFault,
        dict(code="Unknown", subcode=None, reason=None),
    ),
    # enumeration faults (n: subcode), with ExtendedError/__ExtendedStatus
    "winrb-fault-cannotprocessfilter-winrm-v1.xml": (
        WSManFault,
        dict(
            subcode="CannotProcessFilter",
            subcode_namespace="http://schemas.xmlsoap.org/ws/2004/09/enumeration",
            machine="",
            provider="WMIv1 plugin for Windows Remote Management",
            provider_message="The specified class does not exist in the given namespace.",
            action=ENUM_FAULT_ACTION,
        ),
    ),
    "winrb-fault-cannotprocessfilter-extendederror.xml": (
        WSManFault,
        dict(
            subcode="CannotProcessFilter",
            wsman_code=2150858778,
            machine="localhost",
            provider="WMI Provider",
            provider_path="%systemroot%\\system32\\WsmWmiPl.dll",
            provider_message="The specified class does not exist in the given namespace.",
            # The structured ExtendedError is not part of the message text.
            wsman_message="The specified class does not exist in the given namespace.",
            wmi_error={
                "Description": None,
                "Operation": "ExecQuery",
                "ParameterInfo": 'Select * from Win32_Processa where name="sshd.exe"',
                "ProviderName": "WinMgmt",
                "StatusCode": None,
            },
        ),
    ),
    # MSFT_WmiError instead of WSManFault, no RelatesTo
    # ERROR_WSMAN_QUOTA_MAX_SHELLS: the MaxShellsPerUser quota (a QuotaExceededFault).
    "winrb-fault-quotalimit-msft-wmierror.xml": (
        ShellQuotaExceededFault,
        dict(subcode="QuotaLimit", wsman_code=2150859173, relates_to=None),
    ),
    # OMI: no Detail at all, padded values
    "winrb-omi-fault-internalerror.xml": (
        WSManFault,
        dict(
            code="Receiver",
            subcode="InternalError",
            reason="get-instance: instance name parameter is missing",
            wsman_code=None,
        ),
    ),
    "winrb-omi-fault-internalerror-padded.xml": (
        WSManFault,
        dict(
            code="Receiver",
            subcode="InternalError",
            reason="get-instance: instance name parameter is missing",
            relates_to="uuid:01022086-C0D6-45DA-85F2-21FA2B476FCA",
            action=WSMAN_FAULT_ACTION,
        ),
    ),
}


@pytest.mark.parametrize("row", FAULTS, ids=lambda r: r["file"])
def test_fault_becomes_the_right_wsmanfault(row: dict[str, str]) -> None:
    data = _load(row["file"])
    env = parse_envelope(data)
    cls, fields = FAULT_EXPECT[row["file"]]
    request = Request("x", "", env.relates_to or "uuid:ANY", b"")
    with pytest.raises(WSManFault) as info:
        check_response(env, request, 500)
    err = info.value
    assert type(err) is cls
    assert err.http_status == 500
    assert err.raw_xml == data
    for name, value in fields.items():
        assert getattr(err.fault, name) == value, name
    assert err.fault.code  # every fault names its SOAP code


def test_quota_fault_keeps_the_msft_wmierror_instance() -> None:
    env = parse_envelope(_load("winrb-fault-quotalimit-msft-wmierror.xml"))
    fault = env.fault
    assert fault is not None
    assert fault.wmi_error["MessageID"] == "HRESULT 0x803381a5"
    assert fault.wmi_error["CIMStatusCode"] == "27"
    assert fault.wmi_error["ErrorSource"] is None
    assert fault.wsman_message is not None and "30 concurrent shells" in fault.wsman_message


def test_fault_message_flattens_nested_provider_fault() -> None:
    env = parse_envelope(_load("pypsrp-fault-config-provider-nested.xml"))
    assert env.fault is not None
    assert env.fault.wsman_message is not None
    assert env.fault.wsman_message.startswith("WinRM firewall exception will not work")
    assert env.fault.machine == "localhost"  # the outer WSManFault, not the nested one


def test_parsers_raise_the_fault_when_given_a_fault_envelope() -> None:
    env = parse_envelope(_load("pypsrp-fault-timedout-receive.xml"))
    with pytest.raises(OperationTimedOutFault):
        parse_enumeration(env)
    with pytest.raises(OperationTimedOutFault):
        parse_get(env)
