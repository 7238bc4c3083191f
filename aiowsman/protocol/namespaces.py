"""Namespace URIs and action URIs of WS-Management, defined once.

Both the client (``aiowsman.protocol``) and the test server
(``aiowsman.testing``) import these constants; they share nothing else, so a
bug in an envelope builder or parser is never mirrored on both sides.

Sources: DMTF DSP0226 (WS-Management 1.x) Annex A, MS-WSMV 2.2.1 (namespaces)
and 3.1.4 (actions), W3C SOAP 1.2, WS-Addressing (2004/08 submission, which
is what WS-Man and Windows use), WS-Enumeration and WS-Transfer (2004/09).
"""

from __future__ import annotations

from typing import Final

# -- Namespaces ---------------------------------------------------------------

NS_SOAP: Final = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_ENUMERATION: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_TRANSFER: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_EVENTING: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
NS_WSMAN: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_WSMAN_IDENTITY: Final = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
NS_WSMAN_MSFT: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_WSMAN_FAULT: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
#: WS-CIM common types (``cim:Datetime``, ``cim:Interval``...; DSP0230). The
#: historical name NS_CIM_BINDING is kept as an alias of this namespace.
NS_CIM_COMMON: Final = "http://schemas.dmtf.org/wbem/wscim/1/common"
NS_CIM_BINDING: Final = NS_CIM_COMMON
#: WS-Management CIM binding (DSP0227): ``wsmb:PolymorphismMode``,
#: ``AssociatedInstances``, ``IsCIM_Error``. Windows binds it to prefix ``b``.
NS_WSMAN_CIMBINDING: Final = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
NS_WINRS: Final = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_WINRM_CONFIG: Final = "http://schemas.microsoft.com/wbem/wsman/1/config"
NS_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
NS_XS: Final = "http://www.w3.org/2001/XMLSchema"
NS_XML: Final = "http://www.w3.org/XML/1998/namespace"
#: Windows event schema (``<Event xmlns=...>``; the event log's rendering of
#: an event, delivered by WS-Eventing subscriptions; MS-WSMV 3.1.4.1.30).
NS_WINDOWS_EVENT: Final = "http://schemas.microsoft.com/win/2004/08/events/event"

#: Prefixes used in envelopes the client builds (purely cosmetic: parsing
#: always resolves by namespace URI, never by prefix; see the corpus README).
PREFIXES: Final[dict[str, str]] = {
    "s": NS_SOAP,
    "a": NS_ADDRESSING,
    "n": NS_ENUMERATION,
    "x": NS_TRANSFER,
    "w": NS_WSMAN,
    "p": NS_WSMAN_MSFT,
    "b": NS_WSMAN_CIMBINDING,
    "cim": NS_CIM_COMMON,
    "wsmid": NS_WSMAN_IDENTITY,
    "e": NS_EVENTING,
    "xsi": NS_XSI,
}

# -- Addressing constants -----------------------------------------------------

#: WS-Addressing anonymous reply endpoint (DSP0226 5.4.2).
ADDRESS_ANONYMOUS: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

# -- Actions (DSP0226 Annex A; WS-Transfer; WS-Enumeration) -------------------

ACTION_GET: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ACTION_GET_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse"
ACTION_PUT: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
ACTION_PUT_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse"
ACTION_CREATE: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_CREATE_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"
ACTION_DELETE: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_DELETE_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse"
ACTION_ENUMERATE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
ACTION_ENUMERATE_RESPONSE: Final = (
    "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse"
)
ACTION_PULL: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
ACTION_PULL_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse"
ACTION_RELEASE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release"
ACTION_RELEASE_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse"
#: Fault actions seen from real servers (corpus README "Faults").
ACTION_FAULT_WSMAN: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ACTION_FAULT_ADDRESSING: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
ACTION_FAULT_ENUMERATION: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault"

# -- WS-Eventing (DSP0226 10; WS-Eventing 2004/08; MS-WSMV 3.1.4.1.30) -------

