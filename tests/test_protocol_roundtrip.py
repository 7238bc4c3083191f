"""Parsed values equal what the test server rendered (its renderer is independent).

The fuzz tests (``test_fuzz_response.py``) show that no input crashes the
parser; these show that it reads the right VALUES. Hypothesis generates
instances and faults; the test server's own renderer (``aiowsman.testing``,
which never imports the client's builders or parsers) turns them into XML
the way Windows does; the client parses them; every value must come back as
the Python value that was rendered.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aiowsman.errors import (
    CommandQuotaExceededFault,
    InvalidEnumerationContextFault,
    OperationQuotaExceededFault,
    OperationTimedOutFault,
    QuotaExceededFault,
    ShellQuotaExceededFault,
    WSManFault,
)
from aiowsman.protocol import (
    EndpointReference,
    Item,
    Request,
    check_response,
    parse_enumeration,
    parse_envelope,
    parse_identify,
    parse_invoke,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.testing._behaviour import HostBehaviour
from aiowsman.testing._cim import (
    CimReference,
    CimValue,
    render_instance,
    render_method_output,
    render_properties_fragment,
)
from aiowsman.testing._faults import Fault, render_fault
from aiowsman.testing._host import SimulatedHost
from aiowsman.testing._xml import ENVELOPE_ENUMERATION, ENVELOPE_TRANSFER

MID = "uuid:0A1B2C3D-4E5F-4A6B-8C7D-8E9FA0B1C2D3"
ROUND_TRIP = settings(max_examples=60, deadline=None)

# -- values ------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True).filter(
    lambda n: not n.lower().startswith("xml")
)
# Text XML 1.0 carries unchanged (no CR: parsers normalise it to LF, XML 2.11).
xml_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\ufffe\uffff").filter(
        lambda c: c in "\t\n" or ord(c) >= 0x20
    ),
    max_size=30,
).filter(lambda s: not (len(s) == 25 and s[14] == "."))  # a DMTF datetime's shape
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
datetimes = st.datetimes(
    min_value=dt.datetime(1601, 1, 2),
    max_value=dt.datetime(9999, 12, 30),
    timezones=st.one_of(st.none(), offsets),
)
key_text = st.text(string.ascii_letters + string.digits + " -_.:\\", min_size=1, max_size=12)
references = st.builds(
    CimReference,
    class_name=st.from_regex(r"Win32_[A-Za-z]{1,10}", fullmatch=True),
    keys=st.dictionaries(names, key_text, min_size=1, max_size=3).map(lambda d: tuple(d.items())),
)
scalars = st.one_of(
    xml_text,
    st.integers(-(2**63), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    datetimes,
    references,
)
# A one-element array renders as a plain property: arrays have two elements or more.
values = st.one_of(scalars, st.lists(scalars, min_size=2, max_size=4))
instances = st.dictionaries(names, values, max_size=8)


def expected(value: CimValue) -> Any:
    """The Python value the client must read for what the server rendered."""
    if isinstance(value, list):
        return [expected(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"  # CIM booleans stay text (no guessing)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    assert isinstance(value, CimReference)
    # Selector values are stripped (OMI pads them).
    keys = {k: v.strip() for k, v in value.keys}
    return EndpointReference(ns.ADDRESS_ANONYMOUS, value.resource_uri, keys)


def assert_values(item: Item, values: dict[str, CimValue]) -> None:
    got = item.to_dict()
    assert got == {name: expected(value) for name, value in values.items()}
    for name, value in values.items():
        if isinstance(value, dt.datetime):  # equal instants may differ in offset
            assert got[name].utcoffset() == expected(value).utcoffset()


def enumeration_envelope(items: str) -> bytes:
    body = (
        "<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext>"
        f"<w:Items>{items}</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
    )
    text = SimulatedHost._envelope(
        ENVELOPE_ENUMERATION, ns.ACTION_ENUMERATE_RESPONSE, MID, body, None
    )
    return text.encode()


# -- instances ------------------------------------------------------------------------


@ROUND_TRIP
@given(
    class_name=st.from_regex(r"Win32_[A-Za-z]{1,12}", fullmatch=True),
    batch=st.lists(instances, max_size=3),
)
def test_enumerated_instances_read_back_as_rendered(
    class_name: str, batch: list[dict[str, CimValue]]
) -> None:
    data = enumeration_envelope("".join(render_instance(class_name, values) for values in batch))
    env = parse_envelope(data)
    check_response(env, Request("Enumerate", "", MID, b""), 200)
    result = parse_enumeration(env)
    assert result.end_of_sequence and result.context is None
    assert len(result.items) == len(batch)
    for item, values in zip(result.items, batch):
        assert isinstance(item, Item)
        assert item.name == class_name
        assert item.namespace == f"{ns.URI_WMICIMV2}/{class_name}"
        assert_values(item, values)


@ROUND_TRIP
@given(values=instances)
def test_wql_projection_fragments_read_back_as_rendered(values: dict[str, CimValue]) -> None:
    data = enumeration_envelope(render_properties_fragment(values, list(values)))
    (item,) = parse_enumeration(parse_envelope(data)).items
    assert isinstance(item, Item) and item.name == "XmlFragment"
    assert_values(item, values)


@ROUND_TRIP
@given(method=names, outputs=instances)
def test_method_output_reads_back_as_rendered(method: str, outputs: dict[str, CimValue]) -> None:
    body = render_method_output("Win32_Service", method, outputs)
    action = f"{ns.URI_WMICIMV2}/Win32_Service/{method}Response"
    data = SimulatedHost._envelope(ENVELOPE_TRANSFER, action, MID, body, None).encode()
    env = parse_envelope(data)
    assert env.action == action and env.relates_to == MID
    item = parse_invoke(env)
    assert item.name == f"{method}_OUTPUT"
    assert_values(item, outputs)


# -- faults ----------------------------------------------------------------------------

SUBCODES = [
    "w:TimedOut",
    "n:InvalidEnumerationContext",
    "w:QuotaLimit",
    "w:InvalidSelectors",
    "w:AccessDenied",
    "w:InternalError",
    None,
]
WSMAN_CODES = st.one_of(
    st.none(),
    st.integers(0, 2**32 - 1),
    st.sampled_from([ns.CODE_OPERATION_TIMEDOUT, *sorted(ns.CODES_QUOTA)]),
)


def expected_class(subcode: str | None, code: int | None) -> type[WSManFault]:
    if subcode == "w:TimedOut" or code == ns.CODE_OPERATION_TIMEDOUT:
        return OperationTimedOutFault
    if subcode == "n:InvalidEnumerationContext":
        return InvalidEnumerationContextFault
    if code == ns.CODE_QUOTA_MAX_SHELLS:
        return ShellQuotaExceededFault
    if code == ns.CODE_QUOTA_MAX_OPERATIONS:
        return OperationQuotaExceededFault
    if code == ns.CODE_QUOTA_MAX_COMMANDS_PER_SHELL:
        return CommandQuotaExceededFault
    if subcode == "w:QuotaLimit" or code in ns.CODES_QUOTA:
        return QuotaExceededFault
    return WSManFault


def squashed(text: str) -> str | None:
    return " ".join(text.split()) or None


@ROUND_TRIP
@given(
    subcode=st.sampled_from(SUBCODES),
    code=st.sampled_from(["s:Sender", "s:Receiver"]),
    reason=xml_text,
    message=xml_text,
    wsman_code=WSMAN_CODES,
    provider=st.booleans(),
    machine=key_text,
    status=st.sampled_from([400, 500]),
)
def test_faults_read_back_as_rendered(
    subcode: str | None,
    code: str,
    reason: str,
    message: str,
    wsman_code: int | None,
    provider: bool,
    machine: str,
    status: int,
) -> None:
    fault = Fault(
        subcode, reason, code=code, wsman_code=wsman_code, message=message, provider_fault=provider
    )
    data = render_fault(fault, relates_to=MID, machine=machine).encode()
    env = parse_envelope(data)
    try:
        check_response(env, Request("Get", "", MID, b""), status)
    except WSManFault as exc:
        raised = exc
    else:
        raise AssertionError("a fault was not raised")
    assert type(raised) is expected_class(subcode, wsman_code)
    detail = raised.fault
    assert raised.http_status == status
    assert detail.code == code.partition(":")[2]
    assert detail.subcode == (subcode.partition(":")[2] if subcode else None)
    if subcode:
        prefix = subcode.partition(":")[0]
        assert detail.subcode_namespace == {"w": ns.NS_WSMAN, "n": ns.NS_ENUMERATION}[prefix]
    assert detail.reason == squashed(reason)
    assert (detail.action, detail.relates_to) == (fault.action, MID)
    assert detail.wsman_code == wsman_code
    if wsman_code is not None:
        assert detail.machine == machine.strip()
        # The provider's message is flattened into the outer one (as Windows nests it).
        assert detail.wsman_message == squashed(message)
        assert detail.provider == ("WMI Provider" if provider else None)
        assert detail.provider_message == (squashed(message) if provider else None)


# -- Identify ---------------------------------------------------------------------------


@ROUND_TRIP
@given(
    index=st.integers(0, 50),
    authenticated=st.booleans(),
    profiles=st.lists(st.from_regex(r"http://[a-z]{1,8}/[a-z/]{1,12}", fullmatch=True), max_size=3),
)
def test_identify_reads_back_as_rendered(
    index: int, authenticated: bool, profiles: list[str]
) -> None:
    host = SimulatedHost(index, seed=7, behaviour=HostBehaviour())
    result = parse_identify(
        parse_envelope(host.identify(authenticated=authenticated, profiles=profiles).encode())
    )
    assert result.protocol_version == ns.NS_WSMAN
    assert result.product_vendor == "Microsoft Corporation"
    assert result.product_version is not None and result.product_version.startswith("OS: ")
    assert result.product_version.endswith(" SP: 0.0 Stack: 3.0")
    assert (" 0.0.0 " in result.product_version) is not authenticated
    assert result.security_profiles == (tuple(profiles) if authenticated else ())
    assert result.extra == {}
