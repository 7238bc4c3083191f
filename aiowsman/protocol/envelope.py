"""Request builders: one function per WS-Management operation, each returning a :class:`Request`.

Envelopes are rendered from pre-built string templates with strict escaping
(this is the hot path of a fan-out; ``lxml`` tree building costs several
times more). Every value that comes from a caller goes through
:func:`escape_text` or :func:`escape_attr`, which escape the XML
metacharacters, encode ``\\r`` and (in attributes) tab/newline as character
references so values round-trip exactly, and refuse characters XML 1.0 cannot
carry. Element names taken from callers (property and method names) are
checked to be XML names. A value therefore can never change the envelope's
structure.

Headers follow the Windows client (corpus ``omi-*-request-windows-client.xml``)
and DSP0226:

* ``wsa:To``, ``wsa:ReplyTo`` (anonymous, ``mustUnderstand``), ``wsa:Action``
  (``mustUnderstand``), ``wsa:MessageID`` -- DSP0226 5.4 (R5.4.2-*);
* ``w:ResourceURI`` (``mustUnderstand``) -- 5.1;
* ``w:MaxEnvelopeSize`` (``mustUnderstand``) -- 6.2;
* ``w:OperationTimeout`` -- 6.1;
* ``w:Locale`` and ``p:DataLocale`` (``mustUnderstand="false"``) -- 6.3,
  MS-WSMV 2.2.4.8;
* ``w:SelectorSet`` -- 7.2; ``w:OptionSet`` (``mustUnderstand`` when an
  option must comply) -- 6.4; ``w:FragmentTransfer`` (``mustUnderstand``) -- 7.7.

Identify carries none of these: DSP0226 11 requires an Identify request to
have no WS-Addressing headers.
"""

from __future__ import annotations

import enum
import itertools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from ..errors import ConfigurationError, ProtocolError
from . import namespaces as ns
from .durations import format_duration, format_interval
from .items import Item
from .locator import EndpointReference, ResourceLocator
from .xml import parse_xml

__all__ = [
    "DATETIME_FORMATS",
    "AssociationFilter",
    "DatetimeFormat",
    "EnumerationMode",
    "Polymorphism",
    "Request",
    "RequestOptions",
    "create_request",
    "delete_request",
    "enumerate_request",
    "escape_attr",
    "escape_text",
    "get_request",
    "holds_temporal",
    "identify_request",
    "invoke_request",
    "new_message_id",
    "pull_request",
    "put_request",
    "release_request",
]


@dataclass(frozen=True)
class Request:
    """A request ready to send.

    Attributes:
        operation: ``"Get"``, ``"Enumerate"``, ``"Pull"``, ``"Invoke"`` ...
        action: the ``wsa:Action`` URI ("" for Identify, which has none).
        message_id: the ``wsa:MessageID`` (``uuid:...``; "" for Identify).
        body: the UTF-8 SOAP envelope.
        cim_namespace: the ``__cimnamespace`` selector it addressed, if any:
            pass it to :func:`~aiowsman.protocol.response.parse_envelope` so
            references in the answer keep it (see :mod:`.locator`).
    """

    operation: str
    action: str
    message_id: str
    body: bytes
    cim_namespace: str | None = None


#: How CIM datetimes and intervals are written in request bodies.
#:
#: * ``"cim"``: in the DSP0230 (WS-CIM) wrapper, ``<p:X><cim:Datetime>ISO
#:   8601</cim:Datetime></p:X>`` (``cim:Interval``, ``cim:Date``,
#:   ``cim:Time``), as the Windows WinRM client writes them and Windows
#:   expects them;
#: * ``"bare"``: the value as the element's text, ``<p:X>2001-01-01T01:01:01
#:   .000001+13:50</p:X>`` (an ``xs:duration`` for an interval), as OMI writes
#:   them to every client but the Windows one, and the only form it reads (a
#:   wrapper element is taken for an embedded instance and refused).
DatetimeFormat = Literal["cim", "bare"]
DATETIME_FORMATS: tuple[DatetimeFormat, ...] = ("cim", "bare")