ACTION_SUBSCRIBE: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"
ACTION_SUBSCRIBE_RESPONSE: Final = (
    "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse"
)
ACTION_RENEW: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew"
ACTION_RENEW_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/RenewResponse"
ACTION_UNSUBSCRIBE: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe"
ACTION_UNSUBSCRIBE_RESPONSE: Final = (
    "http://schemas.xmlsoap.org/ws/2004/08/eventing/UnsubscribeResponse"
)
#: The source ended a subscription (WS-Eventing 2004/08 "SubscriptionEnd").
ACTION_SUBSCRIPTION_END: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd"
ACTION_FAULT_EVENTING: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/fault"
#: A heartbeat pseudo-event (DSP0226 10.2.5).
ACTION_HEARTBEAT: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat"
#: The action of an event without its own action URI (DSP0226 10.2.8;
#: MS-WSMV 3.1.4.1.30.2: Windows uses it for every event).
ACTION_EVENT: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"
#: Pull delivery mode: events are read with wsen:Pull on the context the
#: SubscribeResponse carries (DSP0226 10.2.9).
DELIVERY_MODE_PULL: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"
#: The event query filter dialect (MS-WSMV 3.1.4.1.30.5): the Filter holds one
#: QueryList (MS-WSMV 2.2.4.24).
DIALECT_EVENT_QUERY: Final = "http://schemas.microsoft.com/win/2004/08/events/eventquery"
#: Reserved bookmark: replay every event still available (DSP0226 10.2.6).
BOOKMARK_EARLIEST: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"

# -- Enumeration dialects and modes (DSP0226 8.2, 8.7; MS-WSMV 3.1.4.8) ------

DIALECT_WQL: Final = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
DIALECT_CQL: Final = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf"
DIALECT_SELECTOR: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
DIALECT_ASSOCIATION: Final = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"
DIALECT_XPATH: Final = "http://www.w3.org/TR/1999/REC-xpath-19991116"
#: Fragment-level transfer dialect (DSP0226 7.7).
DIALECT_FRAGMENT_XPATH_LEVEL1: Final = "http://www.w3.org/TR/1999/REC-xpath-19991116"

ENUMERATION_MODE_EPR: Final = "EnumerateEPR"
ENUMERATION_MODE_OBJECT_AND_EPR: Final = "EnumerateObjectAndEPR"

#: Polymorphism (DSP0227 8.1 "wsmb:PolymorphismMode"): an element of the
#: Enumerate body in NS_WSMAN_CIMBINDING (OMI parses it there; openwsman's
#: client sends it there). MS-WSMV 3.1.4.8.1: Windows' service ignores it and
#: returns base and derived instances (the WinRM scripting API's default,
#: WSManFlagHierarchyDeep).
POLYMORPHISM_INCLUDE_SUBCLASS: Final = "IncludeSubClassProperties"  # deep (default)
POLYMORPHISM_EXCLUDE_SUBCLASS: Final = "ExcludeSubClassProperties"  # deep, base props only
POLYMORPHISM_NONE: Final = "None"  # shallow

# -- Resource URI prefixes (winrm.cmd aliases; MS-WSMV 2.2.1, winrm help uris)

URI_WMI: Final = "http://schemas.microsoft.com/wbem/wsman/1/wmi"
URI_WMICIMV2: Final = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2"
URI_CIMV2: Final = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2"
URI_WINRM: Final = "http://schemas.microsoft.com/wbem/wsman/1"
URI_WSMAN: Final = "http://schemas.microsoft.com/wbem/wsman/1"
URI_SHELL: Final = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
URI_ALL_CLASSES: Final = "http://schemas.dmtf.org/wbem/wscim/1/*"
#: The event log as a WS-Eventing event source (MS-WSMV 3.1.4.6).
URI_EVENTLOG: Final = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"

