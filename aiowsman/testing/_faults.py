"""SOAP faults shaped the way Windows WinRM shapes them.

Reference shapes (corpus): ``pypsrp-fault-timedout-activityid.xml``,
``pypsrp-fault-invalidselectors-bad-commandid.xml``,
``pypsrp-fault-mustunderstand-notunderstood.xml``,
``pypsrp-fault-invalidmessageinformationheader.xml``,
``winrb-fault-cannotprocessfilter-extendederror.xml``,
``winrb-fault-quotalimit-msft-wmierror.xml``. Every fault is sent with
HTTP 500, the status WinRM gives every SOAP fault -- except a request for a
shell the service does not know, answered with HTTP 400 (pywinrm#377 and
#325: a shell reaped when idle or at MaxShellRunTime gives "400").
"""

from __future__ import annotations

from typing import Final

from aiowsman.protocol.namespaces import (
    ACTION_FAULT_ADDRESSING,
    ACTION_FAULT_ENUMERATION,
    ACTION_FAULT_WSMAN,
    ADDRESS_ANONYMOUS,
    CODE_INVALID_SELECTORS,
    CODE_OPERATION_TIMEDOUT,
    CODE_QUOTA_MAX_COMMANDS_PER_SHELL,
    CODE_QUOTA_MAX_OPERATIONS,
    CODE_QUOTA_MAX_SHELLS,
    NS_CIM_COMMON,
    NS_WSMAN_CIMBINDING,
    NS_WSMAN_FAULT,
    NS_XSI,
)
from aiowsman.testing._xml import ENVELOPE_FAULT, attr, new_uuid, text

__all__ = ["Fault", "render_fault"]

_DETAIL_BASE: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"

# WSManFault codes (wsmerror.h; decimal, as Windows writes them).
CODE_RESOURCE_NOT_FOUND: Final = 2150858752  # 0x80338000
CODE_INVALID_ACTION: Final = 2150858753  # 0x80338001
CODE_INVALID_HEADER: Final = 2150858767  # 0x8033800F
CODE_CANNOT_PROCESS_FILTER: Final = 2150858778  # 0x8033801A
CODE_INVALID_ENUMERATION_CONTEXT: Final = 2150858779  # 0x8033801B
CODE_ALREADY_EXISTS: Final = 2150858803  # 0x80338033
CODE_MAX_ENVELOPE_SIZE_EXCEEDED: Final = 2150858824  # 0x80338048
CODE_SCHEMA_VALIDATION: Final = 2150858817  # 0x80338041
CODE_ACCESS_DENIED: Final = 5
CODE_INVALID_PARAMETER: Final = 87  # Win32 ERROR_INVALID_PARAMETER
CODE_FILE_NOT_FOUND: Final = 2147942402  # 0x80070002, HRESULT of ERROR_FILE_NOT_FOUND
_SHELL_PLUGIN: Final = 'provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll"'

# CIM statuses (DSP0004 CIM_ERR_*; OMI's MI_Result has the same numbers).
CIM_ERR_ACCESS_DENIED: Final = 2
CIM_ERR_INVALID_PARAMETER: Final = 4
CIM_ERR_INVALID_CLASS: Final = 5
CIM_ERR_NOT_FOUND: Final = 6
CIM_ERR_ALREADY_EXISTS: Final = 11
CIM_ERR_INVALID_QUERY: Final = 15