@dataclass(frozen=True)
class RequestOptions:
    """Per-session header values.

    Attributes:
        to: the endpoint URL (``wsa:To``).
        max_envelope_size: ``w:MaxEnvelopeSize`` in bytes (DSP0226 6.2;
            WinRM's default service limit is 500 KB, hence 512000).
        operation_timeout: seconds for ``w:OperationTimeout``, or None to omit.
        locale: ``w:Locale`` language, or None to omit.
        data_locale: ``p:DataLocale`` language (MS-WSMV 2.2.4.9), or None.
        datetime_format: how datetime, date, time and timedelta values of a
            Put, Create or Invoke body are written (see :data:`DATETIME_FORMATS`).
    """

    to: str
    max_envelope_size: int = 512000
    operation_timeout: float | None = 60.0
    locale: str | None = "en-US"
    data_locale: str | None = None
    datetime_format: DatetimeFormat = "cim"


class EnumerationMode(enum.Enum):
    """What an enumeration returns (DSP0226 8.7 ``w:EnumerationMode``)."""

    OBJECTS = None
    EPR = ns.ENUMERATION_MODE_EPR
    OBJECT_AND_EPR = ns.ENUMERATION_MODE_OBJECT_AND_EPR


class Polymorphism(enum.Enum):
    """``wsmb:PolymorphismMode`` (DSP0227 8.1) for the scripting API's hierarchy flags.

    ``DEEP`` is WSManFlagHierarchyDeep (subclass instances with their own
    properties; the default), ``SHALLOW`` WSManFlagHierarchyShallow (no
    subclass instances), ``DEEP_BASE_PROPS_ONLY``
    WSManFlagHierarchyDeepBasePropsOnly. Windows' service ignores the element
    (MS-WSMV 3.1.4.8.1); OMI and openwsman honour it.
    """

    DEEP = ns.POLYMORPHISM_INCLUDE_SUBCLASS
    SHALLOW = ns.POLYMORPHISM_NONE
    DEEP_BASE_PROPS_ONLY = ns.POLYMORPHISM_EXCLUDE_SUBCLASS


@dataclass(frozen=True)
class AssociationFilter:
    """A CIM association filter (DSP0227 8.2).

    Attributes:
        object: the source instance.
        instances: True for ``AssociationInstances`` (the association
            objects themselves), False for ``AssociatedInstances`` (the
            instances at the other end; the default).
        association_class_name, result_class_name, role, result_role:
            the optional filter fields (``ResultRole`` and
            ``AssociationClassName`` apply to AssociatedInstances only).
        include_result_property: property names to include.
    """

    object: EndpointReference | ResourceLocator
    instances: bool = False
    association_class_name: str | None = None
    result_class_name: str | None = None
    role: str | None = None
    result_role: str | None = None
    include_result_property: Sequence[str] = field(default_factory=tuple)


_DIALECTS = {
    "wql": ns.DIALECT_WQL,
    "cql": ns.DIALECT_CQL,
    "selector": ns.DIALECT_SELECTOR,
    "association": ns.DIALECT_ASSOCIATION,
    "xpath": ns.DIALECT_XPATH,
}

# -- escaping -----------------------------------------------------------------

# Characters XML 1.0 cannot carry at all (2.2 "Char"), including lone surrogates.
_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTR_SPECIAL = re.compile('[&<>"\t\n\r]')
_REFS = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "\r": "&#13;",  # else parsers normalise CR/CRLF to LF (XML 2.11)
    "\n": "&#10;",  # attributes only: else normalised to a space (3.3.3)
    "\t": "&#9;",
}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _sub(m: re.Match[str]) -> str:
    return _REFS[m.group()]


def _check_chars(value: str) -> None:
    bad = _INVALID_CHARS.search(value)
    if bad is not None:
        raise ConfigurationError(
            f"character U+{ord(bad.group()):04X} cannot be sent in XML 1.0 (value {value!r})"
        )


def escape_text(value: str) -> str:
    """Escape a string for element content; refuses characters XML cannot carry.

    Raises:
        ConfigurationError: the value contains a character outside XML 1.0's Char.
    """
    if value.isascii() and value.isprintable():
        if "&" in value or "<" in value or ">" in value:
            return _TEXT_SPECIAL.sub(_sub, value)
        return value
    _check_chars(value)
    return _TEXT_SPECIAL.sub(_sub, value)


def escape_attr(value: str) -> str:
    """Escape a string for a double-quoted attribute value.

    Raises:
        ConfigurationError: the value contains a character outside XML 1.0's Char.
    """
    if not (value.isascii() and value.isprintable()):
        _check_chars(value)
    return _ATTR_SPECIAL.sub(_sub, value)


def _check_name(name: str, what: str) -> str:
    if not _NAME_RE.match(name) or name[:3].lower() == "xml":
        raise ConfigurationError(f"{what} {name!r} is not a valid XML element name")
    return name


