"""The protocol constants are spelled as real servers and the specifications spell them.

The client and the test server share ``namespaces.py``, so a typo there would
be mirrored on both sides and no round trip could notice it. Each constant is
therefore checked against an independent source: the real captures in
``tests/corpus``, or, for the few values no capture carries, the document
that defines them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aiowsman.protocol import namespaces as ns

CORPUS = Path(__file__).parent / "corpus"


def _corpus_text() -> str:
    texts = []
    for path in sorted(CORPUS.glob("*.xml")):
        data = path.read_bytes()
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        texts.append(data.decode("utf-16" if utf16 else "utf-8", "replace"))
    return "\n".join(texts)


CAPTURED = _corpus_text()

#: Values no capture carries, as the defining document writes them.
FROM_SPECS: dict[str, object] = {
    "NS_XML": "http://www.w3.org/XML/1998/namespace",  # Namespaces in XML 1.0, 3
    "ACTION_RELEASE": "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release",  # WS-Enum 3.5
    "ACTION_RELEASE_RESPONSE": (
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse"
    ),
    "DIALECT_CQL": "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf",  # DSP0226 8.3
    "DIALECT_ASSOCIATION": (
        "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"  # DSP0227 8.2
    ),
    "DIALECT_XPATH": "http://www.w3.org/TR/1999/REC-xpath-19991116",  # DSP0226 8.3
    "DIALECT_FRAGMENT_XPATH_LEVEL1": "http://www.w3.org/TR/1999/REC-xpath-19991116",  # 7.7
    "ENUMERATION_MODE_EPR": "EnumerateEPR",  # DSP0226 8.7
    "POLYMORPHISM_INCLUDE_SUBCLASS": "IncludeSubClassProperties",  # DSP0227 8.1
    "POLYMORPHISM_EXCLUDE_SUBCLASS": "ExcludeSubClassProperties",  # DSP0227 8.1
    "POLYMORPHISM_NONE": "None",  # DSP0227 8.1
    "FAULT_INVALID_ENUMERATION_CONTEXT": "InvalidEnumerationContext",  # WS-Enumeration 4.1
    # wsmerror.h: ERROR_WSMAN_QUOTA_MAX_OPERATIONS
    "CODE_QUOTA_MAX_OPERATIONS": 0x803381A6,
    # wsmerror.h: ERROR_WSMAN_QUOTA_LIMIT and the ERROR_WSMAN_QUOTA_* family.
    "CODES_QUOTA": frozenset(
        {
            0x8033803F,  # QUOTA_LIMIT
            0x803381A5,  # QUOTA_MAX_SHELLS
            0x803381A6,  # QUOTA_MAX_OPERATIONS
            0x803381A7,  # QUOTA_USER
            0x803381A8,  # QUOTA_SYSTEM
            0x803381AB,  # QUOTA_MAX_SHELLUSERS
            0x803381E4,  # QUOTA_MAX_SHELLS_PPQ
            0x803381E5,  # QUOTA_MAX_USERS_PPQ
            0x803381E6,  # QUOTA_MAX_PLUGINSHELLS_PPQ
            0x803381E7,  # QUOTA_MAX_PLUGINOPERATIONS_PPQ
            0x803381E8,  # QUOTA_MAX_OPERATIONS_USER_PPQ
            0x803381E9,  # QUOTA_MAX_COMMANDS_PER_SHELL_PPQ
        }
    ),
    # WS-Eventing (2004/08) actions and fault subcodes.
    **{
        f"ACTION_{name}": f"http://schemas.xmlsoap.org/ws/2004/08/eventing/{action}"
        for name, action in {
            "SUBSCRIBE": "Subscribe",
            "SUBSCRIBE_RESPONSE": "SubscribeResponse",
            "RENEW": "Renew",
            "RENEW_RESPONSE": "RenewResponse",
            "UNSUBSCRIBE": "Unsubscribe",
            "UNSUBSCRIBE_RESPONSE": "UnsubscribeResponse",
            "SUBSCRIPTION_END": "SubscriptionEnd",
            "FAULT_EVENTING": "fault",
        }.items()
    },
    "FAULT_DELIVERY_MODE_UNAVAILABLE": "DeliveryModeRequestedUnavailable",
    "FAULT_EVENT_SOURCE_UNABLE": "EventSourceUnableToProcess",
    "FAULT_FILTERING_NOT_SUPPORTED": "FilteringNotSupported",
    "FAULT_FILTERING_UNAVAILABLE": "FilteringRequestedUnavailable",
    "FAULT_INVALID_EXPIRATION_TIME": "InvalidExpirationTime",
    "FAULT_UNABLE_TO_RENEW": "UnableToRenew",
    "FAULT_UNSUPPORTED_EXPIRATION_TYPE": "UnsupportedExpirationType",
    # DSP0226 10 (eventing) and Annex: WS-Man's own event URIs and faults.
    "ACTION_EVENT": "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event",
    "ACTION_HEARTBEAT": "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat",
    "DELIVERY_MODE_PULL": "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull",
    "BOOKMARK_EARLIEST": "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest",
    "FAULT_INVALID_BOOKMARK": "InvalidBookmark",
    "FAULT_UNSUPPORTED_FEATURE": "UnsupportedFeature",
    # MS-WSMV 2.2.4 (shell signals, command state) and MS-PSRP (its own spelling).
    "SIGNAL_TERMINATE": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate",
    "SIGNAL_CTRL_BREAK": (
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_break"
    ),
    "SIGNAL_PS_CTRL_C": "http://schemas.microsoft.com/powershell/signal/crtl_c",
    "COMMAND_STATE_PENDING": (
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Pending"
    ),
    # wsmerror.h ERROR_WSMAN_EVENTING_* and winerror.h ERROR_EVT_*.
    "CODE_EVENTING_DELIVERY_MODE_UNAVAILABLE": 0x8033801E,
    "CODE_EVENTING_INVALID_EXPIRATION_TIME": 0x8033801F,
    "CODE_EVENTING_FILTERING_NOT_SUPPORTED": 0x80338021,
    "CODE_EVENTING_FILTERING_UNAVAILABLE": 0x80338022,
    "CODE_EVENTING_INVALID_MESSAGE": 0x80338025,
    "CODE_EVENTING_INVALID_HEARTBEAT": 0x803380A4,
    "CODE_EVENTING_SOURCE_UNABLE_TO_PROCESS": 0x80338023,
    "CODE_EVENTING_UNABLE_TO_RENEW": 0x80338024,
    "CODE_SUBSCRIPTION_CLOSED": 0x80338008,
    # wsmerror.h ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ (the PowerShell
    # plug-in's MaxConcurrentCommandsPerShell).
    "CODE_QUOTA_MAX_COMMANDS_PER_SHELL": 0x803381E9,
    "CODE_EVT_INVALID_QUERY": 15001,
    "CODE_EVT_CHANNEL_NOT_FOUND": 15007,
    # MS-WSMV and the Windows event schema: the EventLog resource, its query dialect, event XML.
    "URI_EVENTLOG": "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog",
    "DIALECT_EVENT_QUERY": "http://schemas.microsoft.com/win/2004/08/events/eventquery",
    "NS_WINDOWS_EVENT": "http://schemas.microsoft.com/win/2004/08/events/event",
}

CONSTANTS = sorted(
    name
    for name, value in vars(ns).items()
    if name.isupper() and isinstance(value, str | int | frozenset) and name not in FROM_SPECS
)


@pytest.mark.parametrize("name", CONSTANTS)
def test_constant_is_spelled_as_in_a_real_capture(name: str) -> None:
    value = getattr(ns, name)
    assert str(value) in CAPTURED, f"{name} = {value!r} is in no capture"


@pytest.mark.parametrize("name", sorted(FROM_SPECS))
def test_constant_no_capture_carries_is_spelled_as_its_specification(name: str) -> None:
    assert getattr(ns, name) == FROM_SPECS[name]


def test_prefixes_map_to_the_namespaces_windows_binds_them_to() -> None:
    # Cosmetic (parsing resolves URIs), but kept as the Windows client writes them
    # (corpus omi-*-request-windows-client.xml).
    assert ns.PREFIXES == {
        "s": ns.NS_SOAP,
        "a": ns.NS_ADDRESSING,
        "n": ns.NS_ENUMERATION,
        "x": ns.NS_TRANSFER,
        "w": ns.NS_WSMAN,
        "p": ns.NS_WSMAN_MSFT,
        "b": ns.NS_WSMAN_CIMBINDING,
        "cim": ns.NS_CIM_COMMON,
        "wsmid": ns.NS_WSMAN_IDENTITY,
        "e": ns.NS_EVENTING,
        "xsi": ns.NS_XSI,
    }
