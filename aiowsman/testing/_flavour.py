"""Server flavours: which real WS-Management service the simulated hosts imitate.

``WSManTestServer(flavour="windows")`` (the default) answers the way Windows
WinRM does; ``flavour="omi"`` the way Microsoft's Open Management
Infrastructure (OMI, the WS-Man server of Linux management stacks) does, so
a client's handling of a non-Windows server stays covered by tests. The data
(the CIM store) is the same; what differs is the dialect, by these rules
(Windows first, then OMI; sources in brackets, listed below):

Identify (DSP0226 11)
    ``wsmid:IdentifyResponse``. OMI: ``soap:IdentifyResponse`` with
    ``wsmid:`` children and ``wsmb:Capability_FaultIncludesCIMError`` [1].
Class resource URIs
    ``http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/<Class>``.
    OMI: ``http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/<Class>``, and
    the last segment of any URI names the class [2].
CIM namespace
    In the URI; a ``__cimnamespace`` selector may only repeat ``root/cimv2``.
    OMI: the ``__cimnamespace`` selector, else the default ``interop`` [2],
    where the store's classes do not exist (they live in ``root/cimv2``).
EPRs returned
    No ``__cimnamespace`` (the URI names the namespace). OMI: none either,
    even when the request named one [3] -- so a client passing one back
    unchanged addresses ``interop``.
Datetimes and intervals in answers
    ``<cim:Datetime>`` / ``<cim:Interval>`` (DSP0230). OMI: bare text with
    numeric offsets (``2001-01-01T01:01:01.000001+13:50``, ``P2000D``),
    unless the client's User-Agent is ``Microsoft WinRM Client`` [4].
Datetimes and intervals in Put/Create/Invoke bodies
    The wrapper is required; bare text is refused. OMI: bare text is
    required; a wrapper element is refused [5].
Faults
    ``f:WSManFault`` details. OMI: ``SOAP-ENV:`` framing; a failure of the
    CIM layer carries ``OMI_Error`` (CIMStatusCode, Message, MessageID
    ``OMI:MI_Result:N``...) under the subcode OMI maps its status to [6].
Basic authentication
    Per request. OMI: per TCP connection -- a request without
    ``Authorization`` on a connection that carried valid credentials is
    served as that user, and on any other connection it is never answered
    (held until the client gives up or the server closes) [7].

Sources (OMI at microsoft/omi, the corpus in tests/corpus): [1] OMI
``Unix/wsman/wsman.c`` ``_SendIdentifyResponse``; [2] OMI
``wsmanparser.c`` (class = last segment of ``w:ResourceURI``; namespace from
the ``__cimnamespace`` selector, else ``DEFAULT_CIMNAMESPACE`` =
``interop``); [3] corpus ``omi-enumerate-response-object-and-epr.xml``
answering ``omi-enumerate-request-wql-epr-windows-client.xml``; [4] OMI
``wsbuf.c`` ``_PackFieldDatetime`` (the wrapper only for the Windows
client's User-Agent) and ``FormatWSManDatetime``; corpus
``omi-enumerate-response-datetime-arrays.xml``; [5] OMI's parser reads a
property's value as its text and takes a child element for an embedded
instance (issue 9: OMI rejects the wrapper); [6] OMI ``wsbuf.c``
``WSBuf_CreateFaultResponsePage`` and its ``s_cimerrors`` table; corpus
``winrb-omi-fault-internalerror.xml`` for the framing; [7] issue 9
(observed with OMI and Basic).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Final, Literal

from lxml import etree

from aiowsman.protocol.namespaces import (
    ADDRESS_ANONYMOUS,
    NS_CIM_COMMON,
    NS_WSMAN_IDENTITY,
    URI_CIMV2,
    URI_WMICIMV2,
)
from aiowsman.testing._faults import Fault, render_fault
from aiowsman.testing._request import parse_duration
from aiowsman.testing._xml import new_uuid, text

__all__ = ["FLAVOURS", "Flavour", "FlavourName", "OmiFlavour", "TemporalKind", "flavour_named"]

FlavourName = Literal["windows", "omi"]
#: The CIM types whose XML form differs between flavours (DSP0230 cimDateTime).
TemporalKind = Literal["datetime", "interval"]

CimTemporal = dt.datetime | dt.timedelta

#: The namespace the store's classes live in (both flavours).
STORE_NAMESPACE: Final = "root/cimv2"
_NAMESPACE_SELECTOR: Final = "__cimnamespace"
_CIM_WRAPPERS: Final = {"datetime": "Datetime", "interval": "Interval"}


def _normalise_namespace(namespace: str) -> str:
    return namespace.strip().replace("\\", "/").lower()


def _parse_datetime(value: str) -> dt.datetime:
    """An xs:dateTime (``Z`` or ``+hh:mm``; a missing offset is UTC).

    Raises:
        ValueError: not one.
    """
    parsed = dt.datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _parse_temporal(kind: TemporalKind, value: str) -> dt.datetime | dt.timedelta:
    if kind == "datetime":
        return _parse_datetime(value)
    return dt.timedelta(seconds=parse_duration(value))


class Flavour:
    """Windows WinRM: the rules of the ``windows`` column (module docstring).

    One instance is shared by every host of a server; it holds no state.
    """

    name: FlavourName = "windows"
    #: Basic credentials authenticate the TCP connection, not the request.
    authenticates_connections: bool = False
    #: ``/wsman-anon/identify`` answers an unauthenticated Identify (MS-WSMV 3.1.4.16).
    anonymous_identify: bool = True

    # -- Identify -------------------------------------------------------------

    def identify(self, *, os_version: str, authenticated: bool, profiles: list[str]) -> str:
        """The IdentifyResponse envelope (DSP0226 11).

        Unauthenticated (``/wsman-anon/identify``) Windows hides the OS
        version: ``OS: 0.0.0 SP: 0.0 Stack: 3.0`` (corpus knifewin-identify-
        response-stack3.xml).
        """
        version = os_version if authenticated else "0.0.0"
        prof = ""
        if authenticated and profiles:
            prof = (
                "<wsmid:SecurityProfiles>"
                + "".join(
                    f"<wsmid:SecurityProfileName>{p}</wsmid:SecurityProfileName>" for p in profiles
                )
                + "</wsmid:SecurityProfiles>"
            )
        return (
            '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            f'<s:Header/><s:Body><wsmid:IdentifyResponse xmlns:wsmid="{NS_WSMAN_IDENTITY}">'
            "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
            "</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation"
            f"</wsmid:ProductVendor><wsmid:ProductVersion>OS: {version} SP: 0.0 Stack: 3.0"
            f"</wsmid:ProductVersion>{prof}</wsmid:IdentifyResponse></s:Body></s:Envelope>"
        )

    # -- addressing -----------------------------------------------------------

    def class_name(self, uri: str) -> str | None:
        """The class a resource URI names, or None when it names none."""
        prefix = URI_WMICIMV2 + "/"
        return uri[len(prefix) :] if uri.startswith(prefix) else None

    def instance_selectors(self, selectors: Mapping[str, str], uri: str) -> dict[str, str]:
        """The key selectors of a request, after checking its CIM namespace.

        Raises:
            Fault: the request addresses a namespace the classes are not in.
        """
        keys = dict(selectors)
        namespace = keys.pop(_NAMESPACE_SELECTOR, None)
        if namespace is not None and _normalise_namespace(namespace) != STORE_NAMESPACE:
            raise Fault.destination_unreachable(f"{uri} ({namespace})")
        return keys

    # -- datetimes and intervals --------------------------------------------

    def adapt(self, body: str, user_agent: str) -> str:
        """A successful answer, as this flavour writes it (Windows: as rendered)."""
        return body

    def read_temporal(self, element: etree._Element, kind: TemporalKind) -> CimTemporal:
        """The value of a datetime or interval property in a request body.

        Windows (DSP0230): ``<p:X><cim:Datetime>ISO 8601</cim:Datetime></p:X>``
        (``cim:Interval``: an ``xs:duration``). The simulator refuses bare text
        for such a property, which WMI could not take as a datetime either.

        Raises:
            Fault: not the wrapper form, or not a valid value.
        """
        name = etree.QName(element).localname
        children = [c for c in element if isinstance(c.tag, str)]
        wrapper = _CIM_WRAPPERS[kind]
        if len(children) != 1 or children[0].tag != f"{{{NS_CIM_COMMON}}}{wrapper}":
            raise Fault.schema_validation(
                f"The value of {name} must be a cim:{wrapper} element (DSP0230). "
            )
        try:
            return _parse_temporal(kind, children[0].text or "")
        except ValueError:
            raise Fault.schema_validation(f"The value of {name} is not a valid {kind}. ") from None

    # -- faults --------------------------------------------------------------

    def render_fault(
        self, fault: Fault, *, relates_to: str | None, machine: str, activity_id: str | None
    ) -> str:
        """The fault envelope."""
        return render_fault(fault, relates_to=relates_to, machine=machine, activity_id=activity_id)


#: The User-Agent OMI recognises as the Windows WinRM client (compared
#: without case): only that client gets cim:Datetime wrappers from OMI.
OMI_WINRM_USER_AGENT: Final = "microsoft winrm client"
#: OMI's product name and version as its Identify reports them.
OMI_VENDOR: Final = "Open Management Infrastructure"
OMI_VERSION: Final = "1.6.8-0"
#: OMI's namespace when a request names none (wsmanparser.h DEFAULT_CIMNAMESPACE).
OMI_DEFAULT_NAMESPACE: Final = "interop"
#: Namespaces an OMI server always has (the store's classes are not in them).
_OMI_NAMESPACES: Final = frozenset({"interop", "root/omi", STORE_NAMESPACE})

_WRAPPED_DATETIME: Final = re.compile(
    r"<(?:cim:)?Datetime>([^<]*)</(?:cim:)?Datetime>|<(?:cim:)?Interval>([^<]*)</(?:cim:)?Interval>"
)

#: OMI's response envelope opening (wsbuf.c WSBuf_CreateSoapResponseHeader).
_OMI_ENVELOPE: Final = (
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:wsmb="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
    'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:wxf="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" '
    'xmlns:msftwinrm="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" '
    f'xmlns:wsmid="{NS_WSMAN_IDENTITY}">\n'
)

#: OMI's s_cimerrors: CIM status -> (SOAP code, subcode, fault action kind).
#: Statuses past 7 fall back to FAILED's row, as OMI's table does.
_OMI_CIM_FAULTS: Final[Mapping[int, tuple[str, str, str]]] = {
    1: ("SOAP-ENV:Receiver", "wsman:InternalError", "wsman"),
    2: ("SOAP-ENV:Sender", "wsman:AccessDenied", "wsman"),
    3: ("SOAP-ENV:Sender", "wsa:DestinationUnreachable", "addressing"),
    4: ("SOAP-ENV:Receiver", "wsman:InternalError", "wsman"),
    5: ("SOAP-ENV:Sender", "wsa:DestinationUnreachable", "addressing"),
    6: ("SOAP-ENV:Sender", "wsa:DestinationUnreachable", "addressing"),
    7: ("SOAP-ENV:Sender", "wsman:UnsupportedFeature", "wsman"),
}
#: MI_ErrorCategory of a CIM status (OMI's ErrorCategoryFromErrorCode for "MI").
_OMI_CATEGORIES: Final[Mapping[int, int]] = {
    1: 0,  # FAILED: not specified
    2: 18,  # ACCESS_DENIED
    3: 13,  # INVALID_NAMESPACE: object not found
    4: 5,  # INVALID_PARAMETER: invalid argument
    5: 13,  # INVALID_CLASS: object not found
    6: 13,  # NOT_FOUND: object not found
    7: 11,  # NOT_SUPPORTED: not implemented
    11: 20,  # ALREADY_EXISTS: resource exists
    13: 9,  # TYPE_MISMATCH: invalid type
    15: 16,  # INVALID_QUERY: syntax error
}
_FAULT_ACTIONS: Final = {
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
    "addressing": "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
    "enumeration": "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault",
}
#: Windows' subcode prefixes as OMI writes them.
_OMI_PREFIXES: Final = {"w": "wsman", "a": "wsa", "n": "wsen", "s": "SOAP-ENV"}


class OmiFlavour(Flavour):
    """OMI: the rules of the ``omi`` column (module docstring)."""

    name: FlavourName = "omi"
    authenticates_connections = True
    anonymous_identify = False

    def identify(self, *, os_version: str, authenticated: bool, profiles: list[str]) -> str:
        # OMI answers the same whatever the client (it has no anonymous
        # Identify), and names only https/basic whatever its listeners.
        return (
            '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:wsmid="{NS_WSMAN_IDENTITY}">\n<soap:Header/>\n<soap:Body>\n'
            "<soap:IdentifyResponse>\n"
            "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
            "</wsmid:ProtocolVersion>\n"
            f"<wsmid:ProductVendor>{OMI_VENDOR}</wsmid:ProductVendor>\n"
            f"<wsmid:ProductVersion>{OMI_VERSION}</wsmid:ProductVersion>\n"
            "<wsmid:SecurityProfiles>\n<wsmid:SecurityProfileName>"
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic"
            "</wsmid:SecurityProfileName>\n</wsmid:SecurityProfiles>\n"
            # OMI's own spelling of the namespace (cimbinding.xml, sic).
            "<wsmb:Capability_FaultIncludesCIMError "
            'xmlns:wsmb="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xml"/>\n'
            "</soap:IdentifyResponse>\n</soap:Body>\n</soap:Envelope>\n"
        )

    def class_name(self, uri: str) -> str | None:
        name = uri.rstrip("/").rpartition("/")[2]
        return name or None

    def instance_selectors(self, selectors: Mapping[str, str], uri: str) -> dict[str, str]:
        keys = dict(selectors)
        namespace = keys.pop(_NAMESPACE_SELECTOR, None) or OMI_DEFAULT_NAMESPACE
        normalised = _normalise_namespace(namespace)
        if normalised == STORE_NAMESPACE:
            return keys
        if normalised in _OMI_NAMESPACES:
            raise Fault.cim_error(5, f"The specified class does not exist in {namespace}.")
        raise Fault.cim_error(3, f"The target namespace does not exist: {namespace}.")

    def adapt(self, body: str, user_agent: str) -> str:
        body = body.replace(URI_WMICIMV2 + "/", URI_CIMV2 + "/")
        if user_agent.strip().lower() == OMI_WINRM_USER_AGENT:
            return body
        return _WRAPPED_DATETIME.sub(_bare, body)

    def read_temporal(self, element: etree._Element, kind: TemporalKind) -> CimTemporal:
        """OMI: the value is the element's text; a child element (a DSP0230
        wrapper) is taken for an embedded instance of the wrong type."""
        name = etree.QName(element).localname
        if any(isinstance(c.tag, str) for c in element):
            raise Fault.cim_error(
                13, f"Type mismatch: {name} is a {kind}, not an embedded instance."
            )
        try:
            return _parse_temporal(kind, element.text or "")
        except ValueError:
            raise Fault.cim_error(4, f"The value of {name} is not a valid {kind}.") from None

    def render_fault(
        self, fault: Fault, *, relates_to: str | None, machine: str, activity_id: str | None
    ) -> str:
        status = fault.cim_status
        if status is not None:
            code, subcode, action = _OMI_CIM_FAULTS.get(status, _OMI_CIM_FAULTS[1])
            action_uri = _FAULT_ACTIONS[action]
            detail = _omi_error(status, fault.message)
        else:
            code = _omi_qname(fault.code)
            subcode = _omi_qname(fault.subcode) if fault.subcode else ""
            action_uri = fault.action
            detail = ""
        sub = (
            f"<SOAP-ENV:Subcode>\n<SOAP-ENV:Value>{subcode}</SOAP-ENV:Value>\n</SOAP-ENV:Subcode>\n"
            if subcode
            else ""
        )
        relates = f"<wsa:RelatesTo>{text(relates_to)}</wsa:RelatesTo>\n" if relates_to else ""
        return (
            f"{_OMI_ENVELOPE}<SOAP-ENV:Header>\n<wsa:To>{ADDRESS_ANONYMOUS}</wsa:To>\n"
            f"<wsa:Action>{action_uri}</wsa:Action>\n"
            f"<wsa:MessageID>uuid:{new_uuid()}</wsa:MessageID>\n{relates}"
            "</SOAP-ENV:Header>\n\n<SOAP-ENV:Body>\n<SOAP-ENV:Fault>\n<SOAP-ENV:Code>\n"
            f"<SOAP-ENV:Value>{code}</SOAP-ENV:Value>\n{sub}</SOAP-ENV:Code>\n"
            f'<SOAP-ENV:Reason>\n<SOAP-ENV:Text xml:lang="en-US">{text(fault.message)}'
            f"</SOAP-ENV:Text>\n</SOAP-ENV:Reason>\n{detail}"
            "</SOAP-ENV:Fault>\n</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"
        )


def _bare(match: re.Match[str]) -> str:
    datetime_text = match.group(1)
    if datetime_text is None:
        return match.group(2)
    # OMI writes every offset numerically (FormatWSManDatetime): +00:00, not Z.
    return datetime_text[:-1] + "+00:00" if datetime_text.endswith("Z") else datetime_text


def _omi_qname(qname: str) -> str:
    prefix, sep, local = qname.partition(":")
    return f"{_OMI_PREFIXES.get(prefix, prefix)}:{local}" if sep else qname


def _omi_error(status: int, message: str) -> str:
    """The OMI_Error detail OMI builds from a status and a message (wsbuf.c)."""
    msg = text(message)
    cim = 'xsi:type="cim:cimUnsignedInt"'
    string = 'xsi:type="cim:cimString"'
    return (
        '<SOAP-ENV:Detail>\n<p:OMI_Error wsmb:IsCIM_Error="true" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:wsmb="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
        'xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Error" '
        f'xmlns:cim="{NS_CIM_COMMON}">'
        f"<p:CIMStatusCode {cim}>{status}</p:CIMStatusCode>\n"
        f"<p:Message {string}>{msg}</p:Message>\n"
        f"<p:MessageArguments {string}></p:MessageArguments>"
        f"<p:MessageID {string}>OMI:MI_Result:{status}</p:MessageID>\n"
        f"<p:OMI_Category {cim}>{_OMI_CATEGORIES.get(status, 0)}</p:OMI_Category>\n"
        f"<p:OMI_Code {cim}>{status}</p:OMI_Code>\n"
        f"<p:OMI_ErrorMessage {string}>{msg}</p:OMI_ErrorMessage>\n"
        f"<p:OMI_Type {string}>MI</p:OMI_Type>"
        f"<p:OwningEntity {string}>OMI:CIMOM</p:OwningEntity>"
        f"<p:PerceivedSeverity {cim}>7</p:PerceivedSeverity>"
        f"<p:ProbableCause {cim}>0</p:ProbableCause>"
        f"<p:ProbableCauseDescription {string}>Unknown</p:ProbableCauseDescription>"
        "</p:OMI_Error>\n</SOAP-ENV:Detail>\n"
    )


FLAVOURS: Final[Mapping[str, Flavour]] = {"windows": Flavour(), "omi": OmiFlavour()}


def flavour_named(name: str) -> Flavour:
    """The flavour called ``name``.

    Raises:
        ValueError: no such flavour.
    """
    try:
        return FLAVOURS[name]
    except KeyError:
        raise ValueError(f"flavour must be one of {sorted(FLAVOURS)}, not {name!r}") from None