# MessageIDs: DSP0226 R5.4.4-1 wants every MessageID unique and recommends
# the ``uuid:`` form (RFC 4122 text, upper-case as Windows sends it). A fresh
# ``uuid.uuid4()`` per request costs a urandom syscall and a UUID object
# (~6 us, a measurable part of a loopback Get); instead each process draws
# random bits for the middle fields once and counts in the 48-bit node field
# from a random start, so IDs stay unique within the process (2**48 requests
# before a repeat) and as unlikely to collide across processes as UUID4s.
# The first field (32 bits) is fresh randomness for every ID, taken from a
# pool refilled by one urandom call per 1024 IDs: a server that has seen one
# MessageID cannot predict the next, so it cannot forge an answer whose
# RelatesTo would match a request not yet sent (see check_response). A
# forked child draws afresh (it must not replay the parent's IDs). Version
# nibble 4 and the RFC 4122 variant keep the text a valid UUID.
_MASK_48 = (1 << 48) - 1
_POOL_IDS = 1024


def _message_id_state() -> tuple[str, itertools.count[int]]:
    raw = int.from_bytes(os.urandom(12), "big")
    middle = raw >> 48  # 48 bits: time_mid, time_hi_and_version, clock_seq
    middle = (middle & ~(0xF << 28)) | (0x4 << 28)  # version 4 (time_hi_and_version)
    middle = (middle & ~(0x3 << 14)) | (0x2 << 14)  # RFC 4122 variant (clock_seq: 10xx)
    text = f"{middle:012X}"
    return f"-{text[:4]}-{text[4:8]}-{text[8:12]}-", itertools.count(raw & _MASK_48)


def _fresh_fields() -> Iterator[str]:
    pool = os.urandom(4 * _POOL_IDS).hex().upper()
    return iter([pool[i : i + 8] for i in range(0, len(pool), 8)])


_ID_MIDDLE, _ID_COUNTER = _message_id_state()
_id_fields: Iterator[str] = iter(())


def _reseed_message_ids() -> None:
    global _ID_MIDDLE, _ID_COUNTER, _id_fields
    _ID_MIDDLE, _ID_COUNTER = _message_id_state()
    _id_fields = iter(())


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_reseed_message_ids)


def new_message_id() -> str:
    """A fresh, unique, unpredictable ``wsa:MessageID``: ``uuid:`` + an upper-case RFC 4122 UUID."""
    global _id_fields
    fresh = next(_id_fields, None)
    if fresh is None:
        _id_fields = _fresh_fields()
        fresh = next(_id_fields)
    return f"uuid:{fresh}{_ID_MIDDLE}{next(_ID_COUNTER) & _MASK_48:012X}"


# -- templates ----------------------------------------------------------------

_ENVELOPE_OPEN = (
    f'<s:Envelope xmlns:s="{ns.NS_SOAP}" xmlns:a="{ns.NS_ADDRESSING}" '
    f'xmlns:n="{ns.NS_ENUMERATION}" xmlns:x="{ns.NS_TRANSFER}" xmlns:w="{ns.NS_WSMAN}" '
    f'xmlns:p="{ns.NS_WSMAN_MSFT}" xmlns:b="{ns.NS_WSMAN_CIMBINDING}" '
    f'xmlns:cim="{ns.NS_CIM_COMMON}" xmlns:xsi="{ns.NS_XSI}"><s:Header>'
)
_REPLY_TO = (
    f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ns.ADDRESS_ANONYMOUS}</a:Address></a:ReplyTo>'
)


def _session_headers(opts: RequestOptions) -> tuple[str, str]:
    """The headers that only depend on the session's options: (``wsa:To``, the rest).

    Rendered once per options object and kept on it (a memo, not a field:
    equality and hashing ignore it; set past the frozen dataclass's guard, as
    ``functools.cached_property`` would). All but wsa:To are the same for
    every session of a fan-out (one per host, each with its own To), so they
    are rendered once for all and shared: a session keeps its short To and a
    reference, not a copy of the whole header block.
    """
    parts: tuple[str, str] | None = getattr(opts, "_headers", None)
    if parts is None:
        key = (opts.max_envelope_size, opts.operation_timeout, opts.locale, opts.data_locale)
        rest = _options_headers_cache.get(key)
        if rest is None:
            rest = _options_headers(opts)
            if len(_options_headers_cache) >= _HEAD_CACHE_SIZE:
                _options_headers_cache.clear()
            _options_headers_cache[key] = rest
        parts = (f"<a:To>{escape_text(opts.to)}</a:To>", rest)
        object.__setattr__(opts, "_headers", parts)
    return parts


