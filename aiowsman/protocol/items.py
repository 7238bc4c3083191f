"""Resource instances as returned by Get, Put, Create, Invoke and enumerations.

An :class:`Item` wraps the lxml element of one instance. Construction is
cheap: nothing is converted or serialised until asked for, because an
enumeration of thousands of instances across thousands of hosts is the hot
path and most callers read a handful of properties.

Conversion rules (``to_dict``), all learned from real servers (corpus README):

* properties are child elements, matched by local name (prefixes are
  arbitrary; WQL ``w:XmlFragment`` children have no namespace at all);
* ``xsi:nil="true"`` is None;
* repeated siblings are a list (WS-Man has no array wrapper, DSP0230);
* ``cim:Datetime`` / ``Datetime`` wrappers become :class:`~datetime.datetime`
  when ISO-parsable, else stay text; ``cim:Date``/``cim:Time`` likewise;
  ``cim:Interval`` becomes :class:`~datetime.timedelta`;
* bare DMTF datetimes (iDRAC: ``20150226175957.000000+000``) become datetimes,
  DMTF intervals (``00000001020304.000000:000``) timedeltas;
* bare ISO 8601 datetimes *with a UTC offset* (OMI writes CIM datetimes
  unwrapped: ``2001-01-01T01:01:01.000001+13:50``; corpus README,
  "Datetimes") become aware datetimes, and bare ``xs:duration`` values
  (``P2000D``, ``P365DT24H60M``) timedeltas. Only the exact shapes convert:
  a date without a time, a time without an offset, or any other text stays
  text;
* a property holding ``wsa:Address``/``wsa:ReferenceParameters`` (or a
  ``wsa:EndpointReference``) is an :class:`EndpointReference`; without a
  ``__cimnamespace`` selector it gets the namespace of the request the
  item came from (:mod:`aiowsman.protocol.locator`, "CIM namespaces");
* other properties with child elements (embedded instances) are dicts;
* a property whose ``xsi:type`` names an XML Schema or CIM primitive type
  (``xs:int``, ``xs:boolean``, ``cim:cimUInt32``, ``cim:cimReal64``...) is
  that type: the server said so;
* every other value is its text, unchanged (no guessing of numbers): ask for
  a type where you know it, ``item.get_typed("ProcessId", int)`` or
  ``item.typed({"ProcessId": int, "Started": bool})``.

Property names are looked up case-insensitively, as WMI, CIM and PowerShell
do: ``svc["state"]`` is ``svc["State"]``; iteration and ``to_dict()`` keep the
server's spelling.

Memory: an item holds its element, and so the whole parsed response it came
from. That is what makes construction free, and it costs little while the
items of a batch share their response. Two things could make it cost more
than the item itself, and both are bounded here:

* serialising an element that sits inside a response makes lxml declare
  every namespace in scope there, so a server declaring M namespaces on its
  envelope made each of N items carry all M (tens of KB on the wire became
  ~100 MB in ``Item.xml``, pickles and ``--format xml``). :func:`standalone`
  copies the item out declaring only the namespaces it uses: its own
  declarations, the namespaces of its elements and attributes, and the
  prefixes its ``xsi:type`` values name. ``Item.xml`` is made from it.
* a response padded around a few items would keep all of it alive per item:
  :func:`detach_if_sparse` copies items out of a response that spent more
  than :data:`DETACH_SHARE` bytes per item, so what an item keeps alive is
  proportional to the item, whatever the server sends.
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, TypeVar, overload

from lxml import etree

from .durations import parse_timedelta
from .locator import EndpointReference, epr_from_element
from .namespaces import NS_ADDRESSING, NS_CIM_COMMON, NS_XS, NS_XSI
from .xml import parse_xml

__all__ = ["DETACH_SHARE", "Item", "detach_if_sparse", "element_to_value", "standalone"]

#: Bytes of response per item above which items are copied out of their
#: response (:func:`detach_if_sparse`). A WMI instance is 2-6 KB and a batch
#: carries little else, so real batches stay far below and pay nothing.
DETACH_SHARE = 16 * 1024

_XSI_NIL = f"{{{NS_XSI}}}nil"
_XSI_TYPE = f"{{{NS_XSI}}}type"
_A_ADDRESS = f"{{{NS_ADDRESSING}}}Address"
_A_EPR = f"{{{NS_ADDRESSING}}}EndpointReference"
_A_REFPARAMS = f"{{{NS_ADDRESSING}}}ReferenceParameters"

_DMTF_DATETIME_RE = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{6})([+-])(\d{3})$"
)
_DMTF_INTERVAL_RE = re.compile(r"^(\d{8})(\d{2})(\d{2})(\d{2})\.(\d{6}):000$")
#: xs:dateTime with a mandatory offset: what OMI writes for a CIM datetime
#: (its FormatWSManDatetime: microseconds and a +hh:mm offset). Requiring the
#: time and the offset keeps plain dates and other text out.
_ISO_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$"
)
#: A bare xs:duration (OMI's CIM intervals): "P" and at least one component.
_BARE_DURATION_RE = re.compile(r"^-?P(?=\d|T\d)(?:\d+[YMD])*(?:T(?:\d+[HM]|\d+(?:\.\d+)?S)+)?$")


def _localname(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


def _parse_dmtf(text: str) -> datetime | timedelta | None:
    m = _DMTF_DATETIME_RE.match(text)
    if m:
        y, mo, d, h, mi, s, us, sign, off = m.groups()
        offset = timedelta(minutes=int(off)) * (-1 if sign == "-" else 1)
        try:
            return datetime(
                int(y), int(mo), int(d), int(h), int(mi), int(s), int(us), timezone(offset)
            )
        except ValueError:
            return None
    m = _DMTF_INTERVAL_RE.match(text)
    if m:
        d, h, mi, s, us = (int(x) for x in m.groups())
        return timedelta(days=d, hours=h, minutes=mi, seconds=s, microseconds=us)
    return None


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_bare(text: str) -> datetime | timedelta | None:
    """A bare CIM datetime or interval (OMI's shapes, module docstring), else None."""
    if text[:1] == "P" or text[:2] == "-P":
        if _BARE_DURATION_RE.match(text):
            try:
                return parse_timedelta(text)
            except (ValueError, OverflowError):
                return None
        return None
    if len(text) >= 20 and text[10:11] == "T" and _ISO_DATETIME_RE.match(text):
        return _parse_iso(text)
    return None


def _wrapped_value(name: str, text: str) -> Any:
    # cim:Datetime / cim:Date / cim:Time / cim:Interval wrappers (DSP0230 6.2).
    if name == "Datetime":
        return _parse_iso(text) or _parse_dmtf(text) or text
    if name == "Interval":
        try:
            return parse_timedelta(text)
        except ValueError:
            return _parse_dmtf(text) or text
    if name == "Date":
        try:
            return date.fromisoformat(text[:10]) if len(text) >= 10 else text
        except ValueError:
            return text
    if name == "Time":
        try:
            return time.fromisoformat(text)
        except ValueError:
            return text
    return None


def _xs_bool(text: str) -> bool:
    # XML Schema 3.2.2: the lexical space of boolean is true, false, 1, 0.
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"not an xs:boolean: {text!r}")