# -- Remote shells (WinRS; MS-WSMV 3.1.4.1.31, 3.1.4.5.2, 3.1.4.11-14) --------

#: The cmd.exe shell (MS-WSMV 3.1.4.5.2; ``winrs.exe``, ``shell/cmd``).
URI_SHELL_CMD: Final = f"{URI_SHELL}/cmd"
#: PowerShell remoting shells: ``{URI_POWERSHELL}/<configuration>`` (MS-PSRP 3.1.4.1).
URI_POWERSHELL: Final = "http://schemas.microsoft.com/powershell"
#: The endpoint configuration of ``Enter-PSSession`` without -ConfigurationName.
PSRP_DEFAULT_CONFIGURATION: Final = "Microsoft.PowerShell"
ACTION_SHELL_COMMAND: Final = f"{URI_SHELL}/Command"
ACTION_SHELL_SEND: Final = f"{URI_SHELL}/Send"
ACTION_SHELL_RECEIVE: Final = f"{URI_SHELL}/Receive"
ACTION_SHELL_SIGNAL: Final = f"{URI_SHELL}/Signal"
#: Signal codes (MS-WSMV 2.2.5.6 SignalCodeEnumeration). The PowerShell one is
#: spelled ``crtl_c`` in the specification and on the wire.
SIGNAL_TERMINATE: Final = f"{URI_SHELL}/signal/terminate"
SIGNAL_CTRL_C: Final = f"{URI_SHELL}/signal/ctrl_c"
SIGNAL_CTRL_BREAK: Final = f"{URI_SHELL}/signal/ctrl_break"
SIGNAL_PS_CTRL_C: Final = f"{URI_POWERSHELL}/signal/crtl_c"
#: Command states (MS-WSMV 2.2.5.4 CommandStateEnumeration).
COMMAND_STATE_DONE: Final = f"{URI_SHELL}/CommandState/Done"
COMMAND_STATE_PENDING: Final = f"{URI_SHELL}/CommandState/Pending"
COMMAND_STATE_RUNNING: Final = f"{URI_SHELL}/CommandState/Running"

# -- WS-Man fault subcodes (DSP0226 Annex B; MS-WSMV 2.2.4.x) -----------------

FAULT_TIMED_OUT: Final = "TimedOut"
FAULT_INVALID_ENUMERATION_CONTEXT: Final = "InvalidEnumerationContext"
FAULT_QUOTA_LIMIT: Final = "QuotaLimit"
#: WSManFault Code for "the maximum number of concurrent operations for this
#: user has been exceeded" (ERROR_WSMAN_QUOTA_MAX_OPERATIONS, 0x803381A6).
CODE_QUOTA_MAX_OPERATIONS: Final = 2150859174
#: The other ERROR_WSMAN_QUOTA_* codes (wsmerror.h): MAX_SHELLS 0x803381A5 (the
#: corpus' QuotaLimit fault), USER, SYSTEM, MAX_SHELLUSERS, the *_PPQ family,
#: and the generic ERROR_WSMAN_QUOTA_LIMIT 0x8033803F.
CODES_QUOTA: Final = frozenset(
    {
        2150858815,  # ERROR_WSMAN_QUOTA_LIMIT
        2150859173,  # ERROR_WSMAN_QUOTA_MAX_SHELLS
        2150859174,  # ERROR_WSMAN_QUOTA_MAX_OPERATIONS
        2150859175,  # ERROR_WSMAN_QUOTA_USER
        2150859176,  # ERROR_WSMAN_QUOTA_SYSTEM
        2150859179,  # ERROR_WSMAN_QUOTA_MAX_SHELLUSERS
        2150859236,  # ERROR_WSMAN_QUOTA_MAX_SHELLS_PPQ
        2150859237,  # ERROR_WSMAN_QUOTA_MAX_USERS_PPQ
        2150859238,  # ERROR_WSMAN_QUOTA_MAX_PLUGINSHELLS_PPQ
        2150859239,  # ERROR_WSMAN_QUOTA_MAX_PLUGINOPERATIONS_PPQ
        2150859240,  # ERROR_WSMAN_QUOTA_MAX_OPERATIONS_USER_PPQ
        2150859241,  # ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ
    }
)
#: WSManFault Code for an operation timeout (ERROR_WSMAN_OPERATION_TIMEDOUT).
CODE_OPERATION_TIMEDOUT: Final = 2150858793

