"""An in-memory, CIM-like object store: classes, instances, and their XML.

Each simulated host has one :class:`HostStore`. Its content is a pure
function of ``(seed, host index)`` (see :mod:`aiowsman.testing._data`), so a
store can be dropped and rebuilt at will while unmodified; a store that was
changed (Put, Create, Delete, a method call) is kept.

Instances render the way Windows' WMI plugin renders them (corpus:
``winrb-enumerate-response-win32-process.xml``): the class element rebinds
``p`` to the class's resource URI, declares ``xsi`` and ``cim``, carries
``xsi:type="p:Class_Type"``; properties follow in case-insensitive name
order; a null is ``<p:X xsi:nil="true"/>``; a datetime is wrapped as
``<p:X><cim:Datetime>ISO 8601</cim:Datetime></p:X>`` and an interval
(a ``timedelta``) as ``<cim:Interval>xs:duration</cim:Interval>`` (DSP0230);
an array is repeated sibling elements; a reference is an EPR (DSP0227,
references). Another flavour of server rewrites this Windows form
(:mod:`aiowsman.testing._flavour`).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, TypeAlias

from aiowsman.protocol.namespaces import (
    ADDRESS_ANONYMOUS,
    NS_ADDRESSING,
    NS_CIM_COMMON,
    NS_WSMAN,
    NS_XSI,
    URI_WMICIMV2,
)
from aiowsman.testing._xml import attr, text

__all__ = [
    "CimClass",
    "CimInstance",
    "CimReference",
    "CimValue",
    "HostStore",
    "TableCache",
    "VirtualTable",
    "render_fragment_property",
    "render_properties_fragment",
]


@dataclass(frozen=True)
class CimReference:
    """A reference property value: the EPR of another instance."""

    class_name: str
    keys: tuple[tuple[str, str], ...]

    @property
    def resource_uri(self) -> str:
        return f"{URI_WMICIMV2}/{self.class_name}"


Scalar: TypeAlias = str | int | float | bool | dt.datetime | dt.timedelta | CimReference | None
CimValue: TypeAlias = Scalar | list[Scalar]
#: The CIM types whose XML form is not plain text (DSP0230 cimDateTime).
TemporalType: TypeAlias = Literal["datetime", "interval"]


@dataclass
class CimMethod:
    """A method; ``impl(store, instance, inputs) -> outputs`` (ReturnValue included).

    ``input_types`` names the datetime and interval parameters: they are read
    in the server flavour's form and handed to ``impl`` as canonical text
    (:func:`scalar_text`).
    """

    name: str
    impl: Callable[[HostStore, CimInstance | None, dict[str, str]], dict[str, CimValue]]
    static: bool = False
    input_types: Mapping[str, TemporalType] = field(default_factory=dict)


@dataclass
class CimClass:
    """A CIM class as the store knows it."""

    name: str
    keys: tuple[str, ...]
    properties: tuple[str, ...]
    superclass: str | None = None
    writable: bool = False
    creatable: bool = False
    methods: dict[str, CimMethod] = field(default_factory=dict)
    #: An association class: its reference-valued key properties.
    association_roles: tuple[str, ...] = ()
    #: Datetime and interval properties: read from request bodies in the
    #: server flavour's form (the others are taken as text).
    types: Mapping[str, TemporalType] = field(default_factory=dict)

    @property
    def resource_uri(self) -> str:
        return f"{URI_WMICIMV2}/{self.name}"


class CimInstance:
    """One instance: a class name and an ordered property mapping."""

    __slots__ = ("_xml", "class_name", "values")

    def __init__(self, class_name: str, values: dict[str, CimValue]) -> None:
        self.class_name = class_name
        self.values = values
        self._xml: str | None = None

    def key(self, cls: CimClass) -> tuple[str, ...]:
        """The instance's key, as strings (selectors compare as strings)."""
        return tuple(scalar_text(self.values.get(k)) for k in cls.keys)

    def set(self, name: str, value: CimValue) -> None:
        self.values[name] = value
        self._xml = None

    def xml(self) -> str:
        """The instance element, rendered once and cached until changed."""
        if self._xml is None:
            self._xml = render_instance(self.class_name, self.values)
        return self._xml

    def xml_as(self, class_name: str, properties: Iterable[str]) -> str:
        """Render as ``class_name`` with only ``properties`` (a base-class view)."""
        wanted = {p: self.values.get(p) for p in properties}
        return render_instance(class_name, wanted)


# -- value rendering -----------------------------------------------------------