def _options_headers(opts: RequestOptions) -> str:
    parts = [_REPLY_TO]
    if opts.max_envelope_size <= 0:
        raise ConfigurationError("max_envelope_size must be positive")
    parts.append(
        f'<w:MaxEnvelopeSize s:mustUnderstand="true">{int(opts.max_envelope_size)}'
        "</w:MaxEnvelopeSize>"
    )
    if opts.operation_timeout is not None:
        try:
            timeout = format_duration(opts.operation_timeout)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        parts.append(f"<w:OperationTimeout>{timeout}</w:OperationTimeout>")
    if opts.locale:
        parts.append(f'<w:Locale xml:lang="{escape_attr(opts.locale)}" s:mustUnderstand="false"/>')
    if opts.data_locale:
        parts.append(
            f'<p:DataLocale xml:lang="{escape_attr(opts.data_locale)}" s:mustUnderstand="false"/>'
        )
    return "".join(parts)


def _selector_set_xml(selectors: Mapping[str, str | EndpointReference]) -> str:
    out = ["<w:SelectorSet>"]
    for name, value in selectors.items():
        if isinstance(value, EndpointReference):
            out.append(
                f'<w:Selector Name="{escape_attr(name)}">'
                f"<a:EndpointReference>{_epr_xml(value)}</a:EndpointReference></w:Selector>"
            )
        else:
            out.append(f'<w:Selector Name="{escape_attr(name)}">{escape_text(value)}</w:Selector>')
    out.append("</w:SelectorSet>")
    return "".join(out)


def _epr_xml(epr: EndpointReference) -> str:
    # The children of an EPR element: Address + ReferenceParameters (DSP0226 5.1).
    out = [f"<a:Address>{escape_text(epr.address or ns.ADDRESS_ANONYMOUS)}</a:Address>"]
    out.append("<a:ReferenceParameters>")
    if epr.resource_uri:
        out.append(f"<w:ResourceURI>{escape_text(epr.resource_uri)}</w:ResourceURI>")
    if epr.selectors:
        out.append(_selector_set_xml(epr.selectors))
    out.append("</a:ReferenceParameters>")
    return "".join(out)


def _locator_headers(locator: ResourceLocator, *, fragment: str | None = None) -> str:
    if not locator.resource_uri:
        raise ConfigurationError("a resource URI is required")
    uri = escape_text(locator.resource_uri)
    parts = [f'<w:ResourceURI s:mustUnderstand="true">{uri}</w:ResourceURI>']
    if locator.selectors:
        parts.append(_selector_set_xml(locator.selectors))
    if locator.options:
        mu = ' s:mustUnderstand="true"' if locator.options_must_understand else ""
        parts.append(f"<w:OptionSet{mu}>")
        for opt in locator.options:
            attrs = f' Name="{escape_attr(opt.name)}"'
            if opt.type:
                attrs += f' Type="{escape_attr(opt.type)}"'
            if opt.must_comply:
                attrs += ' MustComply="true"'
            if opt.value is None:
                parts.append(f'<w:Option{attrs} xsi:nil="true"/>')
            else:
                parts.append(f"<w:Option{attrs}>{escape_text(opt.value)}</w:Option>")
        parts.append("</w:OptionSet>")
    path = fragment if fragment is not None else locator.fragment_path
    if path:
        dialect = locator.fragment_dialect
        d_attr = f' Dialect="{escape_attr(dialect)}"' if dialect else ""
        parts.append(
            f'<w:FragmentTransfer s:mustUnderstand="true"{d_attr}>{escape_text(path)}'
            "</w:FragmentTransfer>"
        )
    return "".join(parts)


