"""The CIM_Error instance of a fault (DSP0227) is read into the WSManFault.

Windows sends MSFT_WmiError (corpus winrb-fault-quotalimit-msft-wmierror.xml);
OMI sends OMI_Error, marked ``wsmb:IsCIM_Error="true"`` -- the shape of OMI's
``Unix/wsman/wsbuf.c`` (``WSBuf_CreateFaultResponsePage``), rebuilt here with
its real header and fault framing (corpus winrb-omi-fault-internalerror.xml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aiowsman.errors import WSManFault
from aiowsman.fanout import classify_error
from aiowsman.protocol import Request, check_response, parse_envelope

CORPUS = Path(__file__).parent / "corpus"
MID = "uuid:AC61AF91-4AA9-428E-9294-670B4C5752A8"


def omi_fault(detail_class: str = "OMI_Error", code: int = 6) -> bytes:
    """An OMI fault envelope: NOT_FOUND (6) maps to wsa:DestinationUnreachable."""
    return f"""<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" \
xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
<SOAP-ENV:Header>
<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
<wsa:Action>http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</wsa:Action>
<wsa:MessageID>uuid:F803101F-76B9-0005-0000-000000010000</wsa:MessageID>
<wsa:RelatesTo>{MID}</wsa:RelatesTo>
</SOAP-ENV:Header>

<SOAP-ENV:Body>
<SOAP-ENV:Fault>
<SOAP-ENV:Code>
<SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
<SOAP-ENV:Subcode>
<SOAP-ENV:Value>wsa:DestinationUnreachable</SOAP-ENV:Value>
</SOAP-ENV:Subcode>
</SOAP-ENV:Code>
<SOAP-ENV:Reason>
<SOAP-ENV:Text xml:lang="en-US">CIM ERROR:NOT_FOUND: The requested object cannot be found.\
</SOAP-ENV:Text>
</SOAP-ENV:Reason>
<SOAP-ENV:Detail>
<p:{detail_class} wsmb:IsCIM_Error="true" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xmlns:wsmb="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" \
xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Error" \
xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common">\
<p:CIMStatusCode xsi:type="cim:cimUnsignedInt">{code}</p:CIMStatusCode>
<p:Message xsi:type="cim:cimString">The requested object cannot be found.</p:Message>
<p:MessageArguments xsi:type="cim:cimString"></p:MessageArguments>\
<p:MessageID xsi:type="cim:cimString">OMI:MI_Result:{code}</p:MessageID>
<p:OMI_Category xsi:type="cim:cimUnsignedInt">13</p:OMI_Category>
<p:OMI_Code xsi:type="cim:cimUnsignedInt">{code}</p:OMI_Code>
<p:OMI_ErrorMessage xsi:type="cim:cimString">The requested object cannot be found.\
</p:OMI_ErrorMessage>
<p:OMI_Type xsi:type="cim:cimString">MI</p:OMI_Type>\
<p:OwningEntity xsi:type="cim:cimString">OMI:CIMOM</p:OwningEntity>\
<p:PerceivedSeverity xsi:type="cim:cimUnsignedInt">7</p:PerceivedSeverity>\
<p:ProbableCause xsi:type="cim:cimUnsignedInt">0</p:ProbableCause>\
<p:ProbableCauseDescription xsi:type="cim:cimString">Unknown</p:ProbableCauseDescription>\
</p:{detail_class}>
</SOAP-ENV:Detail>
</SOAP-ENV:Fault>
</SOAP-ENV:Body>
</SOAP-ENV:Envelope>
""".encode()


def raised(data: bytes) -> WSManFault:
    with pytest.raises(WSManFault) as info:
        check_response(parse_envelope(data), Request("Get", "x", MID, b""), 500)
    return info.value


def test_omi_error_detail_is_read_into_the_fault() -> None:
    fault = raised(omi_fault())
    detail = fault.fault
    assert fault.subcode == "DestinationUnreachable"
    assert detail.cim_error_class == "OMI_Error"
    assert detail.cim_status_code == 6
    assert detail.message_id == "OMI:MI_Result:6"
    assert detail.wsman_code == 6
    assert detail.wsman_message == "The requested object cannot be found."
    assert detail.wmi_error["OwningEntity"] == "OMI:CIMOM"
    assert "The requested object cannot be found." in str(fault)


def test_a_providers_own_cim_error_class_is_found_by_its_marker() -> None:
    detail = raised(omi_fault("Contoso_Error", code=4)).fault
    assert detail.cim_error_class == "Contoso_Error"
    assert detail.cim_status_code == 4
    assert detail.message_id == "OMI:MI_Result:4"


def test_the_fan_out_classifies_an_omi_fault_by_its_code() -> None:
    assert classify_error(raised(omi_fault())) == ("fault", 6)


def test_msft_wmi_error_still_gives_its_windows_code() -> None:
    data = (CORPUS / "winrb-fault-quotalimit-msft-wmierror.xml").read_bytes()
    detail = raised(data).fault
    assert detail.cim_error_class == "MSFT_WmiError"
    assert detail.cim_status_code == 27
    assert detail.wsman_code == 2150859173
    assert detail.message_id is not None


def test_omi_fault_without_detail_has_no_cim_error() -> None:
    data = (CORPUS / "winrb-omi-fault-internalerror.xml").read_bytes()
    with pytest.raises(WSManFault) as info:
        check_response(parse_envelope(data), Request("Get", "x", "", b""), 500)
    detail = info.value.fault
    assert detail.cim_error_class is None and detail.cim_status_code is None
    assert detail.wmi_error == {}