class Fault(Exception):
    """A SOAP fault the server answers with.

    Args:
        subcode: qualified subcode (``w:TimedOut``, ``n:CannotProcessFilter``)
            or None (``s:MustUnderstand`` has none).
        reason: the ``s:Reason/s:Text``.
        code: ``s:Sender`` or ``s:Receiver`` (or ``s:MustUnderstand``).
        action: the fault Action URI.
        detail: the ``w:FaultDetail`` URI suffix, if any.
        wsman_code: ``f:WSManFault/@Code``; None for no ``f:WSManFault``.
        message: the ``f:Message`` text (defaults to ``reason``).
        raw_detail: replaces the whole ``s:Detail`` content.
        extra_headers: more SOAP headers (``s:NotUnderstood``).
        provider: the ``f:ProviderFault`` attributes that wrap the message,
            if any (``provider_fault`` wraps it in the WMI provider's).
        status: the HTTP status it is sent with.
        cim_status: the CIM status (DSP0004 CIM_ERR_*) of a failure of the
            CIM layer (a class, an instance, a value): a flavour that reports
            CIM errors (OMI's OMI_Error) uses it; Windows' WSManFault does not.
    """

    def __init__(
        self,
        subcode: str | None,
        reason: str,
        *,
        code: str = "s:Sender",
        action: str = ACTION_FAULT_WSMAN,
        detail: str | None = None,
        wsman_code: int | None = None,
        message: str | None = None,
        raw_detail: str | None = None,
        extra_headers: str = "",
        provider_fault: bool = False,
        provider: str | None = None,
        status: int = 500,
        cim_status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.code = code
        self.action = action
        self.detail = detail
        self.wsman_code = wsman_code
        self.message = message if message is not None else reason
        self.raw_detail = raw_detail
        self.extra_headers = extra_headers
        self.provider_fault = provider_fault
        self.provider = provider
        self.status = status
        self.cim_status = cim_status

    # -- the faults the server raises ------------------------------------

    @classmethod
    def cim_error(cls, status: int, message: str) -> Fault:
        """A failure of the CIM layer known by its CIM status alone (OMI's faults)."""
        return cls("w:InternalError", message, code="s:Receiver", cim_status=status)

    @classmethod
    def timed_out(cls) -> Fault:
        reason = (
            "The WS-Management service cannot complete the operation within the time "
            "specified in OperationTimeout.  "
        )
        return cls("w:TimedOut", reason, code="s:Receiver", wsman_code=CODE_OPERATION_TIMEDOUT)

    @classmethod
    def invalid_selectors(cls, message: str, detail: str = "UnexpectedSelectors") -> Fault:
        return cls(
            "w:InvalidSelectors",
            "The WS-Management service cannot process the request because the request "
            "contained invalid selectors for the resource. ",
            detail=detail,
            wsman_code=CODE_INVALID_SELECTORS,
            message=message,
            cim_status=CIM_ERR_INVALID_PARAMETER,
        )

    @classmethod
    def not_found(cls) -> Fault:
        msg = (
            "The WS-Management service cannot process the request. The service cannot find "
            "the resource identified by the resource URI and selectors. "
        )
        return cls(
            "w:InvalidSelectors",
            msg,
            wsman_code=CODE_RESOURCE_NOT_FOUND,
            cim_status=CIM_ERR_NOT_FOUND,
        )

    @classmethod
    def destination_unreachable(cls, uri: str) -> Fault:
        return cls(
            "w:DestinationUnreachable",
            "The WS-Management service cannot process the request. The resource URI is not "
            f"valid or the resource does not exist: {uri} ",
            detail="InvalidResourceURI",
            wsman_code=CODE_RESOURCE_NOT_FOUND,
            cim_status=CIM_ERR_INVALID_CLASS,
        )

    @classmethod
    def action_not_supported(cls, action: str) -> Fault:
        return cls(
            "a:ActionNotSupported",
            "The action is not supported by the service. ",
            action=ACTION_FAULT_ADDRESSING,
            wsman_code=CODE_INVALID_ACTION,
            message="The WS-Management service cannot process the request. The WS-Addressing "
            f"action URI is invalid or not supported by the resource: {action} ",
        )

    @classmethod
    def invalid_header(cls, message: str) -> Fault:
        return cls(
            "a:InvalidMessageInformationHeader",
            "The WS-Management service cannot process the request. The request contains one "
            "or more invalid SOAP headers. ",
            action=ACTION_FAULT_ADDRESSING,
            wsman_code=CODE_INVALID_HEADER,
            message=message,
        )

    @classmethod
    def schema_validation(cls, message: str) -> Fault:
        return cls(
            "w:SchemaValidationError",
            "The SOAP XML in the message does not match the corresponding XML schema "
            "definition. Change the XML and retry. ",
            wsman_code=CODE_SCHEMA_VALIDATION,
            message=message,
            cim_status=CIM_ERR_INVALID_PARAMETER,
        )

    @classmethod
    def must_understand(cls, qname: str, ns: str) -> Fault:
        # Windows: no Subcode, no Detail, an s:NotUnderstood header, the
        # addressing fault action (corpus pypsrp-fault-mustunderstand-*.xml).
        return cls(
            None,
            "The WS-Management service cannot process a SOAP header in the request that is "
            "marked as mustUnderstand by the client.  This could be caused by the use of a "
            "version of the protocol which is not supported, or may be an incompatibility  "
            "between the client and server implementations. ",
            code="s:MustUnderstand",
            action=ACTION_FAULT_ADDRESSING,
            extra_headers=f'<s:NotUnderstood qname="q:{attr(qname)}" xmlns:q="{attr(ns)}"/>',
        )

    @classmethod
    def cannot_process_filter(cls, message: str) -> Fault:
        # Windows wraps the WMI provider's message in f:ProviderFault
        # (corpus winrb-fault-cannotprocessfilter-*.xml).
        return cls(
            "n:CannotProcessFilter",
            "The data source could not process the filter. The filter might be missing or it "
            "might be invalid. Change the filter and try the request again.  ",
            action=ACTION_FAULT_ENUMERATION,
            wsman_code=CODE_CANNOT_PROCESS_FILTER,
            message=message,
            provider_fault=True,
            cim_status=CIM_ERR_INVALID_QUERY,
        )

    @classmethod
    def invalid_enumeration_context(cls) -> Fault:
        return cls(
            "n:InvalidEnumerationContext",
            "The WS-Management service cannot process the request because the enumeration "
            "context supplied in the message is not valid. The enumeration may have been "
            "completed or cancelled. ",
            code="s:Receiver",
            action=ACTION_FAULT_ENUMERATION,
            wsman_code=CODE_INVALID_ENUMERATION_CONTEXT,
        )

    @classmethod
    def encoding_limit(cls) -> Fault:
        return cls(
            "w:EncodingLimit",
            "The response that the WS-Management service computed exceeds the maximum "
            "envelope size in the request. ",
            detail="MaxEnvelopeSize",
            wsman_code=CODE_MAX_ENVELOPE_SIZE_EXCEEDED,
        )

    @classmethod
    def already_exists(cls) -> Fault:
        return cls(
            "w:AlreadyExists",
            "The WS-Management service cannot create the resource because it already exists. ",
            wsman_code=CODE_ALREADY_EXISTS,
            cim_status=CIM_ERR_ALREADY_EXISTS,
        )

    @classmethod
    def access_denied(cls) -> Fault:
        return cls(
            "w:AccessDenied",
            "Access is denied. ",
            wsman_code=CODE_ACCESS_DENIED,
            cim_status=CIM_ERR_ACCESS_DENIED,
        )

    @classmethod
    def quota(cls, limit: int) -> Fault:
        """MaxConcurrentOperationsPerUser exceeded (ERROR_WSMAN_QUOTA_MAX_OPERATIONS)."""
        return cls._quota(
            CODE_QUOTA_MAX_OPERATIONS,
            "The WS-Management service cannot process the request. The maximum number of "
            "concurrent operations for this user has been exceeded. Close existing operations "
            "for this user, or raise the quota for this user. ",
            "The WS-Management service cannot process the request. This user is allowed a "
            f"maximum number of {limit} concurrent operations, which has been exceeded. "
            "Close existing operations for this user, or raise the quota for this user. ",
        )

    @classmethod
    def quota_shells(cls, limit: int) -> Fault:
        """MaxShellsPerUser exceeded (ERROR_WSMAN_QUOTA_MAX_SHELLS; corpus
        winrb-fault-quotalimit-msft-wmierror.xml, word for word)."""
        return cls._quota(
            CODE_QUOTA_MAX_SHELLS,
            "The WS-Management service cannot process the request. The maximum number of "
            "concurrent shells for this user has been exceeded. Close existing shells or raise "
            "the quota for this user. ",
            "The WS-Management service cannot process the request. This user is allowed a "
            f"maximum number of {limit} concurrent shells, which has been exceeded. Close "
            "existing shells or raise the quota for this user. ",
        )

    @classmethod
    def quota_commands_per_shell(cls) -> Fault:
        """The shell plug-in's MaxConcurrentCommandsPerShell exceeded: Windows
        sends it as ``w:InternalError`` with this reason (pypsrp#148, word for
        word) and the code ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ."""
        reason = (
            "The WS-Management service cannot process the request. The maximum number of "
            "concurrent commands per shell has been exceeded. Retry the request later or "
            "raise the Maximum Commands per Shell quota. "
        )
        return cls(
            "w:InternalError",
            reason,
            code="s:Receiver",
            wsman_code=CODE_QUOTA_MAX_COMMANDS_PER_SHELL,
            message=reason,
        )

    @classmethod
    def _quota(cls, code: int, reason: str, message: str) -> Fault:
        # Windows answers quota faults with a MSFT_WmiError detail (corpus
        # winrb-fault-quotalimit-msft-wmierror.xml), the code in error_Code.
        ns = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"
        detail = (
            f'<p:MSFT_WmiError b:IsCIM_Error="true" xmlns:b="{NS_WSMAN_CIMBINDING}" '
            f'xmlns:cim="{NS_CIM_COMMON}" xmlns:p="{ns}" xsi:type="p:MSFT_WmiError_Type" '
            f'xmlns:xsi="{NS_XSI}">'
            '<p:CIMStatusCode xsi:type="cim:cimUnsignedInt">27</p:CIMStatusCode>'
            '<p:CIMStatusCodeDescription xsi:nil="true" xsi:type="cim:cimString"/>'
            '<p:ErrorSource xsi:nil="true" xsi:type="cim:cimString"/>'
            '<p:ErrorSourceFormat xsi:type="cim:cimUnsignedShort">0</p:ErrorSourceFormat>'
            '<p:ErrorType xsi:type="cim:cimUnsignedShort">0</p:ErrorType>'
            f'<p:Message xsi:type="cim:cimString">{text(message)}</p:Message>'
            f'<p:MessageID xsi:type="cim:cimString">HRESULT 0x{code:08x}</p:MessageID>'
            '<p:OtherErrorSourceFormat xsi:nil="true" xsi:type="cim:cimString"/>'
            '<p:OtherErrorType xsi:nil="true" xsi:type="cim:cimString"/>'
            '<p:OwningEntity xsi:nil="true" xsi:type="cim:cimString"/>'
            '<p:PerceivedSeverity xsi:type="cim:cimUnsignedShort">0</p:PerceivedSeverity>'
            '<p:ProbableCause xsi:type="cim:cimUnsignedShort">0</p:ProbableCause>'
            '<p:ProbableCauseDescription xsi:nil="true" xsi:type="cim:cimString"/>'
            '<p:error_Category xsi:type="cim:cimUnsignedInt">30</p:error_Category>'
            f'<p:error_Code xsi:type="cim:cimUnsignedInt">{code}</p:error_Code>'
            '<p:error_Type xsi:type="cim:cimString">HRESULT</p:error_Type>'
            f'<p:error_WindowsErrorMessage xsi:type="cim:cimString">{text(message)}'
            "</p:error_WindowsErrorMessage></p:MSFT_WmiError>"
        )
        return cls("w:QuotaLimit", reason, raw_detail=detail)

    # -- remote shells (MS-WSMV 3.1.4.1.31) ------------------------------------

    @classmethod
    def shell_not_found(cls, shell_id: str) -> Fault:
        """A ShellId the service does not know: sent with HTTP 400 (see the module docstring)."""
        return cls(
            "w:InvalidSelectors",
            "The WS-Management service cannot process the request because the request "
            "contained invalid selectors for the resource. ",
            detail="UnexpectedSelectors",
            wsman_code=CODE_INVALID_SELECTORS,
            message=f"The request for the Windows Remote Shell with ShellId {shell_id} failed "
            "because the shell was not found on the server. Possible causes are: the specified "
            "ShellId is incorrect or the shell no longer exists on the server. Provide the "
            "correct ShellId or create a new shell and retry the operation. ",
            status=400,
        )

    @classmethod
    def command_not_found(cls) -> Fault:
        """A CommandId the shell does not know (corpus
        pypsrp-fault-invalidselectors-bad-commandid.xml, word for word)."""
        return cls(
            "w:InvalidSelectors",
            "The WS-Management service cannot process the request because the request "
            "contained invalid selectors for the resource. ",
            detail="UnexpectedSelectors",
            wsman_code=CODE_INVALID_SELECTORS,
            message="The Windows Remote Shell received a request to perform an operation on a "
            "command identifier that does not exist. Either the command has completed "
            "execution or the client specified an invalid command identifier. ",
        )

    @classmethod
    def shell_invalid_parameter(cls) -> Fault:
        """The cmd plug-in refused a value (corpus
        pypsrp-fault-invalidparameter-providerfault.xml)."""
        return cls(
            "w:InvalidParameter",
            "The parameter is incorrect. ",
            detail="InvalidValue",
            wsman_code=CODE_INVALID_PARAMETER,
            provider=_SHELL_PLUGIN,
        )

    @classmethod
    def shell_file_not_found(cls) -> Fault:
        """A program that does not exist, started without cmd.exe (corpus
        pypsrp-fault-internalerror-file-not-found.xml)."""
        return cls(
            "w:InternalError",
            "The system cannot find the file specified. ",
            code="s:Receiver",
            wsman_code=CODE_FILE_NOT_FOUND,
            provider=_SHELL_PLUGIN,
        )


def render_fault(
    fault: Fault, *, relates_to: str | None, machine: str, activity_id: str | None = None
) -> str:
    """The whole fault envelope, as a string."""
    headers = [
        f"<a:Action>{fault.action}</a:Action>",
        f"<a:MessageID>uuid:{new_uuid()}</a:MessageID>",
    ]
    if activity_id:
        headers.append(f"<p:ActivityId>{activity_id}</p:ActivityId>")
    headers.append(f"<a:To>{ADDRESS_ANONYMOUS}</a:To>")
    if relates_to:
        headers.append(f"<a:RelatesTo>{text(relates_to)}</a:RelatesTo>")
    headers.append(fault.extra_headers)
    code = f"<s:Code><s:Value>{fault.code}</s:Value>"
    if fault.subcode:
        code += f"<s:Subcode><s:Value>{fault.subcode}</s:Value></s:Subcode>"
    code += "</s:Code>"
    reason = f'<s:Reason><s:Text xml:lang="en-US">{text(fault.reason)}</s:Text></s:Reason>'
    detail = ""
    if fault.raw_detail is not None:
        detail = f"<s:Detail>{fault.raw_detail}</s:Detail>"
    elif fault.wsman_code is not None:
        parts = []
        if fault.detail:
            parts.append(f"<w:FaultDetail>{_DETAIL_BASE}{fault.detail}</w:FaultDetail>")
        message = text(fault.message)
        if fault.provider is not None:
            message = f"<f:ProviderFault {fault.provider}>{message}</f:ProviderFault>"
        elif fault.provider_fault:
            message = (
                '<f:ProviderFault provider="WMI Provider" '
                'path="%systemroot%\\system32\\WsmWmiPl.dll">'
                f'<f:WSManFault xmlns:f="{NS_WSMAN_FAULT}" Code="{fault.wsman_code}" '
                f'Machine="{attr(machine)}"><f:Message>{message}</f:Message></f:WSManFault>'
                "</f:ProviderFault>"
            )
        parts.append(
            f'<f:WSManFault xmlns:f="{NS_WSMAN_FAULT}" Code="{fault.wsman_code}" '
            f'Machine="{attr(machine)}"><f:Message>{message}</f:Message></f:WSManFault>'
        )
        detail = "<s:Detail>" + "".join(parts) + "</s:Detail>"
    return (
        f"{ENVELOPE_FAULT}<s:Header>{''.join(headers)}</s:Header>"
        f"<s:Body><s:Fault>{code}{reason}{detail}</s:Fault></s:Body></s:Envelope>"
    )