# Rendered header templates, so a request costs a few dictionary lookups, a
# MessageID and one join instead of escaping and formatting every header
# again. Before the MessageID: the session's headers (wsa:To and the
# RequestOptions values, _session_headers: kept on the options object, which
# lives and dies with its session; the part after To is shared by every
# session with the same values, so a fan-out's thousand sessions keep a
# thousand short To headers, not a thousand copies of the block) and the
# action (by action, shared). After it, up to the Body: the locator's. Locators
# are mutable, so their key is their content (URI, selectors, fragment), in a
# bounded cache shared by every session (a fan-out sends the same locator to
# every host; a full cache is simply dropped: re-rendering costs microseconds);
# options are part of the key too (a shell's Create and Command carry
# theirs); a value that cannot be hashed (put in by hand) is rendered
# afresh each time.
_TEMPLATE_CACHE_SIZE = 1024
_locator_cache: dict[tuple[object, ...], str] = {}
_HEAD_CACHE_SIZE = 64
_action_cache: dict[str, str] = {}
#: The session headers after wsa:To, by (MaxEnvelopeSize, OperationTimeout,
#: Locale, DataLocale): the same for every host of a fan-out.
_options_headers_cache: dict[tuple[object, ...], str] = {}


def _action_header(action: str) -> str:
    # wsa:Action and the opening of wsa:MessageID: one per action for all sessions.
    part = _action_cache.get(action)
    if part is None:
        part = f'<a:Action s:mustUnderstand="true">{escape_text(action)}</a:Action><a:MessageID>'
        if len(_action_cache) >= _TEMPLATE_CACHE_SIZE:
            _action_cache.clear()
        _action_cache[action] = part
    return part


def _locator_part(locator: ResourceLocator, fragment: str | None) -> str:
    selectors = locator.selectors
    options = locator.options
    key = (
        locator.resource_uri,
        tuple(selectors.items()) if selectors else (),
        fragment if fragment is not None else locator.fragment_path,
        locator.fragment_dialect,
        (tuple(options), locator.must_understand_options) if options else None,
    )
    try:
        part = _locator_cache.get(key)
    except TypeError:  # an unhashable selector value put in by hand: no caching
        return _locator_headers(locator, fragment=fragment)
    if part is None:
        part = _locator_headers(locator, fragment=fragment)
        if len(_locator_cache) >= _TEMPLATE_CACHE_SIZE:
            _locator_cache.clear()
        _locator_cache[key] = part
    return part


def _build(
    operation: str,
    action: str,
    opts: RequestOptions,
    locator: ResourceLocator,
    body: str,
    *,
    fragment: str | None = None,
    headers: str = "",
) -> Request:
    # ``headers``: more header blocks, already rendered (the reference
    # parameters of an EPR the request is sent to, WS-Addressing 3.3).
    message_id = new_message_id()
    to, rest = _session_headers(opts)
    xml = "".join(
        (
            _ENVELOPE_OPEN,
            to,
            rest,
            _action_header(action),
            message_id,
            "</a:MessageID>",
            _locator_part(locator, fragment),
            headers,
            "</s:Header>",
            f"<s:Body>{body}</s:Body>" if body else "<s:Body/>",
            "</s:Envelope>",
        )
    )
    return Request(operation, action, message_id, xml.encode("utf-8"), locator.cim_namespace)


# -- body values --------------------------------------------------------------

Resource = Mapping[str, Any] | Item | str | bytes


