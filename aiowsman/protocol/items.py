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
* every other value is its text, unchanged (no guessing of numbers).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from lxml import etree

from .durations import parse_timedelta
from .locator import EndpointReference, epr_from_element
from .namespaces import NS_ADDRESSING, NS_XSI
from .xml import parse_xml

__all__ = ["Item", "element_to_value"]

_XSI_NIL = f"{{{NS_XSI}}}nil"
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

    __slots__ = ("_cim_namespace", "_dict", "_element", "_xml", "epr")

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
        self.epr = epr
        self._cim_namespace = cim_namespace

    @property
    def element(self) -> etree._Element:
        """The lxml element of the instance."""
        return self._element

    @property
    def xml(self) -> bytes:
        """The instance as UTF-8 XML (with the namespace declarations it uses)."""
        if self._xml is None:
            self._xml = etree.tostring(self._element, encoding="utf-8", with_tail=False)
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

    def __getitem__(self, key: str) -> Any:
        return self._props()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._props())

    def __len__(self) -> int:
        return len(self._props())

    def __contains__(self, key: object) -> bool:
        return key in self._props()

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