def _xs_datetime(text: str) -> datetime:
    parsed = _parse_iso(text) or _parse_dmtf(text)
    if not isinstance(parsed, datetime):
        raise ValueError(f"not a datetime: {text!r}")
    return parsed


_INTEGERS = (
    "byte", "short", "int", "long", "integer", "unsignedByte", "unsignedShort", "unsignedInt",
    "unsignedLong", "nonNegativeInteger", "positiveInteger",
)  # fmt: skip
_CIM_INTEGERS = tuple(f"cim{s}Int{n}" for s in ("S", "U") for n in (8, 16, 32, 64))

#: Primitive types named by ``xsi:type`` (XML Schema part 2; DSP0230's CIM
#: types), by namespace and local name, and their conversion from text.
_XSI_TYPES: dict[tuple[str, str], Callable[[str], Any]] = {
    **{(NS_XS, name): int for name in _INTEGERS},
    **{(NS_CIM_COMMON, name): int for name in _CIM_INTEGERS},
    (NS_XS, "boolean"): _xs_bool,
    (NS_CIM_COMMON, "cimBoolean"): _xs_bool,
    (NS_XS, "float"): float,
    (NS_XS, "double"): float,
    (NS_XS, "decimal"): float,
    (NS_CIM_COMMON, "cimReal32"): float,
    (NS_CIM_COMMON, "cimReal64"): float,
    (NS_XS, "dateTime"): _xs_datetime,
    (NS_XS, "string"): str,
    (NS_CIM_COMMON, "cimString"): str,
}


