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
* a property holding ``wsa:Address``/``wsa:ReferenceParameters`` (or a
  ``wsa:EndpointReference``) is an :class:`EndpointReference`;
* other properties with child elements (embedded instances) are dicts;
* every other value is its text, unchanged (no guessing of numbers).

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
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from lxml import etree

from .durations import parse_timedelta
from .locator import EndpointReference, epr_from_element
from .namespaces import NS_ADDRESSING, NS_XSI
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


def element_to_value(element: etree._Element) -> Any:
    """Convert one property element to a Python value (rules in the module docstring)."""
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
        return text
    if len(children) == 1:
        only = children[0]
        name = _localname(only.tag)
        if name in ("Datetime", "Interval", "Date", "Time") and not len(only):
            value = _wrapped_value(name, (only.text or "").strip())
            if value is not None:
                return value
        if only.tag == _A_EPR:
            return epr_from_element(only)
    if element.find(_A_ADDRESS) is not None or element.find(_A_REFPARAMS) is not None:
        return epr_from_element(element)
    return _children_to_dict(children)


def _children_to_dict(children: list[etree._Element]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in children:
        name = _localname(child.tag)
        value = element_to_value(child)
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
    else its ancestors declared.
    """
    parent = element.getparent()
    inherited = parent.nsmap if parent is not None else {}
    keep = {p for p, uri in element.nsmap.items() if p and inherited.get(p) != uri}
    # lxml's copy declares every namespace in scope on its new root, so that
    # the copy stands alone; the ones it does not use are removed next.
    copied = copy.deepcopy(element)
    for el in copied.iter():
        qname = el.get(_XSI_TYPE) if isinstance(el.tag, str) else None
        if qname and ":" in qname:
            keep.add(qname.partition(":")[0].strip())
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


def _rebuild_item(xml: bytes, epr: EndpointReference | None) -> Item:
    return Item(parse_xml(xml), xml=xml, epr=epr)


class Item(Mapping[str, Any]):
    """One resource instance (an element of a response body).

    Args:
        element: the instance element (kept, not copied).
        xml: its serialisation if already known (else made on demand).
        epr: the instance's EPR in EnumerateObjectAndEPR mode.

    Behaves as a read-only mapping of property names to converted values
    (``item["Name"]``, ``item.get("State")``, ``"Name" in item``, ``keys()``).
    """

    __slots__ = ("_dict", "_element", "_xml", "epr")

    def __init__(
        self,
        element: etree._Element,
        *,
        xml: bytes | None = None,
        epr: EndpointReference | None = None,
    ) -> None:
        self._element = element
        self._xml = xml
        self._dict: dict[str, Any] | None = None
        self.epr = epr

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
            props = _children_to_dict([c for c in self._element if isinstance(c.tag, str)])
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
        return (_rebuild_item, (self.xml, self.epr))

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