def format_datetime(value: dt.datetime) -> str:
    """ISO 8601 with microseconds and a numeric offset, as WMI datetimes appear."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    text = value.isoformat(timespec="microseconds")
    # UTC is written "Z" (xs:dateTime); other offsets as +hh:mm, as in the
    # corpus (winrb-pull-response-win32-process-datetime.xml: "-07:00").
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def format_interval(value: dt.timedelta) -> str:
    """A CIM interval as an ``xs:duration``: ``P2000D``, ``P1DT2H3M4.000005S``, ``PT0S``.

    The server keeps its own writer (it shares no code with the client).
    """
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"P{value.days}D" if value.days else "P", "T"]
    if hours:
        parts.append(f"{hours}H")
    if minutes:
        parts.append(f"{minutes}M")
    if value.microseconds:
        parts.append(f"{seconds}.{value.microseconds:06d}S")
    elif seconds:
        parts.append(f"{seconds}S")
    out = "".join(parts).rstrip("T")
    return "PT0S" if out == "P" else out


def scalar_text(value: CimValue) -> str:
    """The text form of a scalar value (used for selectors and WQL)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.timedelta):
        return format_interval(value)
    if isinstance(value, CimReference):
        return ",".join(f"{k}={v}" for k, v in value.keys)
    if isinstance(value, list):
        return " ".join(scalar_text(v) for v in value)
    return str(value)


def render_epr(ref: CimReference, *, address: str = ADDRESS_ANONYMOUS, prefix: str = "a") -> str:
    """A WS-Addressing EPR body (Address + ReferenceParameters) for ``ref``."""
    selectors = "".join(f'<w:Selector Name="{attr(k)}">{text(v)}</w:Selector>' for k, v in ref.keys)
    return (
        f"<{prefix}:Address>{text(address)}</{prefix}:Address>"
        f"<{prefix}:ReferenceParameters><w:ResourceURI>{text(ref.resource_uri)}</w:ResourceURI>"
        f"<w:SelectorSet>{selectors}</w:SelectorSet></{prefix}:ReferenceParameters>"
    )


def _render_property(tag: str, value: Scalar, *, datetime_tag: str = "cim:Datetime") -> str:
    kind = type(value)
    if kind is str:
        return f"<{tag}>{text(value)}</{tag}>"  # type: ignore[arg-type]
    if kind is int or kind is float:
        return f"<{tag}>{value}</{tag}>"
    if value is None:
        return f'<{tag} xsi:nil="true"/>'
    if kind is bool:
        return f"<{tag}>{'true' if value else 'false'}</{tag}>"
    if isinstance(value, dt.datetime):
        end = datetime_tag
        return f"<{tag}><{datetime_tag}>{format_datetime(value)}</{end}></{tag}>"
    if isinstance(value, dt.timedelta):
        interval = datetime_tag.replace("Datetime", "Interval")
        return f"<{tag}><{interval}>{format_interval(value)}</{interval}></{tag}>"
    if isinstance(value, CimReference):
        # DSP0227: a reference property holds an EPR; Windows declares the
        # addressing and wsman namespaces on it (they are not in scope here).
        return f'<{tag} xmlns:a="{NS_ADDRESSING}" xmlns:w="{NS_WSMAN}">{render_epr(value)}</{tag}>'
    return f"<{tag}>{text(str(value))}</{tag}>"


_ORDER_CACHE: dict[tuple[str, ...], list[str]] = {}


def _sorted_names(values: Mapping[str, CimValue]) -> list[str]:
    # Instances of a class share their property names: sort each set once.
    names = tuple(values)
    order = _ORDER_CACHE.get(names)
    if order is None:
        order = sorted(names, key=str.lower)
        if len(_ORDER_CACHE) < 1024:
            _ORDER_CACHE[names] = order
    return order


def render_instance(class_name: str, values: Mapping[str, CimValue]) -> str:
    """Render an instance element the way Windows' WMI plugin does."""
    ns = f"{URI_WMICIMV2}/{class_name}"
    parts = [
        f'<p:{class_name} xmlns:p="{ns}" xmlns:cim="{NS_CIM_COMMON}" '
        f'xmlns:xsi="{NS_XSI}" xsi:type="p:{class_name}_Type">'
    ]
    append = parts.append
    for name in _sorted_names(values):
        value = values[name]
        if isinstance(value, list):
            parts.extend(_render_property("p:" + name, v) for v in value)
        else:
            append(_render_property("p:" + name, value))
    append(f"</p:{class_name}>")
    return "".join(parts)