def _typed_by_xsi(element: etree._Element, text: str) -> Any:
    """``text`` converted as the element's ``xsi:type`` says, or None if it says nothing known."""
    declared = element.get(_XSI_TYPE)
    if not declared:
        return None
    # An xs:QName: its whitespace collapses (XML Schema part 2, 3.2.18), so
    # " cim:cimUInt32 " names cim:cimUInt32.
    prefix, _, local = declared.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    convert = _XSI_TYPES.get((namespace or "", local))
    if convert is None:
        return None
    if convert is str:
        # xs:string preserves whitespace (3.2.1); the other types collapse it.
        return text
    try:
        return convert(text.strip())
    except ValueError:
        return None  # the server's type and text disagree: keep its text


def element_to_value(element: etree._Element, cim_namespace: str | None = None) -> Any:
    """Convert one property element to a Python value (rules in the module docstring).

    Args:
        element: the property element.
        cim_namespace: the CIM namespace of the request the value came from
            (completes references that name none).
    """
    nil = element.get(_XSI_NIL)
    if nil == "true" or nil == "1":
        return None
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        text = element.text or ""
        typed = _typed_by_xsi(element, text)
        if typed is not None:
            return typed
        if len(text) == 25 and text[14:15] == ".":
            parsed = _parse_dmtf(text)
            if parsed is not None:
                return parsed
        elif text[:1] in _BARE_STARTS:
            bare = _parse_bare(text)
            if bare is not None:
                return bare
        return text
    if len(children) == 1:
        only = children[0]
        name = _localname(only.tag)
        if name in ("Datetime", "Interval", "Date", "Time") and not len(only):
            value = _wrapped_value(name, (only.text or "").strip())
            if value is not None:
                return value
        if only.tag == _A_EPR:
            return epr_from_element(only, cim_namespace)
    if element.find(_A_ADDRESS) is not None or element.find(_A_REFPARAMS) is not None:
        return epr_from_element(element, cim_namespace)
    return _children_to_dict(children, cim_namespace)


#: First characters of the bare shapes _parse_bare reads (a cheap pre-check:
#: most property text is neither).
_BARE_STARTS = frozenset("0123456789P-")