def _value_xml(prefix: str, name: str, value: Any, fmt: DatetimeFormat = "cim") -> str:
    checked = _check_name(name, "property name")
    tag = f"{prefix}:{checked}" if prefix else checked
    if value is None:
        return f'<{tag} xsi:nil="true"/>'
    if isinstance(value, list | tuple):
        return "".join(_value_xml(prefix, name, v, fmt) for v in value)
    if isinstance(value, bool):
        return f"<{tag}>{'true' if value else 'false'}</{tag}>"
    if isinstance(value, int | float | str):
        return f"<{tag}>{escape_text(str(value))}</{tag}>"
    temporal = _temporal_text(name, value)
    if temporal is not None:
        wrapper, text = temporal
        if fmt == "bare":
            return f"<{tag}>{text}</{tag}>"
        return f"<{tag}><cim:{wrapper}>{text}</cim:{wrapper}></{tag}>"
    if isinstance(value, EndpointReference):
        return f"<{tag}>{_epr_xml(value)}</{tag}>"
    if isinstance(value, Item):
        return f"<{tag}>{value.xml.decode('utf-8')}</{tag}>"
    if isinstance(value, Mapping):
        inner = "".join(_value_xml(prefix, str(k), v, fmt) for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    raise ConfigurationError(f"cannot send a value of type {type(value).__name__} for {name!r}")


def _temporal_text(name: str, value: object) -> tuple[str, str] | None:
    """``(DSP0230 wrapper name, xs: text)`` of a datetime, date, time or interval; else None.

    Raises:
        ConfigurationError: a negative interval (CIM has none).
    """
    if isinstance(value, datetime):
        return "Datetime", value.isoformat()
    if isinstance(value, date):
        return "Date", value.isoformat()
    if isinstance(value, time):
        return "Time", value.isoformat()
    if isinstance(value, timedelta):
        try:
            return "Interval", format_interval(value)
        except ValueError:
            raise ConfigurationError(f"negative interval for {name!r}") from None
    return None


def holds_temporal(resource: object) -> bool:
    """True when a Put/Create/Invoke mapping holds a datetime, date, time or
    timedelta anywhere (lists and nested mappings included): only then does
    :attr:`RequestOptions.datetime_format` change the body. Items and raw
    XML are sent as they are."""
    if isinstance(resource, Item) or not isinstance(resource, Mapping | list | tuple):
        return isinstance(resource, date | time | timedelta)
    values = resource.values() if isinstance(resource, Mapping) else resource
    return any(holds_temporal(v) for v in values)


def _raw_xml(value: str | bytes) -> str:
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    _check_chars(text)
    if "<?" in text:
        # SOAP 1.2 part 1, 5: a SOAP message must not contain processing instructions.
        raise ConfigurationError("raw XML body contains a processing instruction")
    # Validate: it must parse as element content, with the envelope's prefixes
    # in scope, so it can neither break out of s:Body nor smuggle a DTD.
    declarations = " ".join(f'xmlns:{p}="{u}"' for p, u in ns.PREFIXES.items())
    try:
        parse_xml(f"<wrapper {declarations}>{text}</wrapper>".encode())
    except ProtocolError as exc:
        raise ConfigurationError(f"raw XML body does not parse: {exc.message}") from None
    return text


def _class_name(resource_uri: str) -> str:
    name = resource_uri.rstrip("/").rpartition("/")[2]
    return _check_name(name, "class name (last segment of the resource URI)")


_XML_FRAGMENT_START = re.compile(r"\s*<(?:[\w.-]+:)?XmlFragment[\s/>]")


def _fragment_xml(resource: Resource, fmt: DatetimeFormat) -> str:
    """The body of a fragment-level Put/Create: the value inside ``w:XmlFragment``.

    DSP0226 7.7 (fragment-level WS-Transfer): the Body carries the fragment
    wrapped in ``w:XmlFragment``, not the whole instance. Properties of a
    mapping go in no namespace, as Windows writes them (corpus README).
    """
    if isinstance(resource, Item):
        if resource.name == "XmlFragment":
            return resource.xml.decode("utf-8")
        content = resource.xml.decode("utf-8")
    elif isinstance(resource, str | bytes):
        content = _raw_xml(resource)
        if _XML_FRAGMENT_START.match(content):
            return content  # already wrapped by the caller
    elif isinstance(resource, Mapping):
        content = "".join(_value_xml("", str(k), v, fmt) for k, v in resource.items())
    else:
        raise ConfigurationError(f"cannot send a resource of type {type(resource).__name__}")
    return f"<w:XmlFragment>{content}</w:XmlFragment>"


def _resource_xml(resource: Resource, locator: ResourceLocator, fmt: DatetimeFormat) -> str:
    if locator.fragment_path:
        return _fragment_xml(resource, fmt)
    if isinstance(resource, Item):
        return resource.xml.decode("utf-8")
    if isinstance(resource, str | bytes):
        return _raw_xml(resource)
    if isinstance(resource, Mapping):
        uri = locator.resource_uri
        cls = _class_name(uri)
        inner = "".join(_value_xml("r", str(k), v, fmt) for k, v in resource.items())
        return f'<r:{cls} xmlns:r="{escape_attr(uri)}">{inner}</r:{cls}>'
    raise ConfigurationError(f"cannot send a resource of type {type(resource).__name__}")


# -- the builders -------------------------------------------------------------

_IDENTIFY = (
    f'<s:Envelope xmlns:s="{ns.NS_SOAP}" xmlns:wsmid="{ns.NS_WSMAN_IDENTITY}">'
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
).encode()
_IDENTIFY_REQUEST = Request("Identify", "", "", _IDENTIFY)


def identify_request() -> Request:
    """Build an Identify request (DSP0226 11: no WS-Addressing headers at all).

    It has no MessageID, so it is always the same (immutable) request.
    """
    return _IDENTIFY_REQUEST


def get_request(
    opts: RequestOptions, locator: ResourceLocator, *, fragment: str | None = None
) -> Request:
    """Build a WS-Transfer Get (DSP0226 7.3); ``fragment`` overrides the locator's."""
    return _build("Get", ns.ACTION_GET, opts, locator, "", fragment=fragment)


def put_request(opts: RequestOptions, locator: ResourceLocator, resource: Resource) -> Request:
    """Build a WS-Transfer Put (DSP0226 7.4).

    Args:
        opts: session header values.
        locator: the resource.
        resource: a mapping of property names to values (rendered as
            ``<r:{Class} xmlns:r="{resource uri}">``), an :class:`Item`, or raw
            XML (str/bytes, validated to parse).

    Raises:
        ConfigurationError: a name or value that cannot be sent.
    """
    body = _resource_xml(resource, locator, opts.datetime_format)
    return _build("Put", ns.ACTION_PUT, opts, locator, body)


def create_request(opts: RequestOptions, locator: ResourceLocator, resource: Resource) -> Request:
    """Build a WS-Transfer Create (DSP0226 7.5); ``resource`` as for :func:`put_request`."""
    body = _resource_xml(resource, locator, opts.datetime_format)
    return _build("Create", ns.ACTION_CREATE, opts, locator, body)


def delete_request(opts: RequestOptions, locator: ResourceLocator) -> Request:
    """Build a WS-Transfer Delete (DSP0226 7.6)."""
    return _build("Delete", ns.ACTION_DELETE, opts, locator, "")


def invoke_request(
    opts: RequestOptions,
    locator: ResourceLocator,
    method: str,
    parameters: Resource | None = None,
) -> Request:
    """Build a custom-action (method) request (DSP0226 9; DSP0227 8.3).

    Args:
        opts: session header values.
        locator: the instance or class.
        method: a method name (action = ``resource_uri + "/" + method``) or a
            full action URI (its last segment names the method).
        parameters: a mapping (rendered as
            ``<p:{Method}_INPUT xmlns:p="{resource uri}">``), an Item, raw
            XML, or None for no parameters.

    Raises:
        ConfigurationError: an invalid method name, parameter name or value.
    """
    if "://" in method:
        action = method
        name = method.rstrip("/").rpartition("/")[2]
    else:
        name = method
        action = f"{locator.resource_uri.rstrip('/')}/{method}"
    _check_name(name, "method name")
    if parameters is None:
        parameters = {}
    if isinstance(parameters, Mapping) and not isinstance(parameters, Item):
        uri = locator.resource_uri
        fmt = opts.datetime_format
        inner = "".join(_value_xml("r", str(k), v, fmt) for k, v in parameters.items())
        body = f'<r:{name}_INPUT xmlns:r="{escape_attr(uri)}">{inner}</r:{name}_INPUT>'
    else:
        body = _resource_xml(parameters, locator, opts.datetime_format)
    return _build("Invoke", action, opts, locator, body)


def _filter_xml(
    filter: str | Mapping[str, Any] | None,
    dialect: str | None,
    association: AssociationFilter | None,
) -> str:
    if association is not None:
        if filter is not None:
            raise ConfigurationError("give either a filter or an association filter, not both")
        inner = _association_xml(association)
        return f'<w:Filter Dialect="{ns.DIALECT_ASSOCIATION}">{inner}</w:Filter>'
    if filter is None:
        return ""
    if dialect is None:
        dialect = "selector" if isinstance(filter, Mapping) else "wql"
    uri = _DIALECTS.get(dialect.lower(), dialect)
    if isinstance(filter, Mapping):
        if uri != ns.DIALECT_SELECTOR:
            raise ConfigurationError("a mapping filter needs the selector dialect")
        body = _selector_set_xml({k: _sel(v) for k, v in filter.items()})
    else:
        body = escape_text(filter)
    return f'<w:Filter Dialect="{escape_attr(uri)}">{body}</w:Filter>'


def _sel(value: Any) -> str | EndpointReference:
    if isinstance(value, EndpointReference):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _association_xml(af: AssociationFilter) -> str:
    obj = af.object
    if isinstance(obj, ResourceLocator):
        obj = EndpointReference(None, obj.resource_uri, obj.selectors)
    kind = "AssociationInstances" if af.instances else "AssociatedInstances"
    parts = [f"<b:{kind}><b:Object>{_epr_xml(obj)}</b:Object>"]
    fields: list[tuple[str, str | None]] = (
        [("ResultClassName", af.result_class_name), ("Role", af.role)]
        if af.instances
        else [
            ("AssociationClassName", af.association_class_name),
            ("Role", af.role),
            ("ResultClassName", af.result_class_name),
            ("ResultRole", af.result_role),
        ]
    )
    for tag, value in fields:
        if value is not None:
            parts.append(f"<b:{tag}>{escape_text(value)}</b:{tag}>")
    for prop in af.include_result_property:
        parts.append(f"<b:IncludeResultProperty>{escape_text(prop)}</b:IncludeResultProperty>")
    parts.append(f"</b:{kind}>")
    return "".join(parts)


def enumerate_request(
    opts: RequestOptions,
    locator: ResourceLocator,
    *,
    filter: str | Mapping[str, Any] | None = None,
    dialect: str | None = None,
    mode: EnumerationMode = EnumerationMode.OBJECTS,
    polymorphism: Polymorphism | None = None,
    association: AssociationFilter | None = None,
    optimize: bool = True,
    max_elements: int | None = None,
) -> Request:
    """Build a WS-Enumeration Enumerate (DSP0226 8.2).

    Args:
        opts: session header values.
        locator: the class (or ``*``) to enumerate.
        filter: WQL/CQL text, or a mapping of selectors for the selector
            dialect (DSP0226 8.3).
        dialect: ``"WQL"``, ``"CQL"``, ``"selector"``, ``"association"``,
            ``"xpath"`` or a full dialect URI; default WQL for text, selector
            for a mapping.
        mode: objects, EPRs, or both (DSP0226 8.7).
        polymorphism: ``wsmb:PolymorphismMode`` (omitted when None).
        association: a CIM association filter (DSP0227 8.2).
        optimize: send ``w:OptimizeEnumeration`` so the first batch comes in
            the EnumerateResponse (DSP0226 8.2.3), saving a round trip.
        max_elements: ``w:MaxElements`` of that first batch.

    Raises:
        ConfigurationError: inconsistent filter arguments or unsendable values.
    """
    parts = ["<n:Enumerate>"]
    if optimize:
        parts.append("<w:OptimizeEnumeration/>")
        if max_elements is not None:
            parts.append(f"<w:MaxElements>{_positive(max_elements)}</w:MaxElements>")
    if mode.value is not None:
        parts.append(f"<w:EnumerationMode>{mode.value}</w:EnumerationMode>")
    parts.append(_filter_xml(filter, dialect, association))
    if polymorphism is not None:
        parts.append(f"<b:PolymorphismMode>{polymorphism.value}</b:PolymorphismMode>")
    parts.append("</n:Enumerate>")
    return _build("Enumerate", ns.ACTION_ENUMERATE, opts, locator, "".join(parts))


def _positive(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ConfigurationError(f"MaxElements must be a positive integer, not {n!r}")
    return n


def pull_request(
    opts: RequestOptions,
    locator: ResourceLocator,
    context: str,
    *,
    max_elements: int,
    max_time: float | None = None,
) -> Request:
    """Build a WS-Enumeration Pull (DSP0226 8.4) for ``context``.

    Args:
        opts: session header values.
        locator: the resource (only its URI is needed).
        context: the enumeration context (or a pull-mode subscription's).
        max_elements: ``wsen:MaxElements``.
        max_time: ``wsen:MaxTime`` in seconds, the longest the service may
            wait for items (WS-Enumeration 3.2; what an event Pull waits for
            events, DSP0226 10.2), or None to omit it.

    Raises:
        ConfigurationError: a bad MaxElements or MaxTime.
    """
    wait = ""
    if max_time is not None:
        try:
            wait = f"<n:MaxTime>{format_duration(max_time)}</n:MaxTime>"
        except ValueError as exc:
            raise ConfigurationError(f"MaxTime: {exc}") from None
    # WS-Enumeration's schema order: EnumerationContext, MaxTime, MaxElements.
    body = (
        f"<n:Pull><n:EnumerationContext>{escape_text(context)}</n:EnumerationContext>"
        f"{wait}<n:MaxElements>{_positive(max_elements)}</n:MaxElements></n:Pull>"
    )
    return _build("Pull", ns.ACTION_PULL, opts, locator, body)


def release_request(opts: RequestOptions, locator: ResourceLocator, context: str) -> Request:
    """Build a WS-Enumeration Release (DSP0226 8.6) for ``context``."""
    body = (
        f"<n:Release><n:EnumerationContext>{escape_text(context)}</n:EnumerationContext>"
        "</n:Release>"
    )
    return _build("Release", ns.ACTION_RELEASE, opts, locator, body)