def render_properties_fragment(values: Mapping[str, CimValue], names: Iterable[str]) -> str:
    """A WQL projection item: ``w:XmlFragment`` whose children are in no namespace.

    Windows answers ``SELECT a, b FROM C`` this way (corpus README, "w:XmlFragment
    items"); datetimes are wrapped in an unqualified ``<Datetime>``.
    """
    parts = ['<w:XmlFragment xmlns:xsi="' + NS_XSI + '">']
    for name in names:
        value = values.get(name)
        if isinstance(value, list):
            parts.extend(_render_property(name, v, datetime_tag="Datetime") for v in value)
        else:
            parts.append(_render_property(name, value, datetime_tag="Datetime"))
    parts.append("</w:XmlFragment>")
    return "".join(parts)


def render_fragment_property(class_name: str, name: str, value: CimValue) -> str:
    """One property as a fragment (DSP0226 fragment-level access), declaring its namespaces."""
    ns = f"{URI_WMICIMV2}/{class_name}"
    values = value if isinstance(value, list) else [value]
    return "".join(
        _render_property(f"p:{name}", v).replace(
            f"<p:{name}",
            f'<p:{name} xmlns:p="{ns}" xmlns:cim="{NS_CIM_COMMON}" xmlns:xsi="{NS_XSI}"',
            1,
        )
        for v in values
    )


def render_method_output(class_name: str, method: str, outputs: Mapping[str, CimValue]) -> str:
    """``<p:Method_OUTPUT>`` as in corpus winrb-invoke-response-cim-datafile-delete.xml."""
    ns = f"{URI_WMICIMV2}/{class_name}"
    parts = [f'<p:{method}_OUTPUT xmlns:p="{ns}" xmlns:xsi="{NS_XSI}" xmlns:cim="{NS_CIM_COMMON}">']
    for name, value in outputs.items():
        if isinstance(value, list):
            parts.extend(_render_property(f"p:{name}", v) for v in value)
        else:
            parts.append(_render_property(f"p:{name}", value))
    parts.append(f"</p:{method}_OUTPUT>")
    return "".join(parts)


# -- the store -------------------------------------------------------------------

#: Builds the instances of one class for one store (see _data.py).
Generator = Callable[["HostStore"], list[CimInstance]]


class TableCache:
    """Bounds the memory of all stores: at most ``budget`` generated instances.

    The least recently used class tables of unmodified, unpinned stores are
    dropped first; they are regenerated identically when used again.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.total = 0
        self._lru: OrderedDict[tuple[int, str], tuple[HostStore, int]] = OrderedDict()

    def touch(self, store: HostStore, class_name: str, count: int) -> None:
        """Record a use of ``store``'s table of ``class_name`` (``count`` instances)."""
        key = (store.index, class_name)
        if key in self._lru:
            self._lru.move_to_end(key)
            return
        self._lru[key] = (store, count)
        self.total += count

    def trim(self) -> None:
        """Drop least recently used tables down to the budget.

        Called between operations only: an operation may hold instances of a
        table, so nothing is dropped while one runs.
        """
        while self.total > self.budget and len(self._lru) > 1:
            (_, victim_class), (victim, n) = self._lru.popitem(last=False)
            self.total -= n
            if not victim.modified and not victim.pinned:
                victim.drop_table(victim_class)


class VirtualTable(Protocol):
    """A class table whose instances are made on demand and never stored.

    Position ``i`` (``0 <= i < count``) is the i-th instance in enumeration
    order. Its class must be read-only (no Put, Create, Delete or methods).
    """

    count: int

    def instance(self, position: int) -> CimInstance:
        """A new instance object for ``position``."""
        ...

    def values(self, position: int) -> dict[str, CimValue]:
        """The property values of the instance at ``position`` (a new dict)."""
        ...

    def xml(self, position: int) -> str:
        """The instance element at ``position`` (as ``instance(position).xml()``)."""
        ...

    def position(self, key: Mapping[str, str]) -> int | None:
        """The position of the instance whose key is ``key`` (lower-cased names)."""
        ...