def _children_to_dict(
    children: list[etree._Element], cim_namespace: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in children:
        name = _localname(child.tag)
        value = element_to_value(child, cim_namespace)
        if name in out:
            existing = out[name]
            if isinstance(existing, _Repeated):
                existing.append(value)
            else:
                out[name] = _Repeated((existing, value))
        else:
            out[name] = value
    for key, value in out.items():
        if isinstance(value, _Repeated):
            out[key] = list(value)
    return out


class _Repeated(list[Any]):
    """Marks a list built from repeated siblings (vs. a value that is a list)."""


def standalone(element: etree._Element) -> etree._Element:
    """A copy of ``element`` as the root of its own document, declaring only what it uses.

    Kept: the element's own namespace declarations, the namespaces of every
    element and attribute in it, and the prefixes named by ``xsi:type``
    values (QNames in content, which no parser tracks). Dropped: whatever
    else its ancestors declared, including an unused declaration the element
    repeats from them (lxml's ``nsmap`` cannot tell it from an inherited one).
    """
    parent = element.getparent()
    inherited = parent.nsmap if parent is not None else {}
    keep = {p for p, uri in element.nsmap.items() if p and inherited.get(p) != uri}
    # lxml's copy declares the element's own declarations and those of its
    # ancestors that the copy uses; the own ones it does not use, if they
    # only repeat an ancestor's, are removed by the cleanup below.
    copied = copy.deepcopy(element)
    named: set[str] = set()
    for el in copied.iter():
        qname = el.get(_XSI_TYPE) if isinstance(el.tag, str) else None
        if qname and ":" in qname:
            named.add(qname.partition(":")[0].strip())
    keep |= named
    # The copy only declares the prefixes its tags and attributes use: a
    # prefix named only by an xsi:type value (cim:cimUInt32, declared on the
    # Envelope) would be lost, and with it the value's type. Declare those
    # on a new root that takes over the copy's content.
    scope = element.nsmap
    missing: dict[str | None, str] = {
        p: scope[p] for p in named if p in scope and p not in copied.nsmap
    }
    if missing:
        nsmap: dict[Any, str] = {**copied.nsmap, **missing}  # None: the default namespace
        attrib: dict[Any, Any] = dict(copied.attrib)
        root = etree.Element(copied.tag, attrib, nsmap=nsmap)
        root.text = copied.text
        root.extend(list(copied))
        copied = root
    etree.cleanup_namespaces(copied, keep_ns_prefixes=sorted(keep))
    return copied


def detach_if_sparse(items: Sequence[Item], response_size: int) -> None:
    """Copy ``items`` out of their response if it spent over :data:`DETACH_SHARE` bytes on each.

    Args:
        items: the items read from one response (changed in place).
        response_size: the size of that response in bytes.
    """
    if items and response_size > DETACH_SHARE * len(items):
        for item in items:
            item._element = standalone(item._element)


_T = TypeVar("_T")
_D = TypeVar("_D")
_MISSING: Any = object()


def _convert(name: str, value: Any, kind: Callable[[str], Any]) -> Any:
    """``value`` (a property's text, or a value already converted) as ``kind``."""
    if (
        isinstance(kind, type)
        and isinstance(value, kind)
        and not (kind is int and isinstance(value, bool))
    ):
        return value
    converter: Callable[[str], Any] = kind
    if kind is bool:
        converter = _xs_bool
    elif kind is datetime:  # type: ignore[comparison-overlap]  # a type is a callable
        converter = _xs_datetime
    if not isinstance(value, str):
        raise ValueError(f"property {name} is {type(value).__name__}, not text to convert")
    try:
        return converter(value.strip())
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"property {name} = {value!r} is not a {_kind_name(kind)}: {exc}"
        ) from None


def _kind_name(kind: Callable[[str], Any]) -> str:
    return getattr(kind, "__name__", repr(kind))


def _rebuild_item(
    xml: bytes, epr: EndpointReference | None, cim_namespace: str | None = None
) -> Item:
    return Item(parse_xml(xml), xml=xml, epr=epr, cim_namespace=cim_namespace)


