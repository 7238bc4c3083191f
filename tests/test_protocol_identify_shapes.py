"""Identify answers in every shape real services send (DSP0226 11).

Windows, openwsman, iDRAC and AMT answer ``wsmid:IdentifyResponse``. OMI
writes the element in the SOAP envelope namespace with ``wsmid:`` children,
plus ``wsmb:Capability_FaultIncludesCIMError`` (the shape of OMI's
``Unix/wsman/wsman.c``, ``_SendIdentifyResponse``, rebuilt here: the corpus
has no capture of it).
"""

from __future__ import annotations

import pytest

from aiowsman.errors import ProtocolError
from aiowsman.protocol import IdentifyResponse, parse_envelope, parse_identify

OMI_IDENTIFY = b"""<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" \
xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">
<soap:Header/>
<soap:Body>
<soap:IdentifyResponse>
<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>
<wsmid:ProductVendor>Open Management Infrastructure</wsmid:ProductVendor>
<wsmid:ProductVersion>1.6.8-0</wsmid:ProductVersion>
<wsmid:SecurityProfiles>
<wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic\
</wsmid:SecurityProfileName>
</wsmid:SecurityProfiles>
<wsmb:Capability_FaultIncludesCIMError \
xmlns:wsmb="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xml"/>
</soap:IdentifyResponse>
</soap:Body>
</soap:Envelope>
"""

WINDOWS_IDENTIFY = b"""<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope">\
<s:Header/><s:Body><wsmid:IdentifyResponse \
xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">\
<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>\
<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>\
<wsmid:ProductVersion>OS: 10.0.20348 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>\
</wsmid:IdentifyResponse></s:Body></s:Envelope>"""


def test_identify_response_in_the_soap_namespace_is_read_like_wsmid() -> None:
    identity = parse_identify(parse_envelope(OMI_IDENTIFY))
    assert identity.protocol_version == "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
    assert identity.product_vendor == "Open Management Infrastructure"
    assert identity.product_version == "1.6.8-0"
    assert identity.security_profiles == (
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic",
    )
    assert identity.extra == {"Capability_FaultIncludesCIMError": ""}
    assert identity.soap_namespaced


def test_omi_is_recognised_by_its_identify_shape_whatever_the_vendor() -> None:
    renamed = OMI_IDENTIFY.replace(b"Open Management Infrastructure", b"Contoso CIM server")
    assert parse_identify(parse_envelope(renamed)).is_omi


@pytest.mark.parametrize(
    ("vendor", "omi"),
    [
        ("Open Management Infrastructure", True),
        ("Microsoft (OMI)", True),
        ("Microsoft Corporation", False),
        ("Openwsman Project", False),
        ("Intel(r) AMT", False),
    ],
)
def test_omi_is_recognised_by_its_vendor(vendor: str, omi: bool) -> None:
    assert IdentifyResponse("v", vendor, "1").is_omi is omi


def test_windows_identify_is_not_omi() -> None:
    identity = parse_identify(parse_envelope(WINDOWS_IDENTIFY))
    assert identity.product_vendor == "Microsoft Corporation"
    assert not identity.soap_namespaced and not identity.is_omi


def test_another_element_in_the_soap_namespace_is_still_refused() -> None:
    other = OMI_IDENTIFY.replace(b"soap:IdentifyResponse", b"soap:SomethingElse")
    with pytest.raises(ProtocolError, match="IdentifyResponse"):
        parse_identify(parse_envelope(other))