class HostStore:
    """The CIM repository of one simulated host.

    Instances of a class are generated on first use and kept in key order.
    ``modified`` becomes true on any change and ``pinned`` when a test holds
    the store: such a store's tables are never dropped by the
    :class:`TableCache`. Classes in ``virtual`` are never stored at all: their
    instances are made on each use (see :class:`VirtualTable`).
    """

    def __init__(
        self,
        *,
        index: int,
        seed: int,
        hostname: str,
        classes: Mapping[str, CimClass],
        generators: Mapping[str, Generator],
        cache: TableCache | None = None,
        virtual: Mapping[str, VirtualTable] | None = None,
    ) -> None:
        self.index = index
        self.seed = seed
        self.hostname = hostname
        self.classes: Final = classes
        self._generators = generators
        self._instances: dict[str, dict[tuple[str, ...], CimInstance]] = {}
        self.modified = False
        self.pinned = False
        self._cache = cache
        self.virtual: Final[Mapping[str, VirtualTable]] = dict(virtual or {})
        self._subclasses: dict[str, list[str]] = {}
        #: Free-form per-host facts the generators share (OS version...).
        self.facts: dict[str, object] = {}

    # -- class hierarchy --

    def cim_class(self, name: str) -> CimClass | None:
        """The class called ``name`` (case-insensitive, as WMI is)."""
        found = self.classes.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        for cls_name, cls in self.classes.items():
            if cls_name.lower() == lowered:
                return cls
        return None

    def is_subclass(self, name: str, base: str) -> bool:
        """True when ``name`` is ``base`` or derives from it."""
        current: str | None = name
        while current is not None:
            if current == base:
                return True
            cls = self.classes.get(current)
            current = cls.superclass if cls else None
        return False

    def subclasses(self, base: str) -> list[str]:
        """``base`` and every class deriving from it, base first."""
        # The class catalogue never changes: answer each base once per store
        # (every Get and Enumerate asks).
        found = self._subclasses.get(base)
        if found is None:
            found = [n for n in self.classes if self.is_subclass(n, base)]
            self._subclasses[base] = found
        return list(found)

    # -- instances --

    def _table(self, class_name: str) -> dict[tuple[str, ...], CimInstance]:
        if class_name in self.virtual:
            raise TypeError(f"{class_name} is a read-only virtual class")
        table = self._instances.get(class_name)
        if table is None:
            cls = self.classes[class_name]
            gen = self._generators.get(class_name)
            table = {}
            for inst in gen(self) if gen else []:
                table[inst.key(cls)] = inst
            self._instances[class_name] = table
        if self._cache is not None:
            self._cache.touch(self, class_name, max(1, len(table)))
        return table

    def drop_table(self, class_name: str) -> None:
        """Forget the generated instances of ``class_name`` (regenerated on use)."""
        self._instances.pop(class_name, None)

    def instances(self, class_name: str, *, deep: bool = False) -> Iterator[CimInstance]:
        """Instances of ``class_name`` (and of its subclasses when ``deep``)."""
        names = self.subclasses(class_name) if deep else [class_name]
        for name in names:
            virtual = self.virtual.get(name)
            if virtual is not None:
                yield from map(virtual.instance, range(virtual.count))
            else:
                yield from self._table(name).values()

    def count(self, class_name: str) -> int:
        """How many instances ``class_name`` has (not counting subclasses)."""
        virtual = self.virtual.get(class_name)
        return virtual.count if virtual is not None else len(self._table(class_name))

    def find(self, class_name: str, key: Mapping[str, str]) -> CimInstance | None:
        """The instance of ``class_name`` (or of a subclass) whose keys equal ``key``.

        Key names and string values compare case-insensitively, as in WMI.
        """
        lowered = {k.lower(): v for k, v in key.items()}
        for name in self.subclasses(class_name):
            virtual = self.virtual.get(name)
            if virtual is not None:
                position = virtual.position(lowered)
                if position is not None:
                    return virtual.instance(position)
                continue
            cls = self.classes[name]
            wanted = tuple(lowered.get(k.lower(), "") for k in cls.keys)
            table = self._table(name)
            found = table.get(wanted)
            if found is not None:
                return found
            folded = tuple(w.casefold() for w in wanted)
            for k, inst in table.items():
                if tuple(x.casefold() for x in k) == folded:
                    return inst
        return None

    def add(self, inst: CimInstance) -> bool:
        """Add ``inst``; False if an instance with the same key exists."""
        cls = self.classes[inst.class_name]
        table = self._table(inst.class_name)
        key = inst.key(cls)
        if key in table:
            return False
        table[key] = inst
        self.modified = True
        return True

    def remove(self, inst: CimInstance) -> None:
        cls = self.classes[inst.class_name]
        self._table(inst.class_name).pop(inst.key(cls), None)
        self.modified = True

    def touch(self) -> None:
        """Mark the store modified (after an in-place change)."""
        self.modified = True