class Item(Mapping[str, Any]):
    """One resource instance (an element of a response body).

    Args:
        element: the instance element (kept, not copied).
        xml: its serialisation if already known (else made on demand).
        epr: the instance's EPR in EnumerateObjectAndEPR mode.
        cim_namespace: the CIM namespace of the request the item came from:
            its reference properties that name none are in it.

    Behaves as a read-only mapping of property names to converted values
    (``item["Name"]``, ``item.get("State")``, ``"Name" in item``, ``keys()``).
    """

    __slots__ = ("_cim_namespace", "_dict", "_element", "_lower", "_xml", "epr")

    def __init__(
        self,
        element: etree._Element,
        *,
        xml: bytes | None = None,
        epr: EndpointReference | None = None,
        cim_namespace: str | None = None,
    ) -> None:
        self._element = element
        self._xml = xml
        self._dict: dict[str, Any] | None = None
        self._lower: dict[str, str] | None = None
        self.epr = epr
        self._cim_namespace = cim_namespace

    @property
    def element(self) -> etree._Element:
        """The lxml element of the instance."""
        return self._element

    @property
    def xml(self) -> bytes:
        """The instance as UTF-8 XML, declaring only the namespaces it uses (:func:`standalone`)."""
        if self._xml is None:
            element = self._element
            if element.getparent() is not None:
                element = standalone(element)
            self._xml = etree.tostring(element, encoding="utf-8", with_tail=False)
        return self._xml

    @property
    def name(self) -> str:
        """Local name of the instance element (usually the class name)."""
        return _localname(self._element.tag)

    @property
    def namespace(self) -> str | None:
        """Namespace of the instance element (usually the resource URI)."""
        tag = self._element.tag
        return tag[1:].partition("}")[0] if tag[:1] == "{" else None

    def _props(self) -> dict[str, Any]:
        props = self._dict
        if props is None:
            props = _children_to_dict(
                [c for c in self._element if isinstance(c.tag, str)], self._cim_namespace
            )
            self._dict = props
        return props

    def _key(self, key: object) -> str | None:
        """The server's spelling of property ``key``, matched case-insensitively."""
        props = self._props()
        if key in props:
            return key  # the common case: exact
        if not isinstance(key, str):
            return None
        lower = self._lower
        if lower is None:
            lower = self._lower = {k.lower(): k for k in props}
        return lower.get(key.lower())

    def __getitem__(self, key: str) -> Any:
        found = self._key(key)
        if found is None:
            raise KeyError(key)
        return self._props()[found]

    def __iter__(self) -> Iterator[str]:
        return iter(self._props())

    def __len__(self) -> int:
        return len(self._props())

    def __contains__(self, key: object) -> bool:
        return self._key(key) is not None

    @overload
    def get_typed(self, name: str, kind: Callable[[str], _T]) -> _T: ...

    @overload
    def get_typed(self, name: str, kind: Callable[[str], _T], default: _D) -> _T | _D: ...

    def get_typed(self, name: str, kind: Callable[[str], Any], default: Any = _MISSING) -> Any:
        """Property ``name`` converted to ``kind``: ``item.get_typed("ProcessId", int)``.

        Args:
            name: the property (case-insensitive).
            kind: ``int``, ``float``, ``bool`` (``true``/``false``/``1``/``0``
                as XML Schema spells booleans), ``str``, ``datetime`` (ISO
                8601 or DMTF text), or any ``text -> value`` callable.
            default: returned when the property is absent or null.

        Returns:
            The converted value (a value already of that type is returned as is).

        Raises:
            KeyError: the property is absent (or null) and no default was given.
            ValueError: its text is not a ``kind`` (the message names the property).
        """
        value = self.get(name)
        if value is None:
            if default is _MISSING:
                raise KeyError(name)
            return default
        return _convert(name, value, kind)

    def typed(self, types: Mapping[str, Callable[[str], Any]]) -> dict[str, Any]:
        """All properties, those named in ``types`` converted (as :meth:`get_typed`).

        ``item.typed({"ProcessId": int, "Started": bool})``; names match
        case-insensitively; a property absent from the item is left out.

        Raises:
            ValueError: a property's text is not of its type.
        """
        out = self.to_dict()
        for name, kind in types.items():
            key = self._key(name)
            if key is not None and out[key] is not None:
                out[key] = _convert(key, out[key], kind)
        return out

    def to_dict(self) -> dict[str, Any]:
        """All properties as a new dict (nested instances as dicts, arrays as lists)."""
        copied: dict[str, Any] = _deep_copy(self._props())
        return copied

    @property
    def text(self) -> str:
        """The element's own text (for instances that are a single value)."""
        return self._element.text or ""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Item):
            return self.xml == other.xml and self.epr == other.epr
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable via the raw XML (the Dask runner ships items between processes).
        return (_rebuild_item, (self.xml, self.epr, self._cim_namespace))

    def __repr__(self) -> str:
        props = self._props()
        shown: list[str] = []
        for key, value in props.items():
            if len(shown) == 4:
                shown.append("...")
                break
            text = repr(value)
            shown.append(f"{key}={text if len(text) <= 40 else text[:37] + '...'}")
        return f"<Item {self.name} {' '.join(shown)}>".replace(" >", ">")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(_html_value(v))}</td></tr>"
            for k, v in self._props().items()
        )
        caption = html.escape(self.name)
        return f"<table><caption>{caption}</caption>{rows}</table>"


def _html_value(value: Any) -> str:
    if value is None:
        return "(null)"
    if isinstance(value, list):
        return ", ".join(_html_value(v) for v in value)
    return str(value)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