# -- WS-Eventing faults (WS-Eventing 2004/08 section 4; DSP0226 10, 14) -------
#: Subcodes (local names, in NS_EVENTING unless noted).
FAULT_DELIVERY_MODE_UNAVAILABLE: Final = "DeliveryModeRequestedUnavailable"
FAULT_INVALID_EXPIRATION_TIME: Final = "InvalidExpirationTime"
FAULT_UNSUPPORTED_EXPIRATION_TYPE: Final = "UnsupportedExpirationType"
FAULT_FILTERING_NOT_SUPPORTED: Final = "FilteringNotSupported"
FAULT_FILTERING_UNAVAILABLE: Final = "FilteringRequestedUnavailable"
FAULT_EVENT_SOURCE_UNABLE: Final = "EventSourceUnableToProcess"
FAULT_UNABLE_TO_RENEW: Final = "UnableToRenew"
FAULT_INVALID_MESSAGE: Final = "InvalidMessage"
#: In NS_WSMAN: an invalid or expired bookmark (DSP0226 10.2.6), and a feature
#: the service does not support (heartbeats, bookmarks...; DSP0226 14).
FAULT_INVALID_BOOKMARK: Final = "InvalidBookmark"
FAULT_UNSUPPORTED_FEATURE: Final = "UnsupportedFeature"
#: WSManFault codes of the eventing errors (wsmerror.h, ERROR_WSMAN_EVENTING_*).
CODE_EVENTING_DELIVERY_MODE_UNAVAILABLE: Final = 2150858782
CODE_EVENTING_INVALID_EXPIRATION_TIME: Final = 2150858783
CODE_EVENTING_FILTERING_NOT_SUPPORTED: Final = 2150858785
CODE_EVENTING_FILTERING_UNAVAILABLE: Final = 2150858786
CODE_EVENTING_SOURCE_UNABLE_TO_PROCESS: Final = 2150858787
CODE_EVENTING_UNABLE_TO_RENEW: Final = 2150858788
CODE_EVENTING_INVALID_MESSAGE: Final = 2150858789
CODE_EVENTING_INVALID_HEARTBEAT: Final = 2150858916
#: ERROR_WSMAN_SUBSCRIPTION_CLOSED: the subscription no longer exists.
CODE_SUBSCRIPTION_CLOSED: Final = 2150858760
#: Event log errors a provider reports inside a fault (winerror.h).
CODE_EVT_INVALID_QUERY: Final = 15001  # ERROR_EVT_INVALID_QUERY
CODE_EVT_CHANNEL_NOT_FOUND: Final = 15007  # ERROR_EVT_CHANNEL_NOT_FOUND
#: ERROR_WSMAN_QUOTA_MAX_SHELLS (0x803381A5): the user's MaxShellsPerUser is reached.
CODE_QUOTA_MAX_SHELLS: Final = 2150859173
#: ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ (0x803381E9): a shell plug-in's
#: MaxConcurrentCommandsPerShell is reached (the PowerShell plug-in's 1000
#: pipelines not terminated, pypsrp#148; Windows sends it as w:InternalError).
CODE_QUOTA_MAX_COMMANDS_PER_SHELL: Final = 2150859241
#: ERROR_WSMAN_INVALID_SELECTORS (0x8033805B), the code WinRS answers for a
#: ShellId or CommandId the service does not know (a shell that was deleted,
#: expired or never existed; corpus pypsrp-fault-invalidselectors-bad-commandid.xml).
CODE_INVALID_SELECTORS: Final = 2150858843
